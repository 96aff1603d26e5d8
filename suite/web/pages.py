"""The pages: chat (every signed-in user), audit console (compliance officers), admin console (admins).

A page without a session sends the browser to the login and back; a signed-in user without the
page's role gets the 403 page, and the refusal is on the audit trail. The pages hold no data:
their scripts fetch it with the session (``SessionApiMiddleware``), so every rule stays on the server.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.templating import Jinja2Templates
from starlette.responses import RedirectResponse, Response

from suite.auth import lookup_session
from suite.web.deps import WebDep, audit_event

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")

_NO_STORE = {"cache-control": "no-store"}
# page name -> (template, role required; None: any signed-in user)
_PAGES = {"chat": ("chat.html", None), "audit": ("audit.html", "compliance_officer"), "admin": ("admin.html", "admin")}


@router.get("/")
async def root() -> Response:
    """The chat is the front page."""
    return RedirectResponse("/web/chat", status_code=303)


@router.get("/web/{page}")
async def page(request: Request, web: WebDep, page: str) -> Response:
    """One of the three pages, for a signed-in user with its role."""
    if page not in _PAGES:
        return templates.TemplateResponse(request, "error.html", {"status": 404}, status_code=404, headers=_NO_STORE)
    session = await lookup_session(request)
    if session is None:
        return RedirectResponse(f"/auth/login?next={quote(request.url.path)}", status_code=303)
    template, role = _PAGES[page]
    principal = session.principal
    if role is not None and role not in principal.roles:
        request.state.principal = principal
        await web.record(
            audit_event(
                request,
                principal,
                event_class="auth",
                action="denied",
                decision="deny",
                status="denied",
                http_status=403,
                details={"reason": f"the page needs the role {role}"},
            )
        )
        return templates.TemplateResponse(request, "error.html", {"status": 403}, status_code=403, headers=_NO_STORE)
    context = {"user": principal.name or principal.subject, "roles": sorted(principal.roles), "page": page}
    return templates.TemplateResponse(request, template, context, headers=_NO_STORE)

"""The provider's HTML pages: login form, error page, logged-out page.

Every page carries the banner that says this is a development provider. Jinja2
autoescaping is on, so request values (client ids, error texts) cannot inject markup.
"""

from __future__ import annotations

from typing import Any

from jinja2 import DictLoader, Environment, select_autoescape
from starlette.responses import HTMLResponse

BANNER = "Development identity provider — not for production"

_LAYOUT = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }} · suite dev IdP</title>
<style>
body { font-family: system-ui, sans-serif; margin: 0; background: #f4f4f5; color: #18181b; }
.banner { background: #b91c1c; color: #fff; padding: .6rem 1rem; font-weight: 600; text-align: center; }
main { max-width: 24rem; margin: 3rem auto; background: #fff; padding: 1.5rem 2rem; border-radius: .5rem;
       box-shadow: 0 1px 3px rgba(0,0,0,.15); }
label { display: block; margin-top: .8rem; }
input { width: 100%; box-sizing: border-box; padding: .45rem; margin-top: .2rem; }
button { margin-top: 1.2rem; width: 100%; padding: .55rem; }
.error { color: #b91c1c; }
.hint { color: #52525b; font-size: .85rem; }
</style>
</head>
<body>
<div class="banner" role="alert">{{ banner }}</div>
<main>
<h1>{{ title }}</h1>
{% block content %}{% endblock %}
</main>
</body>
</html>
"""

_LOGIN = """{% extends "layout.html" %}{% block content %}
<p>Sign in to continue to <strong>{{ client_id }}</strong>.</p>
{% if error %}<p class="error" role="alert">{{ error }}</p>{% endif %}
<form method="post" action="{{ action }}">
<label>Username <input name="username" value="{{ username }}" autocomplete="username" required autofocus></label>
<label>Password <input name="password" type="password" autocomplete="current-password" required></label>
<button type="submit">Sign in</button>
</form>
<p class="hint">Users and passwords come from the suite configuration (identity.dev_idp.users).</p>
{% endblock %}"""

_ERROR = """{% extends "layout.html" %}{% block content %}
<p class="error">{{ error }}</p>
{% if description %}<p>{{ description }}</p>{% endif %}
<p class="hint">The request was not sent back to the application.</p>
{% endblock %}"""

_LOGGED_OUT = """{% extends "layout.html" %}{% block content %}
<p>You have been signed out.</p>
{% endblock %}"""

_ENV = Environment(
    loader=DictLoader(
        {"layout.html": _LAYOUT, "login.html": _LOGIN, "error.html": _ERROR, "logged_out.html": _LOGGED_OUT}
    ),
    autoescape=select_autoescape(default=True, default_for_string=True),
)

# The pages load nothing and must not be framed (clickjacking of the login form).
_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


def _render(template: str, status_code: int, **context: Any) -> HTMLResponse:
    html = _ENV.get_template(template).render(banner=BANNER, **context)
    return HTMLResponse(html, status_code=status_code, headers=_HEADERS)


def login_page(*, action: str, client_id: str, username: str = "", error: str | None = None) -> HTMLResponse:
    """The sign-in form; it posts the credentials back to ``action`` (the authorize URL with its query)."""
    # A refused password re-shows the form with 200, as browsers expect; 401 would need a WWW-Authenticate.
    context = {"action": action, "client_id": client_id, "username": username, "error": error}
    return _render("login.html", 200, title="Sign in", **context)


def error_page(error: str, description: str | None = None, *, status_code: int = 400) -> HTMLResponse:
    """An error shown to the user, used where redirecting to the client would be unsafe."""
    return _render("error.html", status_code, title="Cannot continue", error=error, description=description)


def logged_out_page() -> HTMLResponse:
    """Shown after a logout that has no (valid) place to return to."""
    return _render("logged_out.html", 200, title="Signed out")

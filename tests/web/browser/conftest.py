"""Browser tests: Debian's Chromium driven by Playwright against the real gateway, dev IdP and vLLM engine.

One gateway per session with the dev IdP's users bob and alice (employees), carol (compliance
officer) and adam (admin); the real demo model plus "hostile", a backend that answers with an XSS
payload. With SUITE_WEB_TESTS_NO_ENGINE=1 (a developer's quick run on a busy machine, never CI)
the demo model's name is served by the hostile backend too and no vLLM engine starts. Chromium resolves nothing but 127.0.0.1 (its own look-ups of outside hosts fail), and every
request it makes is recorded so a test can show nothing left the machine.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from suite.config import Settings
from suite.gateway import create_app
from suite.serving import EngineProcess
from tests.support import (
    ALLOW_AUDIT,
    ALLOW_EMPLOYEES,
    MODEL,
    SAMPLE_BUDGET_URI,
    BackgroundLoop,
    ServerThread,
    free_port,
    ingest_samples,
    ready,
    wait_until,
)
from tests.web.browser.hostile_backend import hostile_app

CHROMIUM = "/usr/bin/chromium"
HOSTILE = "hostile"
SECRET = "web-browser-test-secret-0123456789"
BUDGET = SAMPLE_BUDGET_URI
# Every employee searches the handbook (the budget plan in it is finance's alone by its ACL);
# the finance collection is for the finance group only.
SEARCH_HANDBOOK = {
    "name": "search-handbook",
    "roles": ["employee"],
    "routes": ["retrieval"],
    "collections": ["handbook"],
}
ALLOW_ADMIN = {"name": "admins-administer", "roles": ["admin"], "routes": ["admin"]}
SEARCH_FINANCE = {"name": "search-finance", "groups": ["finance"], "routes": ["retrieval"], "collections": ["finance"]}


def _user(name: str, full: str, roles: list[str], groups: list[str]) -> dict[str, object]:
    return {
        "username": name,
        "password": name,
        "name": full,
        "email": f"{name}@example.test",
        "roles": roles,
        "groups": groups,
    }


USERS = [
    _user("bob", "Bob Berger", ["employee"], ["engineering"]),
    _user("alice", "Alice Adler", ["employee"], ["finance"]),
    _user("carol", "Carol Curie", ["compliance_officer"], ["compliance"]),
    _user("adam", "Adam Admin", ["admin", "employee"], ["it"]),
]


@dataclass
class WebGateway:
    url: str
    screenshots: Path


@pytest.fixture(scope="session")
def hostile_backend() -> Iterator[ServerThread]:
    server = ServerThread(hostile_app()).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def web_gateway(
    request: pytest.FixtureRequest,
    hostile_backend: ServerThread,
    background_loop: BackgroundLoop,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[WebGateway]:
    if os.environ.get("SUITE_WEB_TESTS_NO_ENGINE") == "1":
        model_backend = hostile_backend.url
    else:
        engine: EngineProcess = request.getfixturevalue("vllm_engine")
        model_backend = engine.backend.url
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("web-gateway"),
        logging={"level": "warning"},
        gateway={"port": port},
        identity={
            "oidc": {"client_id": "suite-web", "client_secret": SECRET},
            "dev_idp": {
                "enabled": True,
                "users": USERS,
                "clients": [
                    {
                        "client_id": "suite-web",
                        "client_secret": SECRET,
                        "redirect_uris": [f"{base}/auth/callback"],
                        "post_logout_redirect_uris": [f"{base}/"],
                    }
                ],
            },
            "policy": [ALLOW_EMPLOYEES, ALLOW_AUDIT, ALLOW_ADMIN, SEARCH_HANDBOOK, SEARCH_FINANCE],
            # Quotas on, so the chat shows what is left of the day's tokens.
            "quotas": {"roles": {"employee": {"requests_per_minute": 1000, "tokens_per_day": 200_000}}},
        },
        serving={
            "models": [
                {"name": MODEL, "engines": 0, "backends": [model_backend]},
                {"name": HOSTILE, "engines": 0, "backends": [hostile_backend.url]},
            ]
        },
        embeddings={"models": [{"name": "all-minilm-l6-v2", "aliases": ["default-embedding"]}]},
        rag={"chat_model": MODEL},
        web={"banner": {"en": "INTERNAL: do not paste customer data", "de": "INTERN: keine Kundendaten einfügen"}},
    )
    # On the session's loop thread: Playwright's sync API runs a loop in this one.
    background_loop.run(ingest_samples(settings), timeout=600)  # before the gateway holds the local store
    server = ServerThread(create_app(settings, manage_engines=False), port=port).start()
    wait_until(lambda: ready(server.url), timeout=60, what="gateway ready")
    shots = Path(os.environ.get("SUITE_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    shots.mkdir(parents=True, exist_ok=True)
    yield WebGateway(url=server.url, screenshots=shots)
    server.stop()


# Package scope: Playwright's sync API keeps an event loop running on the main thread while it is
# open, so it must be closed before later tests that call asyncio.run.
@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"],
        )
        yield chromium
        chromium.close()


@dataclass
class Visit:
    """One signed-in browser context and what it saw: console messages, page errors, requests."""

    context: BrowserContext
    page: Page
    console: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)


@pytest.fixture
def sign_in(browser: Browser, web_gateway: WebGateway) -> Iterator[Callable[..., Visit]]:
    """Sign a user in through the dev IdP's login form, as a person would; returns the visit."""
    contexts: list[BrowserContext] = []

    def login(username: str, *, locale: str = "en-US", next_path: str = "/web/chat") -> Visit:
        context = browser.new_context(locale=locale, viewport={"width": 1280, "height": 860})
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=web_gateway.url)
        contexts.append(context)
        page = context.new_page()
        visit = Visit(context=context, page=page)
        page.on("console", lambda message: visit.console.append(f"{message.type}: {message.text}"))
        page.on("pageerror", lambda error: visit.errors.append(str(error)))
        page.on("request", lambda request: visit.requests.append(request.url))
        page.goto(f"{web_gateway.url}{next_path}")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", username)
        page.click("button[type=submit]")
        page.wait_for_url(f"{web_gateway.url}{next_path}*")
        return visit

    yield login
    for context in contexts:
        context.close()

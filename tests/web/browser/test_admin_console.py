"""The admin console in a real browser: adam creates a key (shown once) and revokes it; bob cannot."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import expect

from tests.web.browser.conftest import Visit, WebGateway


def test_adam_creates_and_revokes_a_key(sign_in: Callable[..., Visit], web_gateway: WebGateway) -> None:
    page = sign_in("adam", next_path="/web/admin").page
    expect(page.locator("#model-names li").first).to_be_visible()
    expect(page.locator("#collections li").first).to_contain_text("documents")
    page.fill("#key-owner", "build-bot")
    page.click("#create-key")
    shown = page.locator("#new-key-value")
    expect(shown).to_contain_text("suitekey_")
    key = shown.inner_text().split(": ", 1)[1].strip()
    row = page.locator("#keys tr", has_text="build-bot")
    expect(row).to_contain_text("active")
    page.screenshot(path=web_gateway.screenshots / "admin-en.png", full_page=True)
    page.select_option("#lang", "de")
    expect(page.locator("h1")).to_have_text("Verwaltung")
    page.screenshot(path=web_gateway.screenshots / "admin-de.png", full_page=True)
    # The key works on the API, and stops working once revoked.
    assert page.request.get(f"{web_gateway.url}/v1/models", headers={"Authorization": f"Bearer {key}"}).status == 200
    row.locator("button.revoke").click()
    expect(row).to_contain_text("revoked")
    assert page.request.get(f"{web_gateway.url}/v1/models", headers={"Authorization": f"Bearer {key}"}).status == 401
    # The key is shown only once: the list never has it.
    assert key not in page.request.get(f"{web_gateway.url}/web/api/admin/keys").text()


def test_bob_is_refused_the_admin_api(sign_in: Callable[..., Visit], web_gateway: WebGateway) -> None:
    page = sign_in("bob").page
    assert page.request.get(f"{web_gateway.url}/web/api/admin/keys").status == 403
    status = page.evaluate(
        "fetch('/auth/me').then((r) => r.json()).then((me) => fetch('/web/api/admin/keys', {method: 'POST',"
        " headers: {'Content-Type': 'application/json', 'X-CSRF-Token': me.csrf_token},"
        " body: JSON.stringify({owner: 'bob'})})).then((r) => r.status)"
    )
    assert status == 403

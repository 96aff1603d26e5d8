"""The audit console in a real browser: carol searches the trail, opens a record, exports CSV, verifies."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import expect

from tests.web.browser.conftest import Visit, WebGateway


def test_carol_searches_opens_exports_and_verifies(sign_in: Callable[..., Visit], web_gateway: WebGateway) -> None:
    sign_in("bob")  # a login of bob's is on the trail to be found
    page = sign_in("carol", next_path="/web/audit").page
    rows = page.locator("#records tr")
    expect(rows.first).to_be_visible()
    page.fill("#f-subject", "bob")
    page.click("#search-records")
    expect(rows.first).to_contain_text("bob")
    for subject in rows.locator("td:nth-child(3)").all_inner_texts():
        assert subject == "bob"
    rows.first.locator("button.open-record").click()
    expect(page.locator("#record")).to_contain_text('"record_hash"')
    expect(page.locator("#record")).to_contain_text('"subject": "bob"')

    with page.expect_download() as download_info:
        page.click("#export-csv")
    download = download_info.value
    path = download.path()
    assert path is not None
    text = path.read_text(encoding="utf-8")
    assert text.splitlines()[0].startswith("seq") or "record_hash" in text.splitlines()[0]
    assert "bob" in text

    page.click("#verify")
    expect(page.locator("#verify-result")).to_contain_text("Chain verified: OK.")
    page.screenshot(path=web_gateway.screenshots / "audit-en.png", full_page=True)

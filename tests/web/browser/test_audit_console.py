"""The audit console in a real browser: carol searches the trail, opens a record, exports CSV, verifies."""

from __future__ import annotations

import re
from collections.abc import Callable

from playwright.sync_api import expect

from tests.web.browser.conftest import Visit, WebGateway


def test_carol_searches_opens_exports_and_verifies(sign_in: Callable[..., Visit], web_gateway: WebGateway) -> None:
    bob = sign_in("bob").page  # a login of bob's is on the trail to be found, and a model call
    status = bob.evaluate(
        "fetch('/auth/me').then((r) => r.json()).then((me) => fetch('/v1/chat/completions', {method: 'POST',"
        " headers: {'Content-Type': 'application/json', 'X-CSRF-Token': me.csrf_token},"
        " body: JSON.stringify({model: 'hostile', messages: [{role: 'user', content: 'hi'}]})})).then((r) => r.status)"
    )
    assert status == 200
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
    # The figures: bob's call in the usage per user and per model, and the chart drawn by the server.
    expect(page.locator("#by-user tr", has_text="bob")).to_be_visible()
    expect(page.locator("#by-model tr", has_text="hostile")).to_be_visible()
    expect(page.locator("#chart")).to_have_attribute("alt", re.compile(r"[1-9]\d* requests"))
    expect(page.locator("#chart")).to_have_js_property("complete", True)
    assert page.evaluate("document.getElementById('chart').naturalWidth") > 0  # the SVG loaded and drew
    svg = page.request.get(f"{web_gateway.url}/web/api/audit/chart.svg?period=7d")
    assert svg.headers["content-type"].startswith("image/svg+xml")
    assert '<rect class="requests"' in svg.text()
    assert "<script" not in svg.text()
    page.screenshot(path=web_gateway.screenshots / "audit-en.png", full_page=True)
    page.select_option("#lang", "de")
    expect(page.locator("#figures-title")).to_have_text("Anfragen, Blockierungen und Fehler")
    expect(page.locator("#chart")).to_have_attribute("src", re.compile("lang=de"))
    expect(page.locator("#chart")).to_have_js_property("complete", True)
    page.screenshot(path=web_gateway.screenshots / "audit-de.png", full_page=True)


def test_an_employee_gets_no_figures(sign_in: Callable[..., Visit], web_gateway: WebGateway) -> None:
    page = sign_in("bob").page
    for path in ("/web/api/audit/stats", "/web/api/audit/chart.svg"):
        assert page.request.get(f"{web_gateway.url}{path}").status == 403

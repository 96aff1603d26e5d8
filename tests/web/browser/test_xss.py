"""Hostile model output runs nothing and loads nothing from outside, streamed or from history."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from playwright.sync_api import expect

from tests.web.browser.conftest import HOSTILE, Visit, WebGateway


def _assert_inert(visit: Visit, web_gateway: WebGateway) -> None:
    page = visit.page
    assert page.evaluate("window.__xss") is None
    body = page.locator("#messages .message.assistant .body").last
    expect(body.locator("strong")).to_have_text("bold")
    assert body.locator("script, svg, iframe, [onerror], [onload]").count() == 0
    for href in body.locator("a").evaluate_all("(links) => links.map((a) => a.getAttribute('href'))"):
        assert href is None or not href.lower().startswith("javascript:")
    for src in body.locator("img").evaluate_all("(images) => images.map((i) => i.getAttribute('src'))"):
        assert src is None
    # The raw HTML is shown as text, the code block as code.
    expect(body).to_contain_text("<script>window.__xss = 'script'</script>")
    expect(body.locator("pre code")).to_contain_text("print('<b>not bold</b>')")
    own = urlsplit(web_gateway.url).netloc
    outside = [url for url in visit.requests if urlsplit(url).netloc not in (own, "")]
    assert outside == []
    assert not visit.errors
    assert not [line for line in visit.console if "Content Security Policy" in line]


def test_hostile_answer_is_inert_streamed_and_from_history(
    sign_in: Callable[..., Visit], web_gateway: WebGateway
) -> None:
    visit = sign_in("bob")
    page = visit.page
    page.select_option("#model", HOSTILE)
    page.fill("#prompt", "Show me something nice")
    page.keyboard.press("Enter")
    expect(page.locator("#send")).to_be_visible(timeout=30_000)
    expect(page.locator("#messages .message.assistant .body pre")).to_have_count(1)
    _assert_inert(visit, web_gateway)
    page.screenshot(path=web_gateway.screenshots / "chat-xss.png", full_page=True)

    page.reload()
    expect(page.locator("#messages .message.assistant .body pre")).to_have_count(1)
    _assert_inert(visit, web_gateway)

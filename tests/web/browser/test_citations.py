"""Grounded answers in the browser: numbered citations, the side panel, and what another user never sees."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import expect

from tests.web.browser.conftest import Visit, WebGateway
from tests.web.browser.test_chat import ask


def test_a_grounded_answer_opens_its_citation_in_a_side_panel(
    sign_in: Callable[..., Visit], web_gateway: WebGateway
) -> None:
    for locale, shot in (("en-US", "chat-citation-en.png"), ("de-DE", "chat-citation-de.png")):
        page = sign_in("bob", locale=locale).page
        # Bob may search the handbook; the finance collection is not even offered.
        expect(page.locator("#collection option")).to_have_count(2)
        expect(page.locator("#collection option").nth(1)).to_have_text("handbook")
        page.select_option("#collection", "handbook")
        ask(page, "How much are hotel costs reimbursed per night in Germany?")
        citations = page.locator("#messages .message.assistant button.citation")
        expect(citations.first).to_be_visible()
        assert "Budget" not in " ".join(citations.all_inner_texts())
        citations.first.click()
        expect(page.locator("#passage")).to_be_visible()
        expect(page.locator("#passage-title")).not_to_be_empty()
        expect(page.locator("#passage-text")).not_to_be_empty()
        page.screenshot(path=web_gateway.screenshots / shot, full_page=True)


def test_bob_is_refused_a_passage_he_may_not_read(sign_in: Callable[..., Visit], web_gateway: WebGateway) -> None:
    alice = sign_in("alice").page
    alice.select_option("#collection", "finance")
    ask(alice, "What is the total operating budget for 2027?")
    conversation_id = alice.evaluate("location.hash.slice(1)")
    detail = alice.request.get(f"{web_gateway.url}/web/api/conversations/{conversation_id}").json()
    cited = [c for m in detail["messages"] for c in m["meta"].get("citations", [])]
    assert cited, detail
    assert any("Budget" in c["title"] for c in cited)
    budget = next(c for c in cited if "Budget" in c["title"])

    bob = sign_in("bob").page
    query = f"collection={budget['collection']}&chunk_id={budget['chunk_id']}"
    answer = bob.request.get(f"{web_gateway.url}/web/api/passages?{query}")
    assert answer.status == 404
    assert "Budget" not in answer.text()
    assert "48.2" not in answer.text()
    # And from the page itself, as the side panel would fetch it.
    status = bob.evaluate(f"fetch('/web/api/passages?{query}').then((r) => r.status)")
    assert status == 404
    expect(bob.locator("body")).not_to_contain_text("Budget")

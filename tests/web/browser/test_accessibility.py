"""Accessibility: axe-core (from the npm lock, injected by the test) finds no serious or critical violation
on the chat, audit and admin pages, in English and German."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.web.browser.conftest import Visit

AXE = Path(__file__).parents[3] / "suite" / "web" / "assets" / "node_modules" / "axe-core" / "axe.min.js"


def serious_violations(page: Page) -> list[str]:
    # Evaluated through the DevTools protocol, which the page's CSP does not govern; the page itself
    # still runs no inline script.
    page.evaluate(AXE.read_text(encoding="utf-8"))
    found = page.evaluate(
        "axe.run(document, {resultTypes: ['violations']}).then((r) => r.violations"
        ".filter((v) => v.impact === 'serious' || v.impact === 'critical')"
        ".map((v) => v.id + ': ' + v.nodes.map((n) => n.target.join(' ')).join(', ')))"
    )
    return list(found)


@pytest.mark.parametrize(
    ("user", "path", "ready"),
    [("bob", "/web/chat", "#prompt:enabled"), ("carol", "/web/audit", "#records tr"), ("adam", "/web/admin", "#keys")],
)
@pytest.mark.parametrize("locale", ["en-US", "de-DE"])
def test_no_serious_or_critical_axe_violation(
    sign_in: Callable[..., Visit], user: str, path: str, ready: str, locale: str
) -> None:
    page = sign_in(user, locale=locale, next_path=path).page
    expect(page.locator(ready).first).to_be_attached()
    page.wait_for_load_state("networkidle")
    assert serious_violations(page) == []


def test_axe_finds_a_planted_violation(sign_in: Callable[..., Visit]) -> None:
    # The check above can fail: an image without alt text is a critical violation.
    page = sign_in("bob").page
    page.evaluate("document.getElementById('main').append(document.createElement('img'))")
    assert any(v.startswith("image-alt") for v in serious_violations(page))

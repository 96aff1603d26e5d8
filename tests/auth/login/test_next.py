"""Where a login may return to: local paths only, never another site."""

from __future__ import annotations

import pytest

from suite.auth.browser import safe_next


@pytest.mark.parametrize("path", ["/", "/chat", "/consoles/audit?from=2026-01-01&page=2", "/a/b#frag"])
def test_local_paths_are_kept(path: str) -> None:
    assert safe_next(path) == path


@pytest.mark.parametrize(
    "target",
    [
        None,
        "",
        "https://evil.example",
        "//evil.example",
        "///evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "javascript:alert(1)",
        "chat",
        "/\tevil",
        "/\nLocation: x",
        "/" + "a" * 3000,
    ],
)
def test_anything_else_becomes_the_root(target: str | None) -> None:
    assert safe_next(target) == "/"

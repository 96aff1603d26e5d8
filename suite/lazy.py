"""Package faces that import their names on first use (PEP 562).

A capability's ``__init__`` lists what it offers and where each name lives; the module behind a
name is imported only when the name is first read. So ``import suite.guardrails.cli`` (every
`suite` command imports the command groups) does not load presidio, spaCy and torch, and the
standalone audit verifier loads neither the database nor the settings.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import Any

__all__ = ["lazy_names"]


def lazy_names(package: str, where: dict[str, str]) -> Callable[[str], Any]:
    """The module ``__getattr__`` of package: name -> the attribute of ``package.<where[name]>``.

    The value is then kept on the package, so later reads cost a plain attribute lookup.
    """

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__

"""``python -m suite``: the ``suite`` command (the gateway image's entry point; there is no console script there)."""

from suite.cli import run

run()

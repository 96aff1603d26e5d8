"""The CLIs start without the model libraries: what a command imports, checked in a fresh interpreter.

Not a timing test (benchmarks/cli_start.py measures the start): these fail when an import at the
top of a command module pulls presidio, spaCy, torch or transformers back into every command.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MODEL_LIBRARIES = {"presidio_analyzer", "presidio_anonymizer", "spacy", "torch", "transformers", "vllm"}
# What the standalone verifier must do without: the settings, the database, the CLI framework.
SUITE_ONLY = {"pydantic", "pydantic_settings", "sqlalchemy", "typer", "alembic", "suite.config", "suite.db"}


def modules_after(code: str) -> set[str]:
    """The modules loaded once code ran in a fresh interpreter (top-level names and suite.* names)."""
    script = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=False)
    assert done.returncode == 0, done.stderr
    names = json.loads(done.stdout.splitlines()[-1])
    return {name for name in names if name.startswith("suite.")} | {name.split(".")[0] for name in names}


@pytest.mark.parametrize("module", ["suite.cli", "suite.bastion.cli", "suite.audit.cli"])
def test_importing_a_cli_loads_no_model_library(module: str) -> None:
    assert modules_after(f"import {module}") & MODEL_LIBRARIES == set()


@pytest.mark.parametrize("args", [["--help"], ["hash-key", "x"], ["audit", "--help"], ["guard", "--help"]])
def test_commands_that_need_no_model_load_none(args: list[str]) -> None:
    code = (
        "from typer.testing import CliRunner\nfrom suite.cli import app\n"
        f"result = CliRunner().invoke(app, {args!r})\nassert result.exit_code == 0, result.output"
    )
    assert modules_after(code) & MODEL_LIBRARIES == set()


def test_the_standalone_verifier_loads_neither_settings_nor_database() -> None:
    loaded = modules_after("import suite.audit.standalone")
    assert loaded & (SUITE_ONLY | MODEL_LIBRARIES) == set()
    assert "cryptography" in loaded  # it does verify signatures


def test_the_console_script_is_declared() -> None:
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert 'suite-verify = "suite.audit.standalone:run"' in text


def test_bastion_help_loads_neither_settings_nor_database() -> None:
    code = (
        "from typer.testing import CliRunner\nfrom suite.bastion.cli import app\n"
        "result = CliRunner().invoke(app, ['--help'])\nassert result.exit_code == 0, result.output"
    )
    loaded = modules_after(code)
    assert loaded & {"sqlalchemy", "alembic", "pydantic", "suite.config", "suite.db", "suite.registry"} == set()
    assert loaded & MODEL_LIBRARIES == set()

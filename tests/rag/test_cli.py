"""`suite collections`, `suite ingest` and `suite rag eval` as an admin runs them, with their audit records."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from suite.audit.tables import AuditRecordRow
from suite.cli import app
from suite.db import Database
from suite.rag.evaluation import SAMPLES_DIR

runner = CliRunner()


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "suite.yaml"
    path.write_text(
        f"data_dir: {tmp_path / 'var'}\nlogging: {{level: warning}}\n"
        "embeddings:\n  models:\n    - name: all-minilm-l6-v2\n"
    )
    return path


def first_line(output: str) -> str:
    return output.splitlines()[0]


def suite(*args: str) -> tuple[int, str]:
    """Exit code and what the command printed (its stdout, then its stderr: warnings and errors)."""
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout + result.stderr


def test_collections_and_incremental_ingest_are_audited(config: Path, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    shutil.copytree(SAMPLES_DIR, docs)
    (docs / "en" / "broken.pdf").write_bytes(b"%PDF-1.4 broken")
    code, out = suite("collections", "create", "kb", "-c", str(config))
    assert (code, first_line(out)) == (0, "created kb")
    code, out = suite("ingest", str(docs), "--collection", "kb", "-c", str(config))
    assert code == 0, out
    assert "skipped file://" in out
    assert "broken.pdf" in out
    assert "added=7 " in out
    assert "failed=1 " in out
    code, out = suite("ingest", str(docs), "--collection", "kb", "-c", str(config))
    assert "unchanged=7 " in out
    (docs / "de" / "mobiles-arbeiten.md").unlink()
    code, out = suite("ingest", str(docs), "--collection", "kb", "-c", str(config))
    assert "removed=1 " in out
    code, out = suite("collections", "stats", "kb", "-c", str(config))
    assert code == 0
    assert " 6 " in out
    code, out = suite("collections", "list", "-c", str(config))
    assert (code, first_line(out)) == (0, "kb")

    database = Database(f"sqlite:///{tmp_path / 'var' / 'suite.db'}")
    with database.sessions() as session:
        rows = session.scalars(select(AuditRecordRow).where(AuditRecordRow.event_class == "admin")).all()
    database.dispose()
    assert [r.action for r in rows] == ["collections.create", "ingest", "ingest", "ingest"]
    assert all(r.collections == ["kb"] for r in rows)
    assert rows[1].details["added"] == 7


def test_cli_errors_are_messages(config: Path, tmp_path: Path) -> None:
    code, out = suite("ingest", str(tmp_path / "missing"), "--collection", "kb", "-c", str(config))
    assert (code, "no such file or folder" in out) == (2, True)
    code, out = suite("ingest", str(SAMPLES_DIR), "--collection", "nope", "-c", str(config))
    assert code == 1
    assert "No collection 'nope': create it first." in out
    code, out = suite("collections", "create", "Bad Name!", "-c", str(config))
    assert code == 1
    assert "Invalid collection name" in out
    assert "Traceback" not in out


def test_rag_eval_reports_recall_at_5_over_german_and_english(config: Path) -> None:
    code, out = suite("rag", "eval", "--min-recall", "0.8", "-c", str(config))
    assert code == 0, out
    assert "recall@5 de:" in out
    assert "recall@5 en:" in out
    assert "over 24 questions" in out

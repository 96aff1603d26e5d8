"""Signed heads kept outside the database: an append-only checkpoint file.

Every checkpoint the writer signs is appended, after its transaction committed, as one JSON
line to ``<checkpoint_dir>/checkpoints.jsonl`` (the export's checkpoint line format). Someone
who can rewrite the database cannot take a head back out of this file (``chattr +a`` makes the
kernel refuse anything but appends, see docs/audit.md), so a truncated or re-chained trail no
longer matches a head here. ``verify`` reads the file with the database's own checkpoints.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import event
from sqlalchemy.orm import Session

from suite.audit.offline import CHECKPOINT_FILE, read_heads

__all__ = ["FILE_NAME", "HeadLog", "append_lines", "read_heads"]

log = structlog.get_logger(__name__)

FILE_NAME = CHECKPOINT_FILE
_STAGED = "suite.audit.staged_heads"


def append_lines(path: Path, items: list[dict[str, Any]]) -> None:
    """Append JSON lines to path and fsync: one write per call, O_APPEND, so lines never interleave."""
    path.parent.mkdir(mode=0o750, parents=True, exist_ok=True)
    data = "".join(json.dumps(item, sort_keys=True, separators=(",", ":")) + "\n" for item in items)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        os.write(fd, data.encode())
        os.fsync(fd)
    finally:
        os.close(fd)


class HeadLog:
    """The append-only checkpoint file in one directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / FILE_NAME

    def append(self, items: list[dict[str, Any]]) -> None:
        """Append checkpoint lines and fsync (one write per call, O_APPEND: lines never interleave)."""
        append_lines(self.path, items)

    def stage(self, session: Session, item: dict[str, Any]) -> None:
        """Append item once session commits (nothing when it rolls back)."""
        staged: list[tuple[HeadLog, dict[str, Any]]] | None = session.info.get(_STAGED)
        if staged is None:
            staged = session.info[_STAGED] = []
            if not event.contains(session, "after_commit", _after_commit):
                event.listen(session, "after_commit", _after_commit)
                event.listen(session, "after_rollback", _after_rollback)
        staged.append((self, item))


def _after_commit(session: Session) -> None:
    staged: list[tuple[HeadLog, dict[str, Any]]] = session.info.pop(_STAGED, [])
    by_log: dict[Path, tuple[HeadLog, list[dict[str, Any]]]] = {}
    for head_log, item in staged:
        by_log.setdefault(head_log.path, (head_log, []))[1].append(item)
    for head_log, items in by_log.values():
        try:
            head_log.append(items)
        except OSError as exc:
            # The records and their checkpoint are committed; only the copy outside is missing.
            log.error("audit checkpoint file not written", path=str(head_log.path), error=str(exc))


def _after_rollback(session: Session) -> None:
    session.info.pop(_STAGED, None)

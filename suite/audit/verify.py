"""Verification of the chain, in the database or in an export file, down to the first problem.

Each record's hash is recomputed, each ``prev_hash`` must be the previous record's hash, the
seqs must run without gaps, and every checkpoint must carry a valid signature by a trusted key
and match the record at its seq. A checkpoint beyond the last record shows the tail was cut off.
After a purge the chain starts at the newest purge anchor, whose signature vouches for it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from suite.audit.chain import GENESIS_HASH, RECORD_FIELDS, format_time, from_row
from suite.audit.keys import TrustedKeys
from suite.audit.ledger import snapshot
from suite.audit.tables import AuditChainHeadRow, AuditCheckpointRow, AuditRecordRow
from suite.audit.walk import ChainWalk, Checkpoint, Problem
from suite.db import Database

__all__ = ["Problem", "VerifyReport", "verify_database", "verify_export"]


@dataclass(frozen=True)
class VerifyReport:
    """The outcome of a verification: ok, how much was checked, and the first problem found."""

    ok: bool
    records_checked: int
    checkpoints_checked: int
    first_seq: int | None
    last_seq: int | None
    # The seq of the last checkpoint that matched its record.
    anchored_through: int | None
    # Records whose hashes chain up to a matching checkpoint; the others rest on their hashes alone.
    records_proven: int
    # False when the records skip seqs (a filtered export).
    contiguous: bool
    problem: Problem | None

    @property
    def unanchored(self) -> int:
        """Records no trusted checkpoint vouches for (yet): the newest ones, or a filtered selection."""
        return self.records_checked - self.records_proven


def _report(walk: ChainWalk) -> VerifyReport:
    return VerifyReport(
        ok=walk.problem is None,
        records_checked=walk.records,
        checkpoints_checked=walk.checkpoints_checked,
        first_seq=walk.first_seq,
        last_seq=walk.last_seq,
        anchored_through=walk.anchored_through,
        records_proven=walk.records_proven,
        contiguous=walk.contiguous,
        problem=walk.problem,
    )


def verify_database(database: Database, trusted_keys: TrustedKeys) -> VerifyReport:
    """Verify the whole stored chain against trusted public keys (by key id)."""
    with snapshot(database) as session:
        head = session.get(AuditChainHeadRow, 1)
        checkpoints = [
            Checkpoint(
                seq=row.seq,
                head_hash=row.head_hash,
                time=format_time(row.time),
                key_id=row.key_id,
                signature=row.signature,
                kind=row.kind,
            )
            for row in session.scalars(select(AuditCheckpointRow).order_by(AuditCheckpointRow.seq))
        ]
        first = session.scalar(select(AuditRecordRow.seq).order_by(AuditRecordRow.seq).limit(1))
        # A purge leaves an anchor at the last record it deleted: the chain now starts right after it.
        anchors = [c for c in checkpoints if c.kind == "purge_anchor" and (first is None or c.seq < first)]
        base = anchors[-1] if anchors else None
        walk = ChainWalk(
            checkpoints,
            trusted_keys,
            expected_seq=base.seq + 1 if base else 1,
            expected_prev=base.head_hash if base else GENESIS_HASH,
            prev_from_checkpoint=base is not None,
            allow_gaps=False,
        )
        records = select(AuditRecordRow.__table__).order_by(AuditRecordRow.seq)
        # yield_per streams (a server-side cursor on PostgreSQL): memory stays flat for any chain length.
        result = session.execute(records.execution_options(yield_per=1000))
        try:
            for row in result:
                if not walk.feed(from_row(row._mapping)):
                    break
        finally:
            result.close()  # a server-side cursor left open on an early stop would outlive the session
        walk.finish()
        if walk.problem is None and head is not None:
            walk.check_head(head.seq)
    return _report(walk)


def verify_export(path: Path, trusted_keys: TrustedKeys) -> VerifyReport:
    """Verify a JSONL export on its own: no database needed, only the trusted public keys.

    The first record's prev_hash is taken as given, unless a checkpoint just before it is
    included; checkpoints inside the range prove the records up to them.
    """
    header, checkpoints, problem = _read_header_and_checkpoints(path)
    walk = ChainWalk(
        checkpoints,
        trusted_keys,
        expected_seq=None,
        expected_prev=None,
        prev_from_checkpoint=False,
        allow_gaps=not header.get("contiguous", False),
    )
    if problem is not None:
        walk.fail(problem)
        return _report(walk)
    for number, item in _lines(path):  # parsed once already, so it cannot fail here
        if item.get("type") != "record":
            continue
        fields = {key: value for key, value in item.items() if key != "type"}
        if not _well_formed(fields):
            walk.fail(Problem("malformed", f"line {number} is not a complete audit record", seq=fields.get("seq")))
            break
        if not walk.feed(fields):
            break
    walk.finish()
    return _report(walk)


def _read_header_and_checkpoints(path: Path) -> tuple[dict[str, Any], list[Checkpoint], Problem | None]:
    header: dict[str, Any] = {}
    checkpoints: list[Checkpoint] = []
    try:
        for number, item in _lines(path):
            if number == 1:
                if item.get("type") != "header" or item.get("format") != "suite-audit-export":
                    return header, [], Problem("malformed", f"{path} is not a JSONL audit export (no header line)")
                header = item
            elif item.get("type") == "checkpoint":
                checkpoints.append(Checkpoint.from_json(item, where=f"line {number}"))
    except (ValueError, KeyError, TypeError) as exc:
        return header, [], Problem("malformed", f"{path}: {exc}")
    if not header:
        return header, [], Problem("malformed", f"{path} is empty")
    return header, checkpoints, None


def _lines(path: Path) -> Iterable[tuple[int, dict[str, Any]]]:
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError:
                raise ValueError(f"line {number} is not valid JSON") from None
            if not isinstance(item, dict):
                raise ValueError(f"line {number} is not a JSON object")
            yield number, item


def _well_formed(fields: dict[str, Any]) -> bool:
    types: dict[str, type] = {"seq": int, "record_id": str, "prev_hash": str, "record_hash": str}
    return set(fields) == set(RECORD_FIELDS) and all(isinstance(fields[k], t) for k, t in types.items())

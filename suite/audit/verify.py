"""Verification of the chain, in the database or in an export file, down to the first problem.

Each record's hash is recomputed, each ``prev_hash`` must be the previous record's hash, the
seqs must run without gaps, and every checkpoint must carry a valid signature by a trusted key
and match the record at its seq. A checkpoint beyond the last record shows the tail was cut off.
After a purge the chain starts at the newest purge anchor, whose signature vouches for it.
Signed heads kept outside the database (the checkpoint file) are checked the same way, so a
database rewritten together with its own checkpoints still fails. Nothing here writes.
"""

from __future__ import annotations

from sqlalchemy import select

from suite.audit.chain import GENESIS_HASH, format_time, from_row
from suite.audit.keys import KeyRange, TrustedKeys
from suite.audit.ledger import snapshot
from suite.audit.offline import VerifyReport, merge_heads, report_of, time_gaps, verify_export
from suite.audit.tables import AuditChainHeadRow, AuditCheckpointRow, AuditRecordRow
from suite.audit.walk import ChainWalk, Checkpoint, Problem
from suite.db import Database

__all__ = ["Problem", "VerifyReport", "key_ranges", "verify_database", "verify_export"]


def verify_database(
    database: Database,
    trusted_keys: TrustedKeys,
    *,
    heads: list[Checkpoint] | None = None,
    every_records: int | None = None,
    interval_s: float | None = None,
    rhythm_from: int = 0,
) -> VerifyReport:
    """Verify the whole stored chain against trusted public keys (by key id), read-only.

    ``heads`` are signed checkpoints kept outside the database (checkpoint file, SIEM, witness);
    ``every_records`` is the writer's count rhythm (no longer run of records may be unsigned);
    ``interval_s`` the heartbeat, whose gaps are reported (a stopped writer, or deleted heads);
    ``rhythm_from`` the last seq written before the writer kept the rhythm (an older suite), whose
    records the rhythm check leaves out (docs/audit.md, "Trails from before the rhythm").
    """
    outside = heads or []
    with snapshot(database) as session:
        head = session.get(AuditChainHeadRow, 1)
        own = [
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
        checkpoints = merge_heads(own, outside)
        first = session.scalar(select(AuditRecordRow.seq).order_by(AuditRecordRow.seq).limit(1))
        # A purge leaves an anchor at the last record it deleted: the chain now starts right after it.
        anchors = [c for c in own if c.kind == "purge_anchor" and (first is None or c.seq < first)]
        base = anchors[-1] if anchors else None
        walk = ChainWalk(
            checkpoints,
            trusted_keys,
            expected_seq=base.seq + 1 if base else 1,
            expected_prev=base.head_hash if base else GENESIS_HASH,
            prev_from_checkpoint=base is not None,
            allow_gaps=False,
            every_records=every_records,
            rhythm_from=rhythm_from,
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
        deleted = _deleted_checkpoint(own, outside) if walk.problem is None else None
        if deleted is not None:
            walk.fail(deleted)
    gaps = time_gaps(checkpoints, interval_s) if interval_s else ()
    return report_of(walk, heads_checked=len(outside), gaps=gaps)


def _deleted_checkpoint(own: list[Checkpoint], outside: list[Checkpoint]) -> Problem | None:
    """A signed head kept outside that the database lacks: checkpoints were deleted from it.

    Every head outside was appended after its transaction committed, and a purge keeps the
    checkpoints (it deletes records only), so each of them must still be in the database.
    """
    stored = {(c.seq, c.head_hash, c.time, c.kind, c.signature) for c in own}
    for head in sorted(outside, key=lambda c: c.seq):
        if (head.seq, head.head_hash, head.time, head.kind, head.signature) not in stored:
            message = f"{head.named} is missing from the database: checkpoints were deleted there"
            return Problem("checkpoint_deleted", message, seq=head.seq)
    return None


def key_ranges(database: Database) -> dict[str, KeyRange]:
    """Each signing key's range in the stored checkpoints: its first one, and its key_retired one.

    For the key ranges file an external auditor is handed with an export (``suite audit export-keys``).
    """
    first: dict[str, tuple[int, str]] = {}
    retired: dict[str, tuple[int, str]] = {}
    with snapshot(database) as session:
        query = select(
            AuditCheckpointRow.key_id, AuditCheckpointRow.seq, AuditCheckpointRow.time, AuditCheckpointRow.kind
        )
        for key_id, seq, time, kind in session.execute(query):
            position = (seq, format_time(time))
            first[key_id] = min(first.get(key_id, position), position)
            if kind == "key_retired":
                retired[key_id] = min(retired.get(key_id, position), position)
    return {key_id: KeyRange(key_id, position, retired.get(key_id)) for key_id, position in first.items()}

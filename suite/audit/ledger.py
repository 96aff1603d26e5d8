"""Appending to the chain, in one transaction per batch, from any number of writers.

Every append locks the ``audit_chain_head`` row first (``SELECT ... FOR UPDATE`` on PostgreSQL;
on SQLite a no-op write takes the database's single write lock), reads the last seq and hash,
inserts the batch and moves the head. Writers on several gateway replicas therefore queue on
that row and keep one gap-free chain; a failed transaction leaves no trace, not even a seq.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import StatementError
from sqlalchemy.orm import Session

from suite.audit.chain import GENESIS_HASH, chain, format_time, to_row_values, utc
from suite.audit.keys import KeyRing, checkpoint_message
from suite.audit.tables import AuditChainHeadRow, AuditCheckpointRow, AuditRecordRow
from suite.config import AuditSettings
from suite.db import Database

_HEAD_ID = 1
CheckpointKind = Literal["periodic", "purge_anchor"]


@dataclass(frozen=True)
class Appended:
    """Where a batch landed in the chain."""

    first_seq: int
    last_seq: int
    checkpointed: bool


def dialect_of(session: Session) -> str:
    """ "sqlite" or "postgresql"."""
    return session.get_bind().dialect.name


def describe_error(exc: BaseException) -> str:
    """An error without the SQL and its parameters, which would carry records' content into a log."""
    cause = exc.orig if isinstance(exc, StatementError) and exc.orig is not None else exc
    text = str(cause).strip()
    return f"{type(cause).__name__}: {text.splitlines()[0][:200] if text else ''}"


def lock_head(session: Session, *, now: datetime) -> AuditChainHeadRow:
    """The chain head, locked until the transaction ends (created when missing)."""
    if dialect_of(session) == "sqlite":
        # pysqlite begins a transaction only at the first write, so a plain read first could go
        # stale before our inserts; this no-op write takes SQLite's write lock now.
        touch = update(AuditChainHeadRow).where(AuditChainHeadRow.id == _HEAD_ID).values(seq=AuditChainHeadRow.seq)
        session.execute(touch.execution_options(synchronize_session=False))
    query = select(AuditChainHeadRow).where(AuditChainHeadRow.id == _HEAD_ID).with_for_update()
    head = session.scalar(query)
    if head is None:
        _create_head(session, now=now)
        head = session.scalar(query.execution_options(populate_existing=True))
        assert head is not None
    return head


def _create_head(session: Session, *, now: datetime) -> None:
    # Normally created by the migration; rebuilt from the newest record or checkpoint if it was lost.
    record = session.execute(
        select(AuditRecordRow.seq, AuditRecordRow.record_hash).order_by(AuditRecordRow.seq.desc()).limit(1)
    ).first()
    checkpoint = session.execute(
        select(AuditCheckpointRow.seq, AuditCheckpointRow.head_hash).order_by(AuditCheckpointRow.seq.desc()).limit(1)
    ).first()
    seq, head_hash = max([(0, GENESIS_HASH), *(tuple(r) for r in (record, checkpoint) if r is not None)])
    values = {"id": _HEAD_ID, "seq": seq, "record_hash": head_hash, "checkpoint_seq": seq, "checkpoint_at": now}
    insert_into = postgresql.insert if dialect_of(session) == "postgresql" else sqlite.insert
    # Two replicas may both find it missing: the second insert does nothing and then waits on the lock.
    session.execute(insert_into(AuditChainHeadRow).values(values).on_conflict_do_nothing())


def append(
    session: Session, records: list[dict[str, Any]], *, keys: KeyRing, settings: AuditSettings, now: datetime
) -> Appended:
    """Chain prepared records (see chain.prepare) onto the head and insert them; checkpoint when due."""
    head = lock_head(session, now=now)
    first_seq = head.seq + 1
    seq, prev_hash = head.seq, head.record_hash
    rows = []
    for fields in records:
        seq += 1
        chained = chain(fields, seq=seq, prev_hash=prev_hash)
        prev_hash = chained["record_hash"]
        rows.append(to_row_values(chained))
    session.execute(insert(AuditRecordRow), rows)
    head.seq, head.record_hash = seq, prev_hash
    checkpointed = checkpoint_if_due(session, head, keys=keys, settings=settings, now=now)
    return Appended(first_seq, seq, checkpointed)


def checkpoint_if_due(
    session: Session,
    head: AuditChainHeadRow,
    *,
    keys: KeyRing,
    settings: AuditSettings,
    now: datetime,
    force: bool = False,
) -> bool:
    """Sign the head if records came since the last checkpoint and enough of them, or enough time, passed."""
    pending = head.seq - head.checkpoint_seq
    if pending <= 0:
        return False
    age_s = (utc(now) - utc(head.checkpoint_at)).total_seconds()
    if not force and pending < settings.checkpoint_every_records and age_s < settings.checkpoint_every_s:
        return False
    write_checkpoint(session, keys=keys, kind="periodic", seq=head.seq, head_hash=head.record_hash, now=now)
    head.checkpoint_seq, head.checkpoint_at = head.seq, now
    return True


def write_checkpoint(
    session: Session, *, keys: KeyRing, kind: CheckpointKind, seq: int, head_hash: str, now: datetime
) -> None:
    """Insert a checkpoint signed with the current key."""
    key = keys.current()
    moment = utc(now)
    message = checkpoint_message(kind=kind, seq=seq, head_hash=head_hash, time=format_time(moment))
    session.add(
        AuditCheckpointRow(
            seq=seq, head_hash=head_hash, time=moment, key_id=key.key_id, signature=key.sign(message), kind=kind
        )
    )


@contextmanager
def snapshot(database: Database) -> Iterator[Session]:
    """A session whose reads all see one consistent state, even while writers append and purge."""
    with database.session() as session:
        if database.engine.dialect.name == "postgresql":
            session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        else:
            # pysqlite would run each SELECT in its own implicit snapshot; BEGIN makes them share one.
            session.connection().exec_driver_sql("BEGIN")
        yield session

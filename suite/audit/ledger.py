"""Appending to the chain, in one transaction per batch, from any number of writers.

Every append locks the ``audit_chain_head`` row first (``SELECT ... FOR UPDATE`` on PostgreSQL;
on SQLite a no-op write takes the database's single write lock), reads the last seq and hash,
inserts the batch and moves the head. Writers on several gateway replicas therefore queue on
that row and keep one gap-free chain; a failed transaction leaves no trace, not even a seq.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, cast

from sqlalchemy import JSON, Table, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import StatementError
from sqlalchemy.orm import Session

from suite.audit.chain import GENESIS_HASH, RECORD_FIELDS, chain, format_time, to_row_values, utc
from suite.audit.heads import HeadLog
from suite.audit.keys import KeyRing, checkpoint_message
from suite.audit.tables import AuditChainHeadRow, AuditCheckpointRow, AuditRecordRow
from suite.config import AuditSettings
from suite.db import Database

_HEAD_ID = 1
# Core statements on the tables: the ORM's unit of work costs more per row than the insert itself.
_HEAD = cast(Table, AuditChainHeadRow.__table__)
_RECORDS = cast(Table, AuditRecordRow.__table__)
_CHECKPOINTS = cast(Table, AuditCheckpointRow.__table__)
_HEAD_COLUMNS = (_HEAD.c.seq, _HEAD.c.record_hash, _HEAD.c.checkpoint_seq, _HEAD.c.checkpoint_at)
_JSON_COLUMNS = frozenset(column.name for column in _RECORDS.columns if isinstance(column.type, JSON))
_THE_HEAD = _HEAD.c.id == _HEAD_ID
_LOCK_HEAD = select(*_HEAD_COLUMNS).where(_THE_HEAD).with_for_update()
# pysqlite begins a transaction only at the first write, so a plain read first could go stale
# before our inserts; this no-op write takes SQLite's write lock and reads the head in one go.
_LOCK_HEAD_SQLITE = update(_HEAD).where(_THE_HEAD).values(seq=_HEAD.c.seq).returning(*_HEAD_COLUMNS)
# Built once: constructing a statement costs more than running it (values come as parameters).
_MOVE_HEAD = update(_HEAD).where(_THE_HEAD)
_INSERT_RECORDS = insert(_RECORDS)
_INSERT_CHECKPOINT = insert(_CHECKPOINTS)
_COPY_RECORDS = f"COPY audit_records ({', '.join(RECORD_FIELDS)}) FROM STDIN"
_JSON_TEXT = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)
# periodic: records came (every checkpoint_every_records, or checkpoint_every_s after the last one);
# heartbeat: none came for checkpoint_every_s, the same head signed again at a new time;
# key_retired: the outgoing key's last signature at a key rotation (it may sign nothing after it).
CheckpointKind = Literal["periodic", "heartbeat", "purge_anchor", "key_retired"]


@dataclass(frozen=True)
class Appended:
    """Where a batch landed in the chain."""

    first_seq: int
    last_seq: int
    checkpointed: int


@dataclass
class ChainHead:
    """The values of the locked ``audit_chain_head`` row (see lock_head)."""

    seq: int
    record_hash: str
    checkpoint_seq: int
    checkpoint_at: datetime


def dialect_of(session: Session) -> str:
    """ "sqlite" or "postgresql"."""
    return session.get_bind().dialect.name


def describe_error(exc: BaseException) -> str:
    """An error without the SQL and its parameters, which would carry records' content into a log."""
    cause = exc.orig if isinstance(exc, StatementError) and exc.orig is not None else exc
    text = str(cause).strip()
    return f"{type(cause).__name__}: {text.splitlines()[0][:200] if text else ''}"


def lock_head(session: Session, *, now: datetime) -> ChainHead:
    """The chain head, locked until the transaction ends (created when missing)."""
    query = _LOCK_HEAD_SQLITE if dialect_of(session) == "sqlite" else _LOCK_HEAD
    row = session.execute(query).first()
    if row is None:
        _create_head(session, now=now)
        row = session.execute(query).first()
        assert row is not None
    return ChainHead(*row)


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
    session: Session,
    records: list[dict[str, Any]],
    *,
    keys: KeyRing,
    settings: AuditSettings,
    now: datetime,
    heads: HeadLog | None = None,
) -> Appended:
    """Chain prepared records (see chain.prepare) onto the head and insert them; checkpoint when due.

    A checkpoint is signed at exactly every ``checkpoint_every_records``-th record since the last
    one, inside a batch too, so no run of more records than that is ever unsigned: ``verify``
    checks that rhythm, and a deleted checkpoint shows as a run too long.
    """
    head = lock_head(session, now=now)
    first_seq = head.seq + 1
    chained = []
    signed = 0
    for fields in records:
        linked = chain(fields, seq=head.seq + 1, prev_hash=head.record_hash)
        head.seq, head.record_hash = linked["seq"], linked["record_hash"]
        chained.append(linked)
        if head.seq - head.checkpoint_seq >= settings.checkpoint_every_records:
            write_checkpoint(
                session, keys=keys, kind="periodic", seq=head.seq, head_hash=head.record_hash, now=now, heads=heads
            )
            head.checkpoint_seq, head.checkpoint_at = head.seq, now
            signed += 1
    _insert_records(session, chained)
    session.execute(_MOVE_HEAD, {"seq": head.seq, "record_hash": head.record_hash})
    if signed:
        session.execute(_MOVE_HEAD, {"checkpoint_seq": head.checkpoint_seq, "checkpoint_at": now})
    signed += checkpoint_if_due(session, head, keys=keys, settings=settings, now=now, heads=heads)
    return Appended(first_seq, head.seq, signed)


def _insert_records(session: Session, chained: list[dict[str, Any]]) -> None:
    """One statement for the whole batch: COPY on PostgreSQL (psycopg), else an executemany INSERT."""
    connection = session.connection()
    if connection.dialect.driver != "psycopg":
        session.execute(_INSERT_RECORDS, [to_row_values(fields) for fields in chained])
        return
    # COPY costs a third of the CPU of a pipelined INSERT per row, in this process and in the server.
    # JSON columns go in as their JSON text: the server stores json text as given.
    driver_connection: Any = connection.connection.driver_connection
    with driver_connection.cursor() as cursor, cursor.copy(_COPY_RECORDS) as copy:
        for fields in chained:
            values = to_row_values(fields)
            copy.write_row(
                [_JSON_TEXT.encode(values[name]) if name in _JSON_COLUMNS else values[name] for name in RECORD_FIELDS]
            )


def checkpoint_if_due(
    session: Session,
    head: ChainHead,
    *,
    keys: KeyRing,
    settings: AuditSettings,
    now: datetime,
    force: bool = False,
    heartbeat: bool = False,
    heads: HeadLog | None = None,
) -> bool:
    """Sign the head if records came since the last checkpoint and enough of them, or enough time, passed.

    With ``heartbeat``, an unchanged head is signed again once ``checkpoint_every_s`` passed, so
    that an idle trail still leaves a signed head outside the database at that rhythm.
    """
    pending = head.seq - head.checkpoint_seq
    age_s = (utc(now) - utc(head.checkpoint_at)).total_seconds()
    if pending <= 0 and not (heartbeat and age_s >= settings.checkpoint_every_s):
        return False
    if not force and pending < settings.checkpoint_every_records and age_s < settings.checkpoint_every_s:
        return False
    kind: CheckpointKind = "periodic" if pending > 0 else "heartbeat"
    write_checkpoint(session, keys=keys, kind=kind, seq=head.seq, head_hash=head.record_hash, now=now, heads=heads)
    head.checkpoint_seq, head.checkpoint_at = head.seq, now
    session.execute(_MOVE_HEAD, {"checkpoint_seq": head.seq, "checkpoint_at": now})
    return True


def sign_key_retirement(
    session: Session, head: ChainHead, *, keys: KeyRing, now: datetime, heads: HeadLog | None
) -> None:
    """Sign the head with the current key as that key's last checkpoint (before a rotation).

    Retirement is stated by the outgoing key itself, so verify can refuse anything it signs later
    while other keys (another replica's, say) sign on undisturbed.
    """
    write_checkpoint(
        session, keys=keys, kind="key_retired", seq=head.seq, head_hash=head.record_hash, now=now, heads=heads
    )
    head.checkpoint_seq, head.checkpoint_at = head.seq, now
    session.execute(_MOVE_HEAD, {"checkpoint_seq": head.seq, "checkpoint_at": now})


def write_checkpoint(
    session: Session,
    *,
    keys: KeyRing,
    kind: CheckpointKind,
    seq: int,
    head_hash: str,
    now: datetime,
    heads: HeadLog | None = None,
) -> None:
    """Insert a checkpoint signed with the current key (and append it to heads once committed)."""
    key = keys.current()
    moment = utc(now)
    time = format_time(moment)
    message = checkpoint_message(kind=kind, seq=seq, head_hash=head_hash, time=time)
    values = {"seq": seq, "head_hash": head_hash, "time": moment, "key_id": key.key_id, "kind": kind}
    signature = key.sign(message)
    session.execute(_INSERT_CHECKPOINT, values | {"signature": signature})
    if heads is not None:
        item = {"seq": seq, "time": time, "head_hash": head_hash, "key_id": key.key_id, "signature": signature}
        heads.stage(session, item | {"kind": kind})


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

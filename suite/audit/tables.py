"""Audit tables: the chained records, signed checkpoints, legal holds and the chain head."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from suite.db import Base

# JSON (text), not JSONB, on PostgreSQL: JSONB re-normalises numbers (1e16 comes back as an
# integer), which would change the canonical form a record was hashed in. Queries cast to JSONB.

# The console's filter columns, each indexed together with seq (see migration a0003).
_FILTERED = ("time", "event_class", "action", "subject", "model", "status")


class AuditRecordRow(Base):
    """One record of the chain; ``seq`` is assigned by the writer under the head lock, gap-free."""

    __tablename__ = "audit_records"
    # Migration a0003: each filter column with seq (a page is one backward index scan), and on
    # PostgreSQL trigram indexes for the substring search of prompt and answer.
    __table_args__ = (
        *(Index(f"ix_audit_records_{name}_seq", name, "seq") for name in _FILTERED),
        *(
            Index(f"ix_audit_records_{name}_trgm", name, postgresql_using="gin", postgresql_ops={name: "gin_trgm_ops"})
            for name in ("prompt", "answer")
        ),
    )

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    record_id: Mapped[str] = mapped_column(String(36), unique=True)
    time: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    event_class: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String)
    request_id: Mapped[str | None] = mapped_column(String)
    subject: Mapped[str | None] = mapped_column(String)
    roles: Mapped[list[str]] = mapped_column(JSON)
    auth_method: Mapped[str | None] = mapped_column(String)
    client_address: Mapped[str | None] = mapped_column(String)
    route: Mapped[str | None] = mapped_column(String)
    model: Mapped[str | None] = mapped_column(String)
    backend: Mapped[str | None] = mapped_column(String)
    collections: Mapped[list[str]] = mapped_column(JSON)
    chunk_ids: Mapped[list[str]] = mapped_column(JSON)
    decision: Mapped[str | None] = mapped_column(String(8))
    decision_rule: Mapped[str | None] = mapped_column(String)
    verdicts: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16))
    http_status: Mapped[int | None] = mapped_column(BigInteger)
    prompt_tokens: Mapped[int | None] = mapped_column(BigInteger)
    completion_tokens: Mapped[int | None] = mapped_column(BigInteger)
    latency_ms: Mapped[float | None] = mapped_column(Float)
    content_policy: Mapped[str] = mapped_column(String(8))
    prompt: Mapped[str | None] = mapped_column(Text)
    answer: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64))
    record_hash: Mapped[str] = mapped_column(String(64))


class AuditCheckpointRow(Base):
    """A signature over (kind, seq, head hash, time): proves the chain up to ``seq`` existed as it was."""

    __tablename__ = "audit_checkpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    seq: Mapped[int] = mapped_column(BigInteger, index=True)
    head_hash: Mapped[str] = mapped_column(String(64))
    time: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    key_id: Mapped[str] = mapped_column(String(16))
    signature: Mapped[str] = mapped_column(String(128))  # hex of the 64-byte Ed25519 signature
    kind: Mapped[str] = mapped_column(String(16))  # suite.audit.ledger.CheckpointKind


class LegalHoldRow(Base):
    """Records of a subject and/or a time range that no purge may delete until released."""

    __tablename__ = "legal_holds"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    subject: Mapped[str | None] = mapped_column(String)
    time_from: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    time_to: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reason: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    released_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AuditChainHeadRow(Base):
    """The one row every writer locks: the last seq and hash, and when the chain was last checkpointed.

    Locking it serialises appends from every gateway replica, so one database keeps one gap-free chain.
    """

    __tablename__ = "audit_chain_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger)
    record_hash: Mapped[str] = mapped_column(String(64))
    checkpoint_seq: Mapped[int] = mapped_column(BigInteger)
    checkpoint_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

"""audit: chained records, signed checkpoints, legal holds, chain head

Revision ID: a0001
Revises:
Create Date: 2026-11-24 12:00:00.000000
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "a0001"
down_revision = None
branch_labels = ("audit",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_records",
        # Assigned by the writer under the chain-head lock: gap-free, never reused.
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("record_id", sa.String(length=36), nullable=False),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("event_class", sa.String(length=32), nullable=False),
        sa.Column("action", sa.String(), nullable=False),
        sa.Column("request_id", sa.String(), nullable=True),
        sa.Column("subject", sa.String(), nullable=True),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("auth_method", sa.String(), nullable=True),
        sa.Column("client_address", sa.String(), nullable=True),
        sa.Column("route", sa.String(), nullable=True),
        sa.Column("model", sa.String(), nullable=True),
        sa.Column("backend", sa.String(), nullable=True),
        sa.Column("collections", sa.JSON(), nullable=False),
        sa.Column("chunk_ids", sa.JSON(), nullable=False),
        sa.Column("decision", sa.String(length=8), nullable=True),
        sa.Column("decision_rule", sa.String(), nullable=True),
        sa.Column("verdicts", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("http_status", sa.BigInteger(), nullable=True),
        sa.Column("prompt_tokens", sa.BigInteger(), nullable=True),
        sa.Column("completion_tokens", sa.BigInteger(), nullable=True),
        sa.Column("latency_ms", sa.Float(), nullable=True),
        sa.Column("content_policy", sa.String(length=8), nullable=False),
        sa.Column("prompt", sa.Text(), nullable=True),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("record_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("record_id"),
    )
    with op.batch_alter_table("audit_records", schema=None) as batch_op:
        for column in ("time", "event_class", "action", "subject", "model", "status"):
            batch_op.create_index(batch_op.f(f"ix_audit_records_{column}"), [column], unique=False)

    op.create_table(
        "audit_checkpoints",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("head_hash", sa.String(length=64), nullable=False),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("signature", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("audit_checkpoints", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_checkpoints_seq"), ["seq"], unique=False)

    op.create_table(
        "legal_holds",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("subject", sa.String(), nullable=True),
        sa.Column("time_from", sa.DateTime(timezone=True), nullable=True),
        sa.Column("time_to", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )

    head = op.create_table(
        "audit_chain_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("record_hash", sa.String(length=64), nullable=False),
        sa.Column("checkpoint_seq", sa.BigInteger(), nullable=False),
        sa.Column("checkpoint_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    # The genesis head: no records yet, the previous hash of record 1 is 64 zeros.
    op.bulk_insert(
        head,
        [{"id": 1, "seq": 0, "record_hash": "0" * 64, "checkpoint_seq": 0, "checkpoint_at": datetime.now(UTC)}],
    )


def downgrade() -> None:
    op.drop_table("audit_chain_head")
    op.drop_table("legal_holds")
    with op.batch_alter_table("audit_checkpoints", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_checkpoints_seq"))
    op.drop_table("audit_checkpoints")
    with op.batch_alter_table("audit_records", schema=None) as batch_op:
        for column in ("time", "event_class", "action", "subject", "model", "status"):
            batch_op.drop_index(batch_op.f(f"ix_audit_records_{column}"))
    op.drop_table("audit_records")

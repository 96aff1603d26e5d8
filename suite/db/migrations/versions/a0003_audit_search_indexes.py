"""audit: search indexes (filter column + seq; trigram indexes on prompt and answer on PostgreSQL)

Revision ID: a0003
Revises: a0002
Create Date: 2026-11-26 10:00:00.000000
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from alembic import op

revision = "a0003"
down_revision = "a0002"
branch_labels = None
depends_on = None

log = logging.getLogger(__name__)

# The console filters on one of these and pages newest first by seq: with seq in the index, a page is
# one backward index scan (no sort, no heap visit for rows that do not match), and a time range can
# be bounded to its seqs by an index-only scan (see suite.audit.query).
FILTERED = ("time", "event_class", "action", "subject", "model", "status")
TEXT = ("prompt", "answer")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        with op.batch_alter_table("audit_records", schema=None) as batch_op:
            for column in FILTERED:
                batch_op.drop_index(f"ix_audit_records_{column}")
                batch_op.create_index(f"ix_audit_records_{column}_seq", [column, "seq"], unique=False)
        # SQLite scans for text (see docs/design.md, Audit): the embedded default keeps a small trail.
        return
    # IF NOT EXISTS: on a large trail an operator builds these beforehand with CREATE INDEX
    # CONCURRENTLY (runbooks/audit-indexes.md), so that this step does not block writes.
    for column in FILTERED:
        op.execute(f'CREATE INDEX IF NOT EXISTS ix_audit_records_{column}_seq ON audit_records ("{column}", seq)')
        op.execute(f"DROP INDEX IF EXISTS ix_audit_records_{column}")
    available = op.get_bind().execute(sa.text("SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'"))
    if available.first() is None:
        log.warning("pg_trgm is not installed (postgresql-contrib): audit text search will scan the table")
        return
    # Trusted since PostgreSQL 13: the database owner may create it, no superuser needed.
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for column in TEXT:
        index = f"ix_audit_records_{column}_trgm"
        op.execute(f"CREATE INDEX IF NOT EXISTS {index} ON audit_records USING gin ({column} gin_trgm_ops)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for column in TEXT:
            op.execute(f"DROP INDEX IF EXISTS ix_audit_records_{column}_trgm")
    with op.batch_alter_table("audit_records", schema=None) as batch_op:
        for column in FILTERED:
            batch_op.drop_index(f"ix_audit_records_{column}_seq")
            batch_op.create_index(f"ix_audit_records_{column}", [column], unique=False)

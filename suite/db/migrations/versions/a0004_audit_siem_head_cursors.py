"""audit: SIEM forwarding of signed heads (the last checkpoint id sent, per destination)

Revision ID: a0004
Revises: a0003
Create Date: 2026-12-02 19:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "a0004"
down_revision = "a0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # NULL: no head sent yet; the forwarder then starts with the oldest checkpoint (every head kept).
    with op.batch_alter_table("audit_siem_cursors", schema=None) as batch_op:
        batch_op.add_column(sa.Column("checkpoint_id", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("audit_siem_cursors", schema=None) as batch_op:
        batch_op.drop_column("checkpoint_id")

"""Alembic environment: migrations run on the connection the suite hands over (see suite.db.migrate)."""

from __future__ import annotations

from alembic import context

from suite.db.models import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()

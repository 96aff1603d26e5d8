"""The suite's relational database: SQLite (WAL) by default, PostgreSQL in production, one SQLAlchemy layer."""

from suite.db.engine import Base, Database, migrate

__all__ = ["Base", "Database", "migrate"]

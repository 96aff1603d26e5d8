"""Every table of the suite, imported so that Alembic sees the whole schema."""

from suite.auth.tables import ApiKeyRow, QuotaCounterRow
from suite.db.engine import Base

__all__ = ["ApiKeyRow", "Base", "QuotaCounterRow"]

"""Every table of the suite, imported so that Alembic sees the whole schema."""

from suite.audit.siem.tables import SiemCursorRow
from suite.audit.tables import AuditChainHeadRow, AuditCheckpointRow, AuditRecordRow, LegalHoldRow
from suite.auth.tables import ApiKeyRow, QuotaCounterRow, WebSessionRow
from suite.db.engine import Base
from suite.registry.tables import ModelPromotionRow, ModelRegistryRevisionRow, ModelVersionRow
from suite.web.tables import ConversationRow, FeedbackRow, MessageRow

__all__ = [
    "ApiKeyRow",
    "AuditChainHeadRow",
    "AuditCheckpointRow",
    "AuditRecordRow",
    "Base",
    "ConversationRow",
    "FeedbackRow",
    "LegalHoldRow",
    "MessageRow",
    "ModelPromotionRow",
    "ModelRegistryRevisionRow",
    "ModelVersionRow",
    "QuotaCounterRow",
    "SiemCursorRow",
    "WebSessionRow",
]

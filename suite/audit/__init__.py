"""The tamper-evident audit trail: durable batched writes, a hash chain, signed checkpoints,
verification, search and export, retention with legal holds,
forwarding to SIEMs."""

from suite.audit.events import AuditEvent, apply_content_policy, content_policy_for, principal_fields
from suite.audit.export import ExportFormat
from suite.audit.filters import AuditFilters
from suite.audit.keys import KeyRing, SigningKey, TrustedKeys, key_dir_of, load_public_keys
from suite.audit.query import AuditPage, AuditQuery, AuditRecord
from suite.audit.retention import LegalHold, LegalHolds, PurgeReport
from suite.audit.siem import ForwardReport, SiemForwarder
from suite.audit.trail import AuditTrail, WriterStats
from suite.audit.verify import Problem, VerifyReport, verify_database, verify_export

__all__ = [
    "AuditEvent",
    "AuditFilters",
    "AuditPage",
    "AuditQuery",
    "AuditRecord",
    "AuditTrail",
    "ExportFormat",
    "ForwardReport",
    "KeyRing",
    "LegalHold",
    "LegalHolds",
    "Problem",
    "PurgeReport",
    "SiemForwarder",
    "SigningKey",
    "TrustedKeys",
    "VerifyReport",
    "WriterStats",
    "apply_content_policy",
    "content_policy_for",
    "key_dir_of",
    "load_public_keys",
    "principal_fields",
    "verify_database",
    "verify_export",
]

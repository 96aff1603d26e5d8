"""The tamper-evident audit trail: durable batched writes, a hash chain, signed checkpoints,
verification, search and export, retention with legal holds,
forwarding to SIEMs, witnessing other trails' heads.

Names are imported on first use (PEP 562), so that the standalone verifier (``suite-verify``,
``suite.audit.offline``) loads neither the database nor the settings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from suite.lazy import lazy_names

if TYPE_CHECKING:
    from suite.audit.events import AuditEvent, apply_content_policy, content_policy_for, principal_fields
    from suite.audit.export import ExportFormat
    from suite.audit.filters import AuditFilters
    from suite.audit.heads import HeadLog, read_heads
    from suite.audit.keys import KeyRing, SigningKey, TrustedKeys, key_dir_of, load_public_keys
    from suite.audit.query import AuditPage, AuditQuery, AuditRecord
    from suite.audit.retention import LegalHold, LegalHolds, PurgeReport
    from suite.audit.siem import ForwardReport, SiemForwarder
    from suite.audit.stats import AuditStats, Bucket, Usage
    from suite.audit.trail import AuditTrail, WriterStats
    from suite.audit.verify import Problem, VerifyReport, verify_database, verify_export
    from suite.audit.witness import UnknownOrigin, Witness

_WHERE = {
    "AuditEvent": "events",
    "apply_content_policy": "events",
    "content_policy_for": "events",
    "principal_fields": "events",
    "ExportFormat": "export",
    "AuditFilters": "filters",
    "HeadLog": "heads",
    "read_heads": "heads",
    "KeyRing": "keys",
    "SigningKey": "keys",
    "TrustedKeys": "keys",
    "key_dir_of": "keys",
    "load_public_keys": "keys",
    "AuditPage": "query",
    "AuditQuery": "query",
    "AuditRecord": "query",
    "LegalHold": "retention",
    "LegalHolds": "retention",
    "PurgeReport": "retention",
    "ForwardReport": "siem",
    "SiemForwarder": "siem",
    "AuditStats": "stats",
    "Bucket": "stats",
    "Usage": "stats",
    "AuditTrail": "trail",
    "WriterStats": "trail",
    "Problem": "verify",
    "VerifyReport": "verify",
    "verify_database": "verify",
    "verify_export": "verify",
    "UnknownOrigin": "witness",
    "Witness": "witness",
}

__all__ = [
    "AuditEvent",
    "AuditFilters",
    "AuditPage",
    "AuditQuery",
    "AuditRecord",
    "AuditStats",
    "AuditTrail",
    "Bucket",
    "ExportFormat",
    "ForwardReport",
    "HeadLog",
    "KeyRing",
    "LegalHold",
    "LegalHolds",
    "Problem",
    "PurgeReport",
    "SiemForwarder",
    "SigningKey",
    "TrustedKeys",
    "UnknownOrigin",
    "Usage",
    "VerifyReport",
    "Witness",
    "WriterStats",
    "apply_content_policy",
    "content_policy_for",
    "key_dir_of",
    "load_public_keys",
    "principal_fields",
    "read_heads",
    "verify_database",
    "verify_export",
]


__getattr__ = lazy_names(__name__, _WHERE)

"""The stored fields of a record, spelled out so that verifying needs no settings or event models.

A test holds ``EVENT_FIELDS`` equal to ``AuditEvent.model_fields``: a new event field must be
added here too (the canonical form covers every stored field).
"""

EVENT_FIELDS: tuple[str, ...] = (
    "time",
    "event_class",
    "action",
    "request_id",
    "subject",
    "roles",
    "auth_method",
    "client_address",
    "route",
    "model",
    "backend",
    "collections",
    "chunk_ids",
    "decision",
    "decision_rule",
    "verdicts",
    "status",
    "http_status",
    "prompt_tokens",
    "completion_tokens",
    "latency_ms",
    "content_policy",
    "prompt",
    "answer",
    "details",
)
# Every column of audit_records, in the order exports show them.
RECORD_FIELDS: tuple[str, ...] = ("seq", "record_id", *EVENT_FIELDS, "prev_hash", "record_hash")

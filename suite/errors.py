"""Domain errors of the suite.

Services raise these; the gateway maps them to HTTP and the OpenAI error shape in one
place (``suite.gateway.errors``), the CLI turns them into messages.

    SuiteError
     +-- InvalidRequest          400  the request is malformed or breaks the schema
     +-- AuthenticationFailed    401  no or unknown credentials
     +-- PermissionDenied        403  authenticated, not allowed
     +-- ModelNotFound           404  no model or alias of that name
     +-- PayloadTooLarge         413  body above gateway.max_body_bytes
     +-- QuotaExceeded           429  request or token quota used up
     +-- BackendUnavailable      503  no healthy backend could take the request
     +-- AuditUnavailable        503  the audit trail cannot record, so nothing is answered
     +-- UpstreamTimeout         504  a backend did not answer in time
     +-- UpstreamError           502  a backend answered with something unusable
     +-- ClientDisconnected      499  the caller went away; nothing is sent
     +-- DocumentUnreadable      422  a document to ingest is corrupt or of an unknown kind
     +-- VectorStoreUnavailable  503  the vector store (Qdrant) cannot be opened or reached
     +-- BundleRefused           400  a model bundle failed verification or the import policy
     +-- ModelVersionNotFound    404  no such model version in the registry
     +-- RegistryConflict        409  the registry cannot make that change (e.g. remove a serving version)
     +-- WitnessConflict         409  a signed head differs from the one a witness holds at that seq
     +-- ContentBlocked          400  a guardrail refused the prompt or the answer
     +-- OutputSchemaViolation   422  the answer breaks the requested response_format schema
     +-- GuardrailUnavailable    503  a fail-closed guardrail (Llama Guard) could not decide
"""

from __future__ import annotations

from typing import Any


def error_envelope(
    message: str, error_type: str = "server_error", *, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    """The OpenAI error envelope ``{"error": {message, type, param, code}}``: the one builder of it.

    Used by the gateway's exception handlers, its ASGI middleware (413 before the body is read),
    error events inside streams (serving, guardrails) and the ingest progress stream.
    """
    return {"error": {"message": message, "type": error_type, "param": param, "code": code}}


class SuiteError(Exception):
    """Base of every error the suite reports to a caller."""

    status_code = 500
    error_type = "server_error"
    code: str | None = None

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


class InvalidRequest(SuiteError):
    status_code = 400
    error_type = "invalid_request_error"
    code = "invalid_request"


class AuthenticationFailed(SuiteError):
    status_code = 401
    error_type = "authentication_error"
    code = "invalid_api_key"


class PermissionDenied(SuiteError):
    status_code = 403
    error_type = "permission_error"
    code = "permission_denied"

    def __init__(self, message: str, *, decision: object = None) -> None:
        super().__init__(message)
        # The policy decision (suite.auth.policy.Decision) behind the refusal, for the audit trail.
        self.decision = decision


class ModelNotFound(SuiteError):
    status_code = 404
    error_type = "invalid_request_error"
    code = "model_not_found"

    def __init__(self, model: str) -> None:
        super().__init__(f"The model '{model}' does not exist or you do not have access to it.", param="model")


class PayloadTooLarge(SuiteError):
    status_code = 413
    error_type = "invalid_request_error"
    code = "request_too_large"


class QuotaExceeded(SuiteError):
    status_code = 429
    error_type = "rate_limit_error"
    code = "quota_exceeded"

    def __init__(self, message: str, *, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class BackendUnavailable(SuiteError):
    status_code = 503
    error_type = "server_error"
    code = "backend_unavailable"

    def __init__(self, message: str, *, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class AuditUnavailable(SuiteError):
    status_code = 503
    error_type = "server_error"
    code = "audit_unavailable"

    def __init__(self, message: str = "The audit trail cannot record this request; it was not processed.") -> None:
        super().__init__(message)


class UpstreamTimeout(SuiteError):
    status_code = 504
    error_type = "server_error"
    code = "upstream_timeout"


class UpstreamError(SuiteError):
    status_code = 502
    error_type = "server_error"
    code = "upstream_error"


class ClientDisconnected(SuiteError):
    status_code = 499
    error_type = "client_closed_request"
    code = "client_disconnected"


class BundleRefused(SuiteError):
    """A bundle failed verification or the import policy; the message names the problem."""

    status_code = 400
    error_type = "invalid_request_error"
    code = "bundle_refused"


class ModelVersionNotFound(SuiteError):
    status_code = 404
    error_type = "invalid_request_error"
    code = "model_version_not_found"


class RegistryConflict(SuiteError):
    status_code = 409
    error_type = "invalid_request_error"
    code = "registry_conflict"


class WitnessConflict(SuiteError):
    """A head signed over another hash than the head the witness already holds at that seq: the trail was
    rewritten (or its key signed two histories). The witness keeps what it holds and refuses this one."""

    status_code = 409
    error_type = "invalid_request_error"
    code = "witness_conflict"


class ContentBlocked(SuiteError):
    """A guardrail refused the prompt or the answer; the message names the check and its reason."""

    status_code = 400
    error_type = "invalid_request_error"
    code = "content_filter"


class OutputSchemaViolation(SuiteError):
    """The model's answer does not satisfy the JSON schema the request asked for."""

    status_code = 422
    error_type = "invalid_request_error"
    code = "response_format_violation"


class GuardrailUnavailable(SuiteError):
    """A guardrail set to fail closed could not reach a verdict (timeout, load failure)."""

    status_code = 503
    error_type = "server_error"
    code = "guardrail_unavailable"


class DocumentUnreadable(SuiteError):
    """A document cannot be loaded (corrupt, encrypted, unknown kind); ingest reports it by name and goes on."""

    status_code = 422
    error_type = "invalid_request_error"
    code = "document_unreadable"


class VectorStoreUnavailable(SuiteError):
    """Qdrant cannot be opened (local path held by another process) or reached (server)."""

    status_code = 503
    error_type = "server_error"
    code = "vector_store_unavailable"


class RestoreFailed(SuiteError):
    """A restored, migrated or snapshotted collection does not match its source (counts or a sample query).

    The CLI says so with exit status 3 (suite.rag.cli), distinct from a refused request (1) or a
    usage error (2), so a backup runbook can tell "the copy is wrong" from "the command was wrong".
    """

    status_code = 500
    error_type = "server_error"
    code = "restore_failed"

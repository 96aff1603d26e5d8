"""Every error leaves the gateway in the OpenAI shape ``{"error": {message, type, param, code}}``.

The one place where domain errors (``suite.errors``) become HTTP. Unexpected exceptions
are logged with their traceback and answered with a generic 500: never a stack trace to
a client.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from suite.audit import AuditEvent, AuditTrail, principal_fields
from suite.errors import (
    AuditUnavailable,
    AuthenticationFailed,
    BackendUnavailable,
    PermissionDenied,
    QuotaExceeded,
    SuiteError,
    error_envelope,
)

log = structlog.get_logger(__name__)

_HTTP_ERROR_TYPES = {401: "authentication_error", 403: "permission_error"}
_HTTP_ERROR_CODES = {404: "not_found", 405: "method_not_allowed", 413: "request_too_large"}


def error_response(exc: SuiteError) -> JSONResponse:
    """A domain error as an HTTP response."""
    headers = {}
    if isinstance(exc, BackendUnavailable | QuotaExceeded):
        headers["retry-after"] = str(exc.retry_after_s)
    elif exc.status_code == 401:
        headers["www-authenticate"] = "Bearer"
    return JSONResponse(
        error_envelope(exc.message, exc.error_type, param=exc.param, code=exc.code),
        status_code=exc.status_code,
        headers=headers,
    )


def _suite_error_handler(audit: AuditTrail) -> Callable[[Request, Exception], Awaitable[JSONResponse]]:
    async def suite_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, SuiteError)
        if isinstance(exc, AuthenticationFailed | PermissionDenied | QuotaExceeded):
            await _record_denial(audit, request, exc)
        return error_response(exc)

    return suite_error


async def _record_denial(audit: AuditTrail, request: Request, exc: SuiteError) -> None:
    """Every refusal of a caller is an audit record: who (if known), what, and the rule or reason."""
    principal = getattr(request.state, "principal", None)
    decision = getattr(exc, "decision", None)
    event = AuditEvent(
        event_class="auth",
        action="denied",
        request_id=getattr(request.state, "request_id", None),
        client_address=request.client.host if request.client else None,
        route=request.url.path,
        model=getattr(decision, "model", None),
        decision="deny",
        decision_rule=getattr(decision, "rule", None),
        status="denied",
        http_status=exc.status_code,
        details={"reason": exc.message, "code": exc.code},
        **principal_fields(principal),
    )
    try:
        await audit.record(event)
    except AuditUnavailable:
        # The refusal stands either way; the trail's outage is logged by the trail itself.
        log.error("denial not recorded: audit trail unavailable", request_id=event.request_id)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request", "type": ""}
    # loc starts with where the value came from ("body", "query"); the rest is the field path.
    path = [str(part) for part in first["loc"][1:]]
    param = ".".join(path) or None
    if first["type"] == "json_invalid":
        message = "The request body is not valid JSON."
        param = None
    elif first["type"] == "missing":
        message = f"Missing required field '{param}'."
    elif first["type"] == "extra_forbidden":
        message = f"Unknown field '{param}'."
    else:
        message = f"Invalid value for '{param}': {first['msg']}." if param else f"Invalid request: {first['msg']}."
    return JSONResponse(error_envelope(message, "invalid_request_error", param=param, code="invalid_request"), 400)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    error_type = _HTTP_ERROR_TYPES.get(exc.status_code, "invalid_request_error")
    message = exc.detail if isinstance(exc.detail, str) else "Request refused."
    return JSONResponse(
        error_envelope(message, error_type, code=_HTTP_ERROR_CODES.get(exc.status_code)),
        status_code=exc.status_code,
        headers=exc.headers,
    )


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", path=request.url.path)
    return JSONResponse(error_envelope("Internal server error.", "server_error", code="internal_error"), 500)


def install_error_handlers(app: FastAPI, audit: AuditTrail) -> None:
    """Map domain errors, validation errors, HTTP errors and anything unexpected to the OpenAI shape.

    Refusals of a caller (401, 403, 429) are recorded on ``audit``.
    """
    install_plain_error_handlers(app)
    app.add_exception_handler(SuiteError, _suite_error_handler(audit))


def install_plain_error_handlers(app: FastAPI) -> None:
    """The OpenAI error shape for domain, validation, HTTP and unexpected errors, recording nothing
    (an app without an audit trail of its own: the standalone witness)."""
    app.add_exception_handler(SuiteError, _plain_suite_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)


async def _plain_suite_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, SuiteError)
    return error_response(exc)

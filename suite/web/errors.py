"""The web front ends' domain error (mapped to HTTP by the gateway's handlers like every SuiteError).

SuiteError
 +-- ConversationNotFound   404  no such conversation or answer of this user (also: someone else's)
"""

from __future__ import annotations

from suite.errors import SuiteError


class ConversationNotFound(SuiteError):
    status_code = 404
    error_type = "invalid_request_error"
    code = "not_found"

"""The one exception tree of Dr.Gero.

Every error a client can see is a :class:`DrGeroError`. Each class knows its HTTP status and a
stable machine-readable ``code``; an instance may override the code and carry extra fields that
end up next to ``code`` and ``message`` in the JSON body::

    {"error": {"code": "daily_limit_reached", "message": "...", "resets_at": "..."}}

Hierarchy::

    DrGeroError (500 internal)
    ├── BadRequest (400)            malformed JSON, wrong body shape, bad query parameter
    ├── Unauthenticated (401)       missing, unknown, revoked or expired token
    ├── PaymentRequired (402)       a token's dollar budget is spent
    ├── Forbidden (403)             a valid token outside its scopes, leaderboard or workspace
    ├── NotFound (404)
    ├── MethodNotAllowed (405)
    ├── Conflict (409)              state conflicts: consolidation already running, ...
    ├── Gone (410)                  a PUSH dataset past its end date
    ├── PayloadTooLarge (413)
    ├── UnsupportedMediaType (415)
    ├── ValidationFailed (422)      well-formed JSON that breaks a rule
    ├── TooManyRequests (429)
    ├── BadGateway (502)            a model provider failed or answered nonsense
    ├── Unavailable (503)           a dependency failed; safe to retry
    └── GatewayTimeout (504)        a model provider did not answer in time

Entry points translate these with :func:`error_body`; nothing else formats errors.
"""

from __future__ import annotations

from typing import Any, ClassVar


class DrGeroError(Exception):
    status: ClassVar[int] = 500
    default_code: ClassVar[str] = "internal"

    def __init__(self, message: str, *, code: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.details = details


class BadRequest(DrGeroError):
    status = 400
    default_code = "bad_request"


class Unauthenticated(DrGeroError):
    status = 401
    default_code = "unauthenticated"


class PaymentRequired(DrGeroError):
    status = 402
    default_code = "payment_required"


class Forbidden(DrGeroError):
    status = 403
    default_code = "forbidden"


class NotFound(DrGeroError):
    status = 404
    default_code = "not_found"


class MethodNotAllowed(DrGeroError):
    status = 405
    default_code = "method_not_allowed"


class Conflict(DrGeroError):
    status = 409
    default_code = "conflict"


class Gone(DrGeroError):
    status = 410
    default_code = "gone"


class PayloadTooLarge(DrGeroError):
    status = 413
    default_code = "payload_too_large"


class UnsupportedMediaType(DrGeroError):
    status = 415
    default_code = "unsupported_media_type"


class ValidationFailed(DrGeroError):
    status = 422
    default_code = "validation_failed"


class TooManyRequests(DrGeroError):
    status = 429
    default_code = "too_many_requests"


class BadGateway(DrGeroError):
    status = 502
    default_code = "upstream_error"


class Unavailable(DrGeroError):
    status = 503
    default_code = "unavailable"


class GatewayTimeout(DrGeroError):
    status = 504
    default_code = "upstream_timeout"


def error_body(error: DrGeroError) -> dict[str, Any]:
    """The public JSON body for an error: code and message first, then its details."""
    return {"error": {"code": error.code, "message": error.message, **error.details}}

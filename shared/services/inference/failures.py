"""When a model fails: which failures move to the next model, and what the client is told.

A timeout, 5xx or 429 moves to the next model of the chain (:data:`FALLBACK_ERRORS`); a
content refusal or any other 4xx does not (it is the answer, or the request's fault). The
call's outcome is traced either way.
"""

from __future__ import annotations

from typing import Any

from shared.bootstrap import Deps
from shared.domain.entities import CandidateModel
from shared.errors import BadGateway, DrGeroError, GatewayTimeout, Unavailable, ValidationFailed
from shared.providers.errors import ProviderError, RateLimited, UpstreamTimeout, UpstreamUnavailable
from shared.services.inference import feedback
from shared.services.inference.call import MIN_ATTEMPT_SECONDS, Call

FALLBACK_ERRORS = (UpstreamTimeout, UpstreamUnavailable, RateLimited)


def error_code(exc: ProviderError) -> str:
    """An attempt's failure, as a trace names it."""
    return {UpstreamTimeout: "upstream_timeout", RateLimited: "upstream_rate_limited"}.get(
        type(exc), "upstream_error"
    )


def client_error(exc: ProviderError) -> DrGeroError:
    """A provider's failure as our error (its status and message among the details)."""
    details: dict[str, Any] = {
        "provider_message": exc.provider_message,
        "upstream_status": exc.status,
    }
    if isinstance(exc, UpstreamTimeout):
        return GatewayTimeout("the model did not answer in time", **details)
    if isinstance(exc, RateLimited):
        return Unavailable(
            "the model provider is rate limiting; retry shortly",
            code="upstream_rate_limited",
            retry_after_seconds=int(exc.retry_after or 1),
            **details,
        )
    if exc.status is not None and 400 <= exc.status < 500 and exc.status not in (401, 403):
        return ValidationFailed(
            f"the model refused the request: {exc}", code="upstream_rejected", **details
        )
    return BadGateway(f"the model provider failed: {exc}", code=exc.code, **details)


def stopped(deps: Deps, call: Call, model: CandidateModel, error: DrGeroError) -> DrGeroError:
    """A failure no fallback would cure: trace it as the call's outcome."""
    call.attempts.append({"model_id": model.id, "error": error.code})
    error.details |= {"attempts": call.attempts, "trace_id": call.trace_id}
    feedback.after(deps, call, model, None, None, error=error.code)
    return error


def gave_up(deps: Deps, call: Call, last: ProviderError | None) -> DrGeroError:
    """Every model failed, or the deadline left no time: trace it, and say which it was."""
    if last is None or (
        isinstance(last, UpstreamTimeout) and call.remaining() < MIN_ATTEMPT_SECONDS
    ):
        error: DrGeroError = GatewayTimeout(
            f"no model answered within this request's deadline of {call.deadline_seconds:g} s"
            f" ({len(call.attempts)} attempt(s)); raise inference.deadline_seconds or the"
            " client's timeout",
            code="deadline_exceeded",
            deadline_seconds=call.deadline_seconds,
        )
    else:
        error = client_error(last)
    error.details |= {"attempts": call.attempts, "trace_id": call.trace_id}
    feedback.after(deps, call, None, None, None, error=error.code)
    return error

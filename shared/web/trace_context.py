"""What a request's headers say about its trace and its id, read strictly and never refused.

Cloud Logging groups a request's log lines under its Cloud Trace when they carry the trace
(``logging.googleapis.com/trace``) and span (``logging.googleapis.com/spanId``, 16 hex digits).
The load balancer and Cloud Run send both a W3C ``traceparent`` and Google's older
``X-Cloud-Trace-Context``; either may come from a client too, so both are parsed strictly:

- ``traceparent``: ``version-traceid-parentid-flags``, lowercase hex, ``00`` exactly those four
  fields (55 characters), a later version may append ``-...`` (the W3C rule), ``ff`` is invalid,
  an all-zero trace or parent id is invalid. Bit 0 of the flags is "sampled".
- ``X-Cloud-Trace-Context``: ``TRACE_ID[/SPAN_ID][;o=0|1]``, the span id a decimal 64-bit
  number (converted to 16 hex digits, as Cloud Logging expects).

A header that breaks its format is ignored (as if absent), never an error: tracing is advice.
A valid ``traceparent`` wins; otherwise a valid ``X-Cloud-Trace-Context`` counts.

The request id a client sends (``X-Request-Id``) is echoed and logged, so only a short plain
token is kept; anything else is replaced by a generated id (the caller's job).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from werkzeug.datastructures import Headers

TRACEPARENT_HEADER = "traceparent"
CLOUD_TRACE_HEADER = "X-Cloud-Trace-Context"

# Version 00 is exactly 55 characters; a later version may carry more fields after a dash. Past
# this length a traceparent is not a traceparent (W3C vendors cap such headers at 512).
TRACEPARENT_MAX_CHARS = 512

_TRACEPARENT = re.compile(
    r"(?P<version>[0-9a-f]{2})-(?P<trace>[0-9a-f]{32})-(?P<span>[0-9a-f]{16})"
    r"-(?P<flags>[0-9a-f]{2})(?P<rest>-.*)?",
    re.ASCII | re.DOTALL,
)
_CLOUD_TRACE = re.compile(
    r"(?P<trace>[0-9a-fA-F]{32})(?:/(?P<span>[0-9]{1,20}))?(?:;o=(?P<option>[01]))?", re.ASCII
)
_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:+/=-]*", re.ASCII)
_MAX_SPAN = 2**64 - 1


@dataclass(frozen=True)
class TraceContext:
    trace_id: str  # 32 lowercase hex digits
    span_id: str | None  # 16 lowercase hex digits
    sampled: bool | None  # None: the header did not say


def from_traceparent(value: str | None) -> TraceContext | None:
    if not value or len(value) > TRACEPARENT_MAX_CHARS:
        return None
    match = _TRACEPARENT.fullmatch(value)
    if match is None:
        return None
    version, trace, span = match["version"], match["trace"], match["span"]
    if version == "ff" or (version == "00" and match["rest"] is not None):
        return None
    if _all_zero(trace) or _all_zero(span) or "\n" in value or "," in value:
        return None
    return TraceContext(trace, span, bool(int(match["flags"], 16) & 1))


def from_cloud_trace_context(value: str | None) -> TraceContext | None:
    match = _CLOUD_TRACE.fullmatch(value) if value else None
    if match is None:
        return None
    trace = match["trace"].lower()
    if _all_zero(trace):
        return None
    span = None
    if match["span"] is not None:
        number = int(match["span"])
        if number > _MAX_SPAN:
            return None
        span = f"{number:016x}" if number else None  # span 0: none given
    option = match["option"]
    return TraceContext(trace, span, None if option is None else option == "1")


def from_headers(headers: Headers | Mapping[str, str]) -> TraceContext | None:
    """The trace context of a request: its valid ``traceparent``, else its valid
    ``X-Cloud-Trace-Context``, else None."""
    return from_traceparent(headers.get(TRACEPARENT_HEADER)) or from_cloud_trace_context(
        headers.get(CLOUD_TRACE_HEADER)
    )


def client_request_id(value: str | None, *, max_chars: int) -> str | None:
    """``value`` when it is a plain token (letters, digits, ``._:+/=-``) of at most
    ``max_chars`` characters, else None."""
    if not value or len(value) > max_chars or _REQUEST_ID.fullmatch(value) is None:
        return None
    return value


def _all_zero(digits: str) -> bool:
    return digits.strip("0") == ""

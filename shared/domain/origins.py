"""Browser origins: what an allowed origin is, and the CORS headers a browser may send or read.

An origin is ``scheme://host[:port]`` exactly as a browser sends it in ``Origin``: ``http`` or
``https``, a host, an optional port, nothing else (no path, query, user info or trailing
slash). Allowed origins are stored normalised: scheme and host lower-case, a default port
(80 for http, 443 for https) dropped, so ``https://App.Example.com:443`` and
``https://app.example.com`` are the same origin. A wildcard (``*``, or ``*`` inside a host)
and ``null`` (sandboxed frames, ``file:`` pages) are refused: every Dr.Gero endpoint takes a
credential, and a credential must never be readable by any page at all.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

MAX_ORIGIN_CHARS = 2048
_ORIGIN = re.compile(
    r"^(?P<scheme>https?)://(?P<host>\[[0-9a-f:.]+\]|[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?)"
    r"(?::(?P<port>[0-9]{1,5}))?"
)
_DEFAULT_PORTS = {"http": "80", "https": "443"}

# Request headers a page may send (besides the CORS-safelisted ones): our token headers, the
# body type, our own request headers, and the ones the OpenAI and Anthropic SDKs send.
ALLOWED_REQUEST_HEADERS = (
    "Authorization",
    "X-API-Key",
    "X-Dr.Gero-API-Key",
    "Content-Type",
    "Idempotency-Key",
    "X-DrGero-Timeout",
    "OpenAI-Organization",
    "OpenAI-Project",
    "anthropic-version",
    "anthropic-beta",
    "anthropic-dangerous-direct-browser-access",
)
# Prefixes of header families sent by SDKs (``X-Stainless-Lang``, ``X-Stainless-Retry-Count``...).
ALLOWED_REQUEST_HEADER_PREFIXES = ("x-stainless-",)
# Response headers a page may read (beyond the safelisted Content-Type, Cache-Control, ...).
EXPOSED_RESPONSE_HEADERS = (
    "X-Request-Id",
    "X-DrGero-Trace-Id",
    "X-DrGero-Model",
    "X-DrGero-Fallback",
    "X-DrGero-Overhead-Ms",
    "X-DrGero-Dataset-Version",
    "X-DrGero-Url-Expires-At",
    "Retry-After",
    "WWW-Authenticate",
)


def normalise_origin(text: str) -> str:
    """``text`` as a stored origin; ValueError (saying why) when it is not an exact origin."""
    if not isinstance(text, str) or not text:
        raise ValueError("an origin is a non-empty string such as https://app.example.com")
    if len(text) > MAX_ORIGIN_CHARS:
        raise ValueError(f"an origin is at most {MAX_ORIGIN_CHARS} characters")
    if "*" in text:
        raise ValueError(
            f"{text!r}: wildcards are refused; every endpoint takes a credential, so list each"
            " exact origin"
        )
    if text.strip().lower() == "null":
        raise ValueError("'null' is refused: it is the origin of every sandboxed or file: page")
    match = _ORIGIN.fullmatch(text.lower())
    if match is None:
        raise ValueError(
            f"{text!r} is not an origin: give scheme://host[:port] (http or https), with no"
            " path, query or trailing slash"
        )
    scheme, host, port = match.group("scheme"), match.group("host"), match.group("port")
    if port is not None and not 0 < int(port) <= 65535:
        raise ValueError(f"{text!r}: the port must be between 1 and 65535")
    if port is None or port.lstrip("0") == _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{int(port)}"


def request_origin(header: str | None) -> str | None:
    """The normalised origin of a request's ``Origin`` header, or None when it has none that
    could ever be allowed (absent, ``null``, malformed)."""
    if not header:
        return None
    try:
        return normalise_origin(header.strip())
    except ValueError:
        return None


def allowed_request_headers(requested: str | None) -> list[str]:
    """The headers a preflight answers as allowed: ours, and those of ``requested`` (the
    ``Access-Control-Request-Headers`` list) that are ours or of an allowed SDK family."""
    allowed = list(ALLOWED_REQUEST_HEADERS)
    known = {name.lower() for name in allowed}
    for name in _header_list(requested):
        lower = name.lower()
        if lower not in known and lower.startswith(ALLOWED_REQUEST_HEADER_PREFIXES):
            allowed.append(lower)
            known.add(lower)
    return allowed


def refused_request_headers(requested: str | None) -> list[str]:
    """The headers of ``requested`` a preflight does not allow (the browser then refuses)."""
    allowed = {name.lower() for name in allowed_request_headers(requested)}
    return [name for name in _header_list(requested) if name.lower() not in allowed]


def _header_list(value: str | None) -> Iterable[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]

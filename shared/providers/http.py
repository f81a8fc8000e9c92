"""HTTP plumbing shared by every provider: the pooled client, bounded reads, errors, retries.

* :func:`new_client` builds the one pooled client an instance uses for every upstream
  (``shared.bootstrap`` caches it): its transport connects only where the egress policy allows
  (:mod:`shared.providers.egress`) and it carries the read caps (:class:`ReadLimits`).
  Redirects are not followed unless a call asks (only Hub file downloads do), so a model
  endpoint cannot bounce a request somewhere else; a followed redirect is checked like any
  connection.
* :func:`send` reads one answer through the bounded reader (:mod:`shared.providers.reading`);
  :func:`translating` is the provider boundary: whatever sending or reading raises leaves it
  as a :mod:`shared.providers.errors` error, with the upstream's message scrubbed of secrets.
* :func:`call_with_retries` retries a call on retryable errors: exponential backoff with full
  jitter, never sooner than the upstream's ``Retry-After``, never past a deadline.
"""

from __future__ import annotations

import email.utils
import ipaddress
import json
import logging
import random
import re
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpcore
import httpx

from shared.logs import scrub
from shared.providers.egress import EgressBackend, EgressPolicy
from shared.providers.errors import (
    InvalidUpstreamResponse,
    ModelConfigInvalid,
    ProviderError,
    RateLimited,
    RequestNotSendable,
    UpstreamAuthFailed,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from shared.providers.reading import ACCEPT_ENCODING, ReadLimits, read_body

T = TypeVar("T")
logger = logging.getLogger(__name__)

USER_AGENT = "drgero-backend/0.1"
# The client's fallback; every call passes its own explicit timeout.
DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=10.0)
PROVIDER_MESSAGE_MAX_CHARS = 500
_BEARER = re.compile(r"(?i)\b(bearer\s+)\S+")
_HF_TOKEN = re.compile(r"\bhf_[A-Za-z0-9]{8,}")
# Where a custom endpoint must never point: the cloud metadata server hands out credentials.
_METADATA_HOSTS = {"metadata.google.internal", "metadata", "metadata.goog"}


class UpstreamClient(httpx.Client):
    """The pooled client, with the read caps every provider read honours."""

    def __init__(self, *, read_limits: ReadLimits, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.read_limits = read_limits


class EgressTransport(httpx.HTTPTransport):
    """httpx's transport over a connection pool whose network backend is the egress policy's.

    httpx builds its pool without a ``network_backend`` argument, so the pool is rebuilt here
    with the same settings and ours (``handle_request`` and ``close`` use ``self._pool``).
    """

    def __init__(self, *, policy: EgressPolicy, limits: httpx.Limits) -> None:
        super().__init__(limits=limits, trust_env=False)
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=EgressBackend(policy),
        )


def new_client(
    *,
    max_connections: int = 100,
    egress: EgressPolicy | None = None,
    read_limits: ReadLimits | None = None,
) -> UpstreamClient:
    """One pooled client for every upstream call of this instance.

    ``egress`` defaults to the production policy (public addresses only). The environment's
    proxy and netrc settings are ignored (``trust_env=False``): a proxy would be the only
    address the policy sees.
    """
    limits = httpx.Limits(
        max_connections=max_connections,
        max_keepalive_connections=max_connections,
        keepalive_expiry=30.0,
    )
    return UpstreamClient(
        read_limits=read_limits or ReadLimits(),
        timeout=DEFAULT_TIMEOUT,
        transport=EgressTransport(policy=egress or EgressPolicy(), limits=limits),
        headers={"User-Agent": USER_AGENT, "Accept-Encoding": ACCEPT_ENCODING},
        follow_redirects=False,
        trust_env=False,
    )


def limits_of(client: httpx.Client) -> ReadLimits:
    """The client's read caps (the defaults for a plain ``httpx.Client``)."""
    return client.read_limits if isinstance(client, UpstreamClient) else ReadLimits()


def call_with_retries(
    fn: Callable[[], T],
    *,
    attempts: int = 4,
    base_delay: float = 0.5,
    max_delay: float = 20.0,
    deadline: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
) -> T:
    """Call ``fn`` up to ``attempts`` times while it raises a retryable :class:`ProviderError`.

    The wait before retry *n* is uniform in ``[0, min(max_delay, base_delay * 2**(n-1))]``
    (full jitter) and never shorter than the error's ``retry_after``. When the wait would end
    past ``deadline`` (a ``time.monotonic()`` value), or the upstream asks for more than
    ``max_delay``, it gives up at once. Gives up by re-raising the last error.
    """
    if attempts < 1:
        raise ValueError("attempts must be at least 1")
    rng = rng or random.Random()
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except ProviderError as error:
            if not error.retryable or attempt == attempts:
                raise
            delay = rng.uniform(0.0, min(max_delay, base_delay * 2 ** (attempt - 1)))
            if error.retry_after is not None:
                if error.retry_after > max_delay:
                    raise
                delay = max(delay, error.retry_after)
            if deadline is not None and time.monotonic() + delay > deadline:
                raise
            logger.debug(
                "retrying after %s (attempt %d of %d, waiting %.2fs)",
                type(error).__name__,
                attempt,
                attempts,
                delay,
            )
            sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover


def send(
    client: httpx.Client,
    method: str,
    url: str,
    *,
    label: str,
    timeout: httpx.Timeout,
    secrets: Iterable[str | None] = (),
    **kwargs: Any,
) -> httpx.Response:
    """One request, its answer read within the body cap; failures raise ProviderError."""
    with translating(label):
        with client.stream(method, url, timeout=timeout, **kwargs) as streamed:
            response = read_answer(client, streamed, label=label)
        raise_for_upstream(response, label=label, secrets=secrets)
    return response


def read_answer(client: httpx.Client, response: httpx.Response, *, label: str) -> httpx.Response:
    """A streamed response read into memory: 2xx within the body cap, errors truncated."""
    limits = limits_of(client)
    if 200 <= response.status_code < 300:
        return read_body(response, limit=limits.body_bytes, label=label)
    return read_body(response, limit=limits.error_body_bytes, label=label, truncate=True)


@contextmanager
def translating(label: str) -> Iterator[None]:
    """The provider boundary: whatever the block raises (also while streaming) leaves it as a
    ProviderError, so no upstream answer can fail a caller in a way it does not expect."""
    try:
        yield
    except ProviderError:
        raise
    except httpx.TimeoutException as exc:
        raise UpstreamTimeout(
            f"{label}: no answer within the timeout ({type(exc).__name__})"
        ) from exc
    except (httpx.LocalProtocolError, UnicodeEncodeError) as exc:
        # h11 refused a header we built, or a header value is not ASCII: the stored config.
        raise RequestNotSendable(
            f"{label}: the request could not be sent: a header name or token of this model"
            f" is not valid HTTP ({type(exc).__name__}); set the model's auth again"
        ) from exc
    except httpx.TransportError as exc:
        raise UpstreamUnavailable(f"{label}: the connection failed ({type(exc).__name__})") from exc
    except RecursionError as exc:
        raise InvalidUpstreamResponse(f"{label}: the answer is nested too deeply") from exc
    except Exception as exc:  # the boundary: any other failure is the answer's
        raise InvalidUpstreamResponse(
            f"{label}: the answer could not be read ({type(exc).__name__})"
        ) from exc


def raise_for_upstream(
    response: httpx.Response, *, label: str, secrets: Iterable[str | None] = ()
) -> None:
    """Raise the matching ProviderError for a non-2xx response (its body must be read)."""
    if 200 <= response.status_code < 300:
        return
    message = provider_message_from_response(response)
    raise error_for_status(
        response.status_code,
        label=label,
        provider_message=scrub_secrets(message, secrets) if message else None,
        retry_after=parse_retry_after(response.headers.get("retry-after")),
    )


def error_for_status(
    status: int, *, label: str, provider_message: str | None, retry_after: float | None
) -> ProviderError:
    kwargs: dict[str, Any] = {
        "status": status,
        "provider_message": scrub_secrets(provider_message) if provider_message else None,
    }
    if status == 429:
        return RateLimited(f"{label}: rate limited (HTTP 429)", retry_after=retry_after, **kwargs)
    if status == 408:
        return UpstreamTimeout(f"{label}: the upstream timed out (HTTP 408)", **kwargs)
    if status in (401, 403):
        return UpstreamAuthFailed(
            f"{label}: the upstream refused our credentials (HTTP {status})", **kwargs
        )
    if 400 <= status < 500:
        return UpstreamRejected(
            f"{label}: the upstream rejected the request (HTTP {status})", **kwargs
        )
    if status >= 500:
        return UpstreamUnavailable(
            f"{label}: the upstream failed (HTTP {status})", retry_after=retry_after, **kwargs
        )
    return InvalidUpstreamResponse(f"{label}: unexpected HTTP status {status}", **kwargs)


def json_of(response: httpx.Response, *, label: str) -> Any:
    try:
        return response.json()
    except RecursionError as exc:
        raise InvalidUpstreamResponse(f"{label}: the JSON answer is nested too deeply") from exc
    except ValueError as exc:  # not JSON, not UTF-8, or a number past int's digit limit
        raise InvalidUpstreamResponse(f"{label}: the response is not valid JSON") from exc


def provider_message_from_response(response: httpx.Response) -> str | None:
    """The upstream's own error message: from its JSON error body, else its plain text."""
    try:
        data = response.json()
    except (ValueError, RecursionError):
        content_type = response.headers.get("content-type", "")
        if "html" in content_type:
            return None
        text = response.text.strip()
        return text[:PROVIDER_MESSAGE_MAX_CHARS] or None
    return provider_message_of(data)


def provider_message_of(data: Any) -> str | None:
    """Error text from the shapes upstreams use: OpenAI/OpenRouter, TGI, FastAPI."""
    if not isinstance(data, dict):
        return None
    error = data.get("error")
    message: Any = None
    if isinstance(error, dict):
        message = error.get("message")
        metadata = error.get("metadata")
        provider = metadata.get("provider_name") if isinstance(metadata, dict) else None
        if isinstance(message, str) and isinstance(provider, str):
            message = f"{message} [provider: {provider}]"
    elif isinstance(error, str):
        message = error
    else:
        message = data.get("message") or data.get("detail")
    if message is None:
        return None
    text = message if isinstance(message, str) else json.dumps(message)[:PROVIDER_MESSAGE_MAX_CHARS]
    return text[:PROVIDER_MESSAGE_MAX_CHARS] or None


def scrub_secrets(text: str, secrets: Iterable[str | None] = ()) -> str:
    """Mask the secrets we sent, anything shaped like a known key, and bearer credentials."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return _HF_TOKEN.sub("hf_***", _BEARER.sub(r"\1***", scrub(text)))


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """``Retry-After`` in seconds: delta-seconds or an HTTP-date; None when absent or garbled."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:  # an HTTP-date is always GMT
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if seconds != seconds or seconds == float("inf"):
        return None
    return max(0.0, seconds)


def checked_endpoint_url(url: str) -> httpx.URL:
    """A user-given endpoint URL, refused when unusable or aimed at the metadata server."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise ModelConfigInvalid(f"endpoint is not a valid URL: {exc}") from exc
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ModelConfigInvalid("endpoint must be an http:// or https:// URL with a host")
    host = parsed.host.lower().rstrip(".")
    if host in _METADATA_HOSTS or _is_link_local(host):
        raise ModelConfigInvalid("endpoint must not point at the cloud metadata server")
    return parsed


# Query parameter names that carry a credential (compared lower-cased, "-" read as "_").
_CREDENTIAL_PARAMS = frozenset({
    "key", "apikey", "api_key", "token", "access_token", "id_token", "auth", "auth_token",
    "authorization", "secret", "client_secret", "password", "passwd", "pwd", "sig",
    "signature", "code", "session", "sessionid", "x_api_key", "bearer", "jwt",
})  # fmt: skip
_CREDENTIAL_SUFFIXES = ("_key", "_token", "_secret", "_password", "_signature", "_sig")


def credentials_in_url(url: str) -> str | None:
    """What in ``url`` looks like a credential (userinfo, a key-like query parameter), or None.

    Such URLs are refused when a model is added: the URL is shown to every reader of the
    leaderboard, in labels and traces, while ``auth`` is stored encrypted and never shown.
    """
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        return None
    if parsed.userinfo:
        return "the endpoint URL carries a user name or password (user:pass@)"
    for name in parsed.params:
        normal = name.lower().replace("-", "_")
        if normal in _CREDENTIAL_PARAMS or normal.endswith(_CREDENTIAL_SUFFIXES):
            return f"the endpoint URL carries a credential in its query ({name[:40]}=...)"
    return None


def endpoint_display(url: str) -> str:
    """``host[:port]/path`` of a URL: what a label may show (no userinfo, no query)."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        return url.split("?", 1)[0].split("#", 1)[0].rsplit("@", 1)[-1][:200]
    port = f":{parsed.port}" if parsed.port else ""
    return f"{parsed.host}{port}{parsed.path}"


def endpoint_label(platform: str, url: httpx.URL) -> str:
    """``platform:host[:port]/path`` — no credentials, no query string."""
    port = f":{url.port}" if url.port else ""
    return f"{platform}:{url.host}{port}{url.path}"


def _is_link_local(host: str) -> bool:
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return address.is_link_local or (
        isinstance(address, ipaddress.IPv6Address)
        and address.ipv4_mapped is not None
        and address.ipv4_mapped.is_link_local
    )

"""Google's identity service, as internal calls need it: signing certificates and ID tokens.

* :class:`GoogleCerts` — the certificates that sign Google's ID tokens (v1 format: key id → PEM
  X.509 certificate), fetched from ``DRGERO_OIDC_CERTS_URL`` with bounds on time and size and
  cached as the answer's ``Cache-Control: max-age`` says (at most
  ``oidc_certs_max_cache_seconds``). A token whose key id is not cached (Google rotated its
  keys) refetches, but at most once per ``oidc_certs_min_refetch_seconds``: a flood of tokens
  with made-up key ids costs Google one request per interval, not one each.
* :class:`IdTokenSource` — the local stack's tokens: the Cloud Tasks emulator mints none, so the
  task queue and the scheduler stand-in ask the simulator's stand-in
  (``DRGERO_DEV_ID_TOKEN_URL``) and keep each token until shortly before it expires. Never used
  in production, where Cloud Tasks and Cloud Scheduler attach Google's tokens themselves.

Both raise :class:`IdentityUnavailable` (the message says what failed, never a token); the
internal guard turns it into 503 ``internal_certs_unavailable``, which Cloud Tasks retries.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from google.auth import jwt

from shared.providers.errors import ProviderError
from shared.providers.reading import ACCEPT_ENCODING, iter_decoded

log = logging.getLogger(__name__)

_MAX_AGE = re.compile(r"(?:^|[,\s])max-age\s*=\s*(\d+)", re.IGNORECASE)
_PEM_CERTIFICATE = "-----BEGIN CERTIFICATE-----"
# A cached token is renewed this long before it expires, so none expires in flight (a task is
# delivered within seconds of its creation locally; retries follow within seconds too).
TOKEN_RENEW_BEFORE_SECONDS = 300.0


class IdentityUnavailable(Exception):
    """The certs (or a local token) could not be fetched; ``message`` says why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class CertsLimits:
    max_bytes: int = 64 * 1024
    timeout_seconds: float = 5.0
    max_cache_seconds: float = 6 * 3600
    min_refetch_seconds: float = 30.0

    @classmethod
    def from_settings(cls, settings: Any) -> CertsLimits:
        return cls(
            max_bytes=settings.oidc_certs_max_bytes,
            timeout_seconds=settings.oidc_certs_timeout_seconds,
            max_cache_seconds=settings.oidc_certs_max_cache_seconds,
            min_refetch_seconds=settings.oidc_certs_min_refetch_seconds,
        )


class GoogleCerts:
    """The signing certificates, cached; :meth:`certificate` is safe to call from threads."""

    def __init__(
        self,
        *,
        url: str,
        limits: CertsLimits,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self.limits = limits
        self._transport = transport
        self._clock = clock
        self._lock = threading.Lock()
        self._certs: dict[str, str] = {}
        self._expires_at = float("-inf")
        self._attempted_at = float("-inf")  # last fetch attempt, successful or not
        self._failure: IdentityUnavailable | None = None
        self.fetches = 0

    def certificate(self, key_id: str) -> str | None:
        """The PEM certificate of ``key_id``, or None when Google publishes no such key."""
        with self._lock:  # one fetch at a time; the others wait for its answer
            now = self._clock()
            if now >= self._expires_at:
                self._refresh(now, required=True)
            elif key_id not in self._certs and self._may_refetch(now):
                self._refresh(now, required=False)
            return self._certs.get(key_id)

    def _may_refetch(self, now: float) -> bool:
        return now - self._attempted_at >= self.limits.min_refetch_seconds

    def _refresh(self, now: float, *, required: bool) -> None:
        """Fetch the certs. ``required``: the cache has expired, so a failure is raised (and
        repeated without a new attempt until the refetch interval has passed); otherwise it is
        logged and the cached certs stay."""
        if required and self._failure is not None and not self._may_refetch(now):
            raise self._failure
        self._attempted_at = now
        try:
            certs, max_age = self._fetch()
        except IdentityUnavailable as failure:
            self._failure = failure
            if required:
                raise
            log.warning("ID-token certificates not refreshed: %s", failure.message)
            return
        self._failure = None
        self._certs = certs
        cache_for = min(
            max(max_age, self.limits.min_refetch_seconds), self.limits.max_cache_seconds
        )
        self._expires_at = now + cache_for

    def _fetch(self) -> tuple[dict[str, str], float]:
        self.fetches += 1
        where = f"the ID-token certificates at {self.url}"
        limit = self.limits.max_bytes
        try:
            with (
                httpx.Client(
                    timeout=httpx.Timeout(self.limits.timeout_seconds),
                    transport=self._transport,
                    follow_redirects=False,
                    trust_env=False,
                    headers={"Accept-Encoding": ACCEPT_ENCODING},
                ) as client,
                client.stream("GET", self.url) as response,
            ):
                if response.status_code != 200:
                    raise IdentityUnavailable(f"{where} answered HTTP {response.status_code}")
                body = bytearray()
                for piece in iter_decoded(response, label=where):
                    body += piece
                    if len(body) > limit:
                        raise IdentityUnavailable(
                            f"{where}: the answer is larger than {limit} bytes (the limit"
                            " DRGERO_OIDC_CERTS_MAX_BYTES)"
                        )
                cache_control = response.headers.get("cache-control", "")
        except httpx.HTTPError as error:
            raise IdentityUnavailable(
                f"{where} could not be read: {type(error).__name__}"
            ) from None
        except ProviderError as error:  # the bounded decoder's (a corrupt or unasked encoding)
            raise IdentityUnavailable(error.message) from None
        return _parse_certs(bytes(body), where), _max_age(cache_control)


def _parse_certs(body: bytes, where: str) -> dict[str, str]:
    try:
        document = json.loads(body)
    except ValueError:
        raise IdentityUnavailable(f"{where}: the answer is not JSON") from None
    if not isinstance(document, dict) or not all(
        isinstance(kid, str) and isinstance(pem, str) and pem.lstrip().startswith(_PEM_CERTIFICATE)
        for kid, pem in document.items()
    ):
        raise IdentityUnavailable(f"{where}: the answer is not a key id → PEM certificate map")
    return document


def _max_age(cache_control: str) -> float:
    if "no-store" in cache_control.lower() or "no-cache" in cache_control.lower():
        return 0.0
    found = _MAX_AGE.search(cache_control)
    return float(found.group(1)) if found else 0.0


class IdTokenSource:
    """ID tokens from the local stand-in, cached per (audience, email) until near expiry.

    The cache holds one token per audience and email: audiences are the private functions' URLs
    (a handful, fixed by the routing table) and emails the configured invokers, so it stays as
    small as they are.
    """

    def __init__(
        self,
        *,
        url: str,
        timeout_seconds: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url
        self._timeout = httpx.Timeout(timeout_seconds)
        self._transport = transport
        self._lock = threading.Lock()
        self._tokens: dict[tuple[str, str], tuple[str, float]] = {}

    def token(self, *, audience: str, email: str) -> str:
        key = (audience, email)
        with self._lock:
            cached = self._tokens.get(key)
            if cached is not None and time.time() < cached[1] - TOKEN_RENEW_BEFORE_SECONDS:
                return cached[0]
            token = self._mint(audience, email)
            expires_at = float(jwt.decode(token, verify=False).get("exp", 0))
            self._tokens[key] = (token, expires_at)
            return token

    def _mint(self, audience: str, email: str) -> str:
        where = f"the local ID-token stand-in at {self.url}"
        try:
            with httpx.Client(
                timeout=self._timeout, transport=self._transport, trust_env=False
            ) as client:
                response = client.post(self.url, json={"audience": audience, "email": email})
        except httpx.HTTPError as error:
            raise IdentityUnavailable(
                f"{where} could not be reached: {type(error).__name__}"
            ) from None
        if response.status_code != 200:
            raise IdentityUnavailable(f"{where} answered HTTP {response.status_code}")
        try:
            token = response.json()["token"]
        except (ValueError, KeyError, TypeError):
            raise IdentityUnavailable(f"{where} answered no token") from None
        if not isinstance(token, str):
            raise IdentityUnavailable(f"{where} answered no token")
        return token

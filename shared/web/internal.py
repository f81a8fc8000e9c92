"""Guard of the internal endpoints that Cloud Tasks and Cloud Scheduler call.

They carry ``X-DrGero-Internal-Key`` (set on every task and scheduler job). While no key is
configured the internal endpoints refuse everything: secure by default. In production the
functions are also private (IAM, OIDC tokens), so the key is a second lock, not the only one.
A configured key is at least ``internal_key_min_length`` characters long (``Settings`` refuses
to start otherwise), and the comparison takes the same time whatever the header holds: both
sides are hashed first, so not even the key's length shows.
"""

from __future__ import annotations

import hashlib
import hmac

import flask

from shared.errors import Forbidden, Unauthenticated
from shared.settings import Settings
from shared.tasks.queue import INTERNAL_KEY_HEADER


def require_internal(request: flask.Request, settings: Settings) -> None:
    if settings.internal_key is None:
        raise Forbidden(
            "internal endpoints are disabled: DRGERO_INTERNAL_KEY is not configured",
            code="internal_disabled",
        )
    given = request.headers.get(INTERNAL_KEY_HEADER, "")
    expected = settings.internal_key.get_secret_value()
    if not hmac.compare_digest(_digest(given), _digest(expected)):
        raise Unauthenticated(
            "internal endpoint: missing or wrong internal key", code="invalid_internal_key"
        )


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()

"""Guard of the internal endpoints that Cloud Tasks and Cloud Scheduler call.

They carry ``X-DrGero-Internal-Key`` (set on every task and scheduler job). While no key is
configured the internal endpoints refuse everything: secure by default. In production the
functions are also private (IAM, OIDC tokens), so the key is a second lock, not the only one.
"""

from __future__ import annotations

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
    if not hmac.compare_digest(given.encode(), settings.internal_key.get_secret_value().encode()):
        raise Unauthenticated(
            "internal endpoint: missing or wrong internal key", code="invalid_internal_key"
        )

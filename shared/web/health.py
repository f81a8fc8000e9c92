"""``GET /healthz`` and ``GET /readyz``: what uptime checks and Cloud Run probes ask every function.

Every :class:`~shared.web.router.Router` serves both paths before its own routes (and refuses a
route that would shadow them), so each function has them without code of its own. Neither needs
a token, and neither passes through any quota or rate limit of ours.

- ``/healthz`` (liveness): the instance runs and answers; no I/O at all.
- ``/readyz`` (readiness): the instance reaches Firestore, by one read bounded by the
  ``readyz_timeout_seconds`` setting, without retries. Anything else (a refused connection, a
  stalled one, missing credentials) is 503 ``not_ready``; the cause goes to the log, never into
  the answer.

Behind the load balancer both paths reach the URL map's default function (``api``); every other
function answers them at its own ``run.app`` URL.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from shared.bootstrap import Deps
from shared.errors import Unavailable

log = logging.getLogger("drgero.health")

LIVENESS_PATH = "/healthz"
READINESS_PATH = "/readyz"
HEALTH_PATHS = (LIVENESS_PATH, READINESS_PATH)

# Read, never written: reading a document that does not exist still needs Firestore to answer.
_PROBE_COLLECTION, _PROBE_DOCUMENT = "_health", "readyz"


def liveness(function: str) -> dict[str, Any]:
    return {"status": "ok", "function": function}


def readiness(function: str, deps: Callable[[], Deps]) -> dict[str, Any]:
    """:func:`liveness` once Firestore has answered one read, else :class:`Unavailable`."""
    current = deps()
    timeout = current.settings.readyz_timeout_seconds
    try:
        document = current.db.collection(_PROBE_COLLECTION).document(_PROBE_DOCUMENT)
        document.get(retry=None, timeout=timeout)
    # Whatever stops the read (the Google API's errors, the transport's, the credentials')
    # means the same here: not ready. The cause is logged for the operator.
    except Exception as exc:
        log.warning("not ready: the Firestore read failed (%s: %s)", type(exc).__name__, exc)
        raise Unavailable(
            "not ready: the database did not answer; the readiness check waits at most"
            f" {timeout:g} seconds (DRGERO_READYZ_TIMEOUT_SECONDS)",
            code="not_ready",
            timeout_seconds=timeout,
        ) from exc
    return liveness(function)

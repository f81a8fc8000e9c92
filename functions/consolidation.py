"""Entry point ``consolidation``: the public trigger and the Cloud Tasks handler.

``POST /v1/leaderboard/{id}/dataset/consolidate`` runs a consolidation now and answers its
result (409 while another one runs). ``POST /internal/tasks/consolidate`` is what the
"every N events" and "every N hours" triggers enqueue: it answers 503 while another
consolidation holds the lease, so Cloud Tasks retries it later, and 200 otherwise, including
for a leaderboard that no longer exists (nothing to retry).
"""

from __future__ import annotations

import logging

import flask
import functions_framework
from pydantic import BaseModel, ConfigDict

from shared import wiring
from shared.domain.tokens import Scope
from shared.errors import Unavailable
from shared.services.auth import authenticate, load_leaderboard
from shared.services.consolidation import ConsolidationBusy, consolidate
from shared.web.http import Router, bearer_token, parse
from shared.web.internal import require_internal

log = logging.getLogger("drgero.consolidation")
router = Router("consolidation")


class ConsolidateTask(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)

    leaderboard_id: str
    reason: str = "task"


@router.route("POST", "/v1/leaderboard/{leaderboard_id}/dataset/consolidate")
def _consolidate_now(request: flask.Request, leaderboard_id: str) -> dict:
    deps = wiring.deps()
    principal = authenticate(deps, bearer_token(request))
    load_leaderboard(deps, principal, leaderboard_id, Scope.LEADERBOARDS_WRITE)
    result = consolidate(deps, leaderboard_id, reason="manual", actor_token_id=principal.token_id)
    return result.to_json()


@router.route("POST", "/internal/tasks/consolidate")
def _consolidate_task(request: flask.Request) -> dict:
    deps = wiring.deps()
    require_internal(request, deps.settings)
    task = parse(ConsolidateTask, request)
    if deps.leaderboards.get(task.leaderboard_id) is None:
        log.info("dropping consolidation task of deleted leaderboard %s", task.leaderboard_id)
        return {"status": "dropped", "reason": "leaderboard_not_found"}
    try:
        return consolidate(deps, task.leaderboard_id, reason=task.reason).to_json()
    except ConsolidationBusy as exc:
        raise Unavailable(exc.message, code=exc.code, retry_after_seconds=5) from exc


@functions_framework.http
def consolidation(request: flask.Request) -> flask.Response:
    return router(request)

"""Entry point ``consolidation``: the public trigger.

``POST /v1/leaderboard/{id}/dataset/consolidate`` runs a consolidation now and answers its
result (409 while another one runs). The consolidations that triggers enqueue are handled by
the private ``worker`` function (``POST /internal/tasks/consolidate``).
"""

from __future__ import annotations

import flask
import functions_framework

from shared.bootstrap import Deps
from shared.domain.tokens import Scope
from shared.services.auth import load_leaderboard
from shared.services.consolidation import consolidate
from shared.web.authorize import authorize
from shared.web.router import Router

router = Router("consolidation")


@router.route("POST", "/v1/leaderboard/{leaderboard_id}/dataset/consolidate")
def _consolidate_now(request: flask.Request, deps: Deps, leaderboard_id: str) -> dict:
    principal = authorize(request, deps)
    load_leaderboard(deps, principal, leaderboard_id, Scope.LEADERBOARDS_WRITE)
    result = consolidate(deps, leaderboard_id, reason="manual", actor_token_id=principal.token_id)
    return result.to_json()


@functions_framework.http
def consolidation(request: flask.Request) -> flask.Response:
    return router(request)

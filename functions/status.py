"""Entry point ``status``: GET /v1/leaderboard/{id}/dataset/status."""

from __future__ import annotations

import flask
import functions_framework

from shared.bootstrap import Deps
from shared.services.auth import authenticate
from shared.services.status import dataset_status
from shared.web.http import bearer_token
from shared.web.router import Router

router = Router("status")


@router.route("GET", "/v1/leaderboard/{leaderboard_id}/dataset/status")
def _status(request: flask.Request, deps: Deps, leaderboard_id: str) -> dict:
    principal = authenticate(deps, bearer_token(request))
    return dataset_status(deps, principal, leaderboard_id)


@functions_framework.http
def status(request: flask.Request) -> flask.Response:
    return router(request)

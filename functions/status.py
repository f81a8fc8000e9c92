"""Entry point ``status``: GET /v1/leaderboard/{id}/dataset/status."""

from __future__ import annotations

import flask
import functions_framework

from shared.bootstrap import Deps
from shared.services.status import dataset_status
from shared.web.authorize import authorize
from shared.web.router import Router

router = Router("status")


@router.route("GET", "/v1/leaderboard/{leaderboard_id}/dataset/status")
def _status(request: flask.Request, deps: Deps, leaderboard_id: str) -> dict:
    principal = authorize(request, deps)
    return dataset_status(deps, principal, leaderboard_id)


@functions_framework.http
def status(request: flask.Request) -> flask.Response:
    return router(request)

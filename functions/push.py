"""Entry point ``push``: POST /v1/leaderboard/{id}/dataset/push."""

from __future__ import annotations

import time

import flask
import functions_framework

from shared.bootstrap import Deps
from shared.services.push import PushRequest, authorize_push
from shared.services.push import push as push_rows
from shared.web.http import bearer_token, read_json
from shared.web.router import Router

router = Router("push")


@router.route("POST", "/v1/leaderboard/{leaderboard_id}/dataset/push")
def _push(
    request: flask.Request, deps: Deps, leaderboard_id: str
) -> tuple[dict, int, dict[str, str]]:
    started = time.perf_counter()
    key = request.headers.get("Idempotency-Key") or None
    authorized = authorize_push(deps, leaderboard_id, bearer_token(request), idempotency_key=key)
    body = read_json(request, max_bytes=deps.settings.push_max_body_bytes, allow_non_finite=True)
    answer = push_rows(
        deps,
        PushRequest(
            principal=authorized.principal,
            leaderboard=authorized.leaderboard,
            body=body,
            idempotency_key=key,
            legacy_record=authorized.legacy_record,
        ),
        started=started,
    )
    return answer.answer, 200, {"Idempotent-Replayed": "true"} if answer.replayed else {}


@functions_framework.http
def push(request: flask.Request) -> flask.Response:
    return router(request)

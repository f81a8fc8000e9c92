"""Entry point ``worker``: the per-model evaluation worker.

``POST /internal/tasks/evaluate-shard`` evaluates one candidate model on one shard of rows.

Answers 200 once the shard is evaluated and counted, or when there is nothing to do (the run
ended, or the shard was already counted: a duplicate delivery). Any unexpected failure answers
5xx, so Cloud Tasks retries the shard; retries are safe (see ``shared.services.run_worker``).
"""

from __future__ import annotations

import flask
import functions_framework
from pydantic import BaseModel, ConfigDict, Field

from shared import wiring
from shared.services.run_worker import evaluate_shard
from shared.web.http import Router, parse
from shared.web.internal import require_internal

router = Router("worker")


class ShardTask(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)

    leaderboard_id: str
    run_id: str
    model_id: str
    shard: int = Field(ge=0)


@router.route("POST", "/internal/tasks/evaluate-shard")
def _evaluate(request: flask.Request) -> dict:
    deps = wiring.deps()
    require_internal(request, deps.settings)
    task = parse(ShardTask, request)
    return evaluate_shard(deps, task.leaderboard_id, task.run_id, task.model_id, task.shard)


@functions_framework.http
def worker(request: flask.Request) -> flask.Response:
    return router(request)

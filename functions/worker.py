"""Entry point ``worker``: the private function that Cloud Tasks calls.

- ``POST /internal/tasks/prepare-run`` fans a run out: one evaluate-shard task per candidate
  and slice of rows.
- ``POST /internal/tasks/evaluate-shard`` evaluates one candidate model on one shard of rows.
  Answers 200 once the shard is evaluated and counted, or when there is nothing to do (the run
  ended, or the shard was already counted: a duplicate delivery). A transient failure
  answers 5xx, so Cloud Tasks retries the shard; retries are safe (see
  ``shared.services.run_worker``). A permanent Google API error (an invalid argument, a
  missing index) would fail every retry the same way: the task is dropped, 200 with its
  reason, and logged (``shared.web.http``); the watchdog then fails the run.
- ``POST /internal/tasks/consolidate`` is what the "every N events" and "every N hours"
  triggers enqueue: it answers 503 while another consolidation holds the lease, so Cloud Tasks
  retries it later, and 200 otherwise, including for a leaderboard that no longer exists
  (nothing to retry).

Task bodies are the messages of ``shared.tasks.messages``, the same types the senders use.
No public function serves an ``/internal`` path, and the load balancer routes none: this
function is reachable only at its own ``run.app`` URL, with an ID token that the private
router verifies before any handler runs (``shared.web.internal``).
"""

from __future__ import annotations

import logging

import flask
import functions_framework

from shared.bootstrap import Deps
from shared.errors import Unavailable
from shared.services.consolidation import ConsolidationBusy, consolidate
from shared.services.run_prepare import prepare_run
from shared.services.run_worker import evaluate_shard
from shared.tasks.messages import Consolidate, EvaluateShard, PrepareRun
from shared.web.http import parse
from shared.web.router import Router

log = logging.getLogger("drgero.worker")
router = Router("worker", private=True)


@router.route("POST", PrepareRun.path)
def _prepare(request: flask.Request, deps: Deps) -> dict:
    task = parse(PrepareRun, request)
    return prepare_run(deps, task.leaderboard_id, task.run_id)


@router.route("POST", EvaluateShard.path)
def _evaluate(request: flask.Request, deps: Deps) -> dict:
    task = parse(EvaluateShard, request)
    return evaluate_shard(deps, task.leaderboard_id, task.run_id, task.model_id, task.shard)


@router.route("POST", Consolidate.path)
def _consolidate(request: flask.Request, deps: Deps) -> dict:
    task = parse(Consolidate, request)
    if deps.leaderboards.get(task.leaderboard_id) is None:
        log.info("dropping consolidation task of deleted leaderboard %s", task.leaderboard_id)
        return {"status": "dropped", "reason": "leaderboard_not_found"}
    try:
        return consolidate(deps, task.leaderboard_id, reason=task.reason).to_json()
    except ConsolidationBusy as exc:
        raise Unavailable(exc.message, code=exc.code, retry_after_seconds=5) from exc


@functions_framework.http
def worker(request: flask.Request) -> flask.Response:
    return router(request)

"""Entry point ``runs``: run a leaderboard, follow and cancel runs, the ranking, human reviews.

The fan-out task (``POST /internal/tasks/prepare-run``) is the private ``worker`` function's."""

from __future__ import annotations

import flask
import functions_framework

from shared.bootstrap import Deps
from shared.domain.tokens import Scope
from shared.errors import ValidationFailed
from shared.services import ranking, reviews, runs
from shared.web.authorize import authorize, paging
from shared.web.http import parse
from shared.web.router import Router

router = Router("runs")


@router.route("POST", "/v1/leaderboard/{leaderboard_id}/runs")
def _start(request: flask.Request, deps: Deps, leaderboard_id: str) -> tuple[dict, int]:
    principal = authorize(request, deps, Scope.LEADERBOARDS_WRITE)
    body = parse(runs.RunCreate, request)
    return runs.start_run_for(deps, principal, leaderboard_id, body), 202


@router.route("GET", "/v1/leaderboard/{leaderboard_id}/runs")
def _list(request: flask.Request, deps: Deps, leaderboard_id: str) -> dict:
    return runs.list_runs(deps, authorize(request, deps), leaderboard_id, **paging(request))


@router.route("GET", "/v1/leaderboard/{leaderboard_id}/runs/{run_id}")
def _get(request: flask.Request, deps: Deps, leaderboard_id: str, run_id: str) -> dict:
    return runs.get_run(deps, authorize(request, deps), leaderboard_id, run_id)


@router.route("POST", "/v1/leaderboard/{leaderboard_id}/runs/{run_id}/cancel")
def _cancel(request: flask.Request, deps: Deps, leaderboard_id: str, run_id: str) -> dict:
    return runs.cancel_run(deps, authorize(request, deps), leaderboard_id, run_id)


@router.route("GET", "/v1/leaderboard/{leaderboard_id}/ranking")
def _ranking(request: flask.Request, deps: Deps, leaderboard_id: str) -> dict:
    return ranking.get_ranking(deps, authorize(request, deps), leaderboard_id)


@router.route("GET", "/v1/leaderboard/{leaderboard_id}/runs/{run_id}/reviews")
def _reviews(request: flask.Request, deps: Deps, leaderboard_id: str, run_id: str) -> dict:
    principal = authorize(request, deps)
    status = request.args.get("status") or None
    if status is not None and status not in ("pending", "reviewed"):
        raise ValidationFailed("status is pending or reviewed", code="invalid_status")
    return reviews.list_reviews(
        deps,
        principal,
        leaderboard_id,
        run_id,
        status=status,  # type: ignore[arg-type]
        **paging(request),
    )


@router.route("POST", "/v1/leaderboard/{leaderboard_id}/runs/{run_id}/reviews/{item_id}")
def _review(
    request: flask.Request, deps: Deps, leaderboard_id: str, run_id: str, item_id: str
) -> dict:
    principal = authorize(request, deps, Scope.LEADERBOARDS_WRITE)
    body = parse(reviews.ReviewSubmit, request)
    return reviews.submit_review(deps, principal, leaderboard_id, run_id, item_id, body)


@functions_framework.http
def runs_function(request: flask.Request) -> flask.Response:
    return router(request)

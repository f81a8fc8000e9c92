"""Human evaluation: the review queue of a run, scores as they arrive, and the live ranking.

When a human-evaluated run finishes its model calls, every output (model x row) becomes a
pending review item. Reviewers page through pending items, submit a score from 0 to 1 (and a
comment), and the ranking is recomputed from the reviews so far; it says which fraction of the
outputs has been reviewed. Re-reviewing an item replaces its score.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.bootstrap import Deps
from shared.clock import iso, utcnow
from shared.domain.entities import Run
from shared.domain.run_status import RunStatus
from shared.domain.tokens import Scope
from shared.errors import Conflict, NotFound, ValidationFailed
from shared.services.auth import Principal, load_leaderboard
from shared.services.run_finalize import compute_ranking, load_scores, publish_ranking
from shared.storage.ids import is_storable_id
from shared.storage.unit_of_work import WriteConflict


class ReviewSubmit(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, strict=True)

    score: Annotated[float, Field(ge=0, le=1)]
    comment: Annotated[str, Field(max_length=5000)] | None = None


def list_reviews(
    deps: Deps,
    principal: Principal,
    leaderboard_id: str,
    run_id: str,
    *,
    status: Literal["pending", "reviewed"] | None,
    limit: int,
    cursor: str | None,
) -> dict[str, Any]:
    run = _human_run(deps, principal, leaderboard_id, run_id, Scope.LEADERBOARDS_READ)
    page = deps.reviews.list_page(
        run.leaderboard_id, run_id, status=status, limit=limit, cursor=cursor
    )
    return {
        "items": [_public_item(item) for item in page.items],
        "next_cursor": page.next_cursor,
        "progress": _progress(deps.runs.find(run.leaderboard_id, run_id) or run),
    }


def submit_review(
    deps: Deps,
    principal: Principal,
    leaderboard_id: str,
    run_id: str,
    item_id: str,
    body: ReviewSubmit,
) -> dict[str, Any]:
    run = _human_run(deps, principal, leaderboard_id, run_id, Scope.LEADERBOARDS_WRITE)
    if not is_storable_id(item_id):
        raise NotFound(f"review item {item_id} not found", code="review_not_found")
    fields = {
        "status": "reviewed",
        "score": body.score,
        "comment": body.comment,
        "reviewer": principal.token_id,
        "reviewed_at": utcnow(),
    }
    try:
        item = deps.reviews.submit(run.leaderboard_id, run_id, item_id, fields)
    except WriteConflict as exc:
        raise Conflict(
            "this item was reviewed at the same moment; reload it", code="review_conflict"
        ) from exc
    if item is None:
        raise NotFound(f"review item {item_id} not found", code="review_not_found")
    ranking = refresh_ranking(deps, run.leaderboard_id, run_id)
    return {"item": _public_item(item), "ranking": ranking}


def refresh_ranking(deps: Deps, leaderboard_id: str, run_id: str) -> dict[str, Any]:
    run = deps.runs.find(leaderboard_id, run_id)
    if run is None:
        raise NotFound(f"run {run_id} not found", code="run_not_found")
    scores = {
        (item["model_id"], item["row_id"]): float(item["score"])
        for item in deps.reviews.scores(leaderboard_id, run_id)
    }
    ranking = compute_ranking(run, load_scores(deps, leaderboard_id, run_id), scores)
    ranking["finished_at"] = (run.ranking or {}).get("finished_at") or utcnow().isoformat()
    deps.runs.update(leaderboard_id, run_id, {"ranking": ranking})
    publish_ranking(deps, leaderboard_id, ranking)
    return ranking


def _human_run(
    deps: Deps, principal: Principal, leaderboard_id: str, run_id: str, scope: Scope
) -> Run:
    leaderboard = load_leaderboard(deps, principal, leaderboard_id, scope)
    run = deps.runs.find(leaderboard.id, run_id)
    if run is None:
        raise NotFound(f"run {run_id} not found", code="run_not_found")
    if run.evaluation_type != "human":
        raise ValidationFailed("this run is not human-evaluated", code="not_a_human_run")
    if run.status != RunStatus.COMPLETED:
        raise Conflict(
            f"the run is {run.status}: reviews open when its model calls finish",
            code="run_not_completed",
        )
    return run


def _progress(run: Run) -> dict[str, Any]:
    total, done = run.reviews_total or 0, run.reviews_done or 0
    return {"total": total, "reviewed": done, "fraction": (done / total) if total else None}


def _public_item(item: dict[str, Any]) -> dict[str, Any]:
    return {
        **item,
        "created_at": iso(item.get("created_at")),
        "reviewed_at": iso(item.get("reviewed_at")),
    }

"""Which candidate serves production: the ranking winner, or a manually pinned model.

``ranking_winner`` follows the leader of the latest finished run, and moves when a new run
crowns another leader. ``manual`` pins one candidate and stays there whatever runs say. The
selected model is stored on the leaderboard (``selection``) so that inference reads it directly.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, model_validator

from shared.bootstrap import Deps
from shared.clock import iso, utcnow
from shared.domain.tokens import Scope
from shared.errors import ValidationFailed
from shared.services.auth import Principal, load_leaderboard
from shared.storage.records import LeaderboardRecord


class SelectionPut(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    strategy: Literal["ranking_winner", "manual"]
    model_id: str | None = None

    @model_validator(mode="after")
    def _pinned_model(self) -> SelectionPut:
        if self.strategy == "manual" and not self.model_id:
            raise ValueError("the manual strategy pins a model: give model_id")
        if self.strategy == "ranking_winner" and self.model_id:
            raise ValueError("ranking_winner follows the ranking: don't give model_id")
        return self


def put_selection(
    deps: Deps, principal: Principal, leaderboard_id: str, body: SelectionPut
) -> dict[str, Any]:
    leaderboard = load_leaderboard(deps, principal, leaderboard_id, Scope.LEADERBOARDS_WRITE)
    if body.strategy == "manual":
        assert body.model_id is not None
        if deps.candidates.find(leaderboard.id, body.model_id) is None:
            raise ValidationFailed(
                f"{body.model_id} is not a candidate model of this leaderboard",
                code="model_not_found",
                field="model_id",
            )
        selection = _selection("manual", body.model_id, None)
    else:
        candidates = {m.id for m in deps.candidates.find_all(leaderboard.id)}
        selection = winner_selection(leaderboard, candidates)
    deps.leaderboards.update(leaderboard.id, {"selection": selection})
    return public_selection(selection)


def winner_selection(leaderboard: LeaderboardRecord, candidates: Collection[str]) -> dict[str, Any]:
    ranking = leaderboard.ranking or {}
    return _selection("ranking_winner", best_candidate(ranking, candidates), ranking.get("run_id"))


def after_run(
    leaderboard: LeaderboardRecord, ranking: dict[str, Any], candidates: Collection[str]
) -> dict[str, Any] | None:
    """The new selection once a run finished, or None when the strategy keeps the current one.

    The ranking winner is the best-ranked eligible model that is still a candidate: a model
    removed since the run started (which the run guard prevents, but a ranking may outlive its
    models) is never selected.
    """
    current = leaderboard.selection or {"strategy": "ranking_winner"}
    if current.get("strategy") == "manual":
        return None  # pinned: whatever runs say
    winner = best_candidate(ranking, candidates)
    if winner is None:
        return None  # no leader yet (e.g. a human run awaiting reviews): keep it
    return _selection("ranking_winner", winner, ranking.get("run_id"))


def best_candidate(ranking: dict[str, Any], candidates: Collection[str]) -> str | None:
    """The leader if it is a candidate, else the next eligible model in rank order that is."""
    leader = ranking.get("leader")
    if leader is None:
        return None
    if leader in candidates:
        return leader
    for model in ranking.get("models", []):
        if model.get("eligible") and model["model_id"] in candidates:
            return str(model["model_id"])
    return None


def _selection(strategy: str, model_id: str | None, run_id: str | None) -> dict[str, Any]:
    return {"strategy": strategy, "model_id": model_id, "run_id": run_id, "selected_at": utcnow()}


def public_selection(selection: dict[str, Any] | None) -> dict[str, Any]:
    if not selection:
        return {"strategy": "ranking_winner", "model_id": None, "run_id": None, "selected_at": None}
    return {**selection, "selected_at": iso(selection.get("selected_at"))}

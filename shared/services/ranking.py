"""The Ranking tab: the current ranking, the selected production model and how it is chosen."""

from __future__ import annotations

from typing import Any

from shared.bootstrap import Deps
from shared.domain.snapshot import config_hash
from shared.domain.tokens import Scope
from shared.services.auth import Principal, load_leaderboard
from shared.services.run_guard import (
    digest_of,
    leaderboard_snapshot,
    ranking_freshness,
    snapshot_parts,
)
from shared.services.selection import public_selection, winner_selection


def get_ranking(deps: Deps, principal: Principal, leaderboard_id: str) -> dict[str, Any]:
    leaderboard = load_leaderboard(deps, principal, leaderboard_id, Scope.LEADERBOARDS_READ)
    candidates = deps.candidates.find_all(leaderboard.id)
    labels = {m.id: m.label for m in candidates}
    selection = leaderboard.selection or winner_selection(leaderboard, labels)
    model_id = selection.get("model_id")
    base = deps.settings.public_base_url.rstrip("/")
    current = snapshot_parts(leaderboard_snapshot(leaderboard), digest_of(candidates))
    ranking = leaderboard.ranking
    return {
        "leaderboard_id": leaderboard.id,
        # Marked stale when the configuration changed since it was computed.
        "ranking": ranking | (ranking_freshness(ranking, current) or {}) if ranking else None,
        "config_hash": config_hash(current),
        "selection": public_selection(selection),
        "selected_model": {"id": model_id, "label": labels.get(model_id, model_id)}
        if model_id
        else None,
        "inference_endpoint": f"{base}/v1/leaderboard/{leaderboard.id}/inference",
        "active_run_id": leaderboard.active_run_id,
    }

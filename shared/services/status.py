"""The PUSH dataset's status: counts, window usage, tokens, recent batches and the dataset.

Everything here is read in a few round trips: the counters in one batched read, the dataset
tokens and the recent push traces in one query each.
"""

from __future__ import annotations

from typing import Any

from shared.bootstrap import Deps
from shared.clock import iso, utcnow
from shared.domain import quota
from shared.domain.tokens import Scope
from shared.errors import Conflict
from shared.services.auth import Principal, load_leaderboard
from shared.storage.push_store import TOTAL_FIELDS, TOTALS
from shared.storage.records import LeaderboardRecord

RECENT_BATCHES = 20


def dataset_status(deps: Deps, principal: Principal, leaderboard_id: str) -> dict[str, Any]:
    leaderboard = load_leaderboard(deps, principal, leaderboard_id, Scope.LEADERBOARDS_READ)
    if not leaderboard.is_push:
        raise Conflict("this leaderboard reads a GET dataset", code="not_a_push_dataset")
    now = utcnow()
    day, month = quota.day_key(now), quota.month_key(now)
    counters = deps.push.read_counters(leaderboard.id, [day, month, TOTALS])
    config = leaderboard.dataset
    tokens, _ = deps.tokens.list_page(
        workspace_id=leaderboard.workspace_id, kind="dataset", leaderboard_id=leaderboard.id,
        limit=100, cursor=None,
    )  # fmt: skip
    masks = {token.id: token.public()["token_masked"] for token in tokens}
    recent = deps.traces.list_page(leaderboard.id, kind="push", limit=RECENT_BATCHES, cursor=None)
    end_date = config.get("end_date")
    return {
        "leaderboard_id": leaderboard.id,
        "mode": "push",
        "accepting": end_date is None or now < end_date,
        "counts": {name: int(counters[TOTALS].get(name, 0)) for name in TOTAL_FIELDS},
        "usage": {
            "daily": quota.window_usage(
                int(counters[day].get("n", 0)), config.get("daily_limit"), quota.day_resets_at(now)
            ),
            "monthly": quota.window_usage(
                int(counters[month].get("n", 0)),
                config.get("monthly_limit"),
                quota.month_resets_at(now),
            ),
        },
        "config": _public_config(config),
        "consolidation": {
            "every_events": config.get("consolidate_every_events"),
            "every_hours": config.get("consolidate_every_hours"),
            "next_due_at": iso(leaderboard.consolidation_due_at),
        },
        "tokens": [token.public() for token in tokens if token.revoked_at is None],
        "recent_batches": [
            {
                "batch_id": trace.get("batch_id"),
                "trace_id": trace["id"],
                "created_at": iso(trace["created_at"]),
                **trace.get("counts", {}),
                "token_id": trace.get("token_id"),
                "token_masked": masks.get(trace.get("token_id") or ""),
            }
            for trace in recent.items
        ],
        "dataset": dataset_metadata(deps, leaderboard),
        "webhook": {
            "url": f"{deps.settings.public_base_url.rstrip('/')}"
            f"/v1/leaderboard/{leaderboard.id}/dataset/push",
            "method": "POST",
            "headers": {"Authorization": "Bearer <hpd_ or drgero_ token>"},
        },
    }


def dataset_metadata(deps: Deps, leaderboard: LeaderboardRecord) -> dict[str, Any] | None:
    """The current version, as lists and status show it: nothing here is signed.

    ``download_url`` is our own download endpoint (the caller's token is checked on every
    use, so a revoked token downloads nothing more); a signed storage URL is made only on
    demand, by that endpoint (``?redirect=signed``), for ``download_url_ttl_seconds``.
    ``download_url_expires_at`` stays for compatibility and is null: the URL does not expire.
    """
    version = leaderboard.dataset_version
    if version is None:
        return None
    path = f"/v1/leaderboard/{leaderboard.id}/dataset/download"
    return {
        "version": version.version,
        "uri": deps.datasets.uri(version.object_name),
        "rows": version.rows,
        "bytes": version.bytes,
        "sha256": version.sha256,
        "consolidated_at": iso(version.consolidated_at),
        "download_url": deps.settings.public_base_url.rstrip("/") + path,
        "download_url_expires_at": None,
        "download_path": path,
    }


def _public_config(config: dict[str, Any]) -> dict[str, Any]:
    return {key: iso(value) if key == "end_date" else value for key, value in config.items()}

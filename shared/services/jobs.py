"""Scheduled jobs: the work Cloud Scheduler triggers."""

from __future__ import annotations

from typing import Any

from shared.clock import utcnow
from shared.services.push import CONSOLIDATE_TASK_PATH
from shared.tasks.queue import task_name
from shared.wiring import Deps


def enqueue_due_consolidations(deps: Deps) -> dict[str, Any]:
    """One consolidation task per leaderboard whose time-based consolidation is due."""
    due = deps.leaderboards.due_for_consolidation(utcnow())
    enqueued = 0
    for leaderboard_id, due_at in due:
        enqueued += deps.tasks.enqueue(
            path=CONSOLIDATE_TASK_PATH,
            payload={"leaderboard_id": leaderboard_id, "reason": "every_hours"},
            name=task_name("consolidate", leaderboard_id, "due", str(int(due_at.timestamp()))),
        )
    return {"due": len(due), "enqueued": enqueued}

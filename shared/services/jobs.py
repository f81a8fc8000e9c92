"""Scheduled jobs: the work Cloud Scheduler triggers."""

from __future__ import annotations

import logging
from typing import Any

from shared.bootstrap import Deps
from shared.clock import utcnow
from shared.tasks.messages import Consolidate, task_name

log = logging.getLogger(__name__)


def enqueue_due_consolidations(deps: Deps) -> dict[str, Any]:
    """One consolidation task per leaderboard whose time-based consolidation is due."""
    due = deps.leaderboards.due_for_consolidation(utcnow())
    enqueued = 0
    for leaderboard_id, due_at in due:
        enqueued += deps.tasks.enqueue(
            Consolidate(leaderboard_id=leaderboard_id, reason="every_hours"),
            name=task_name("consolidate", leaderboard_id, "due", str(int(due_at.timestamp()))),
        )
    return {"due": len(due), "enqueued": enqueued}


def fail_overdue_runs(deps: Deps) -> dict[str, Any]:
    """Runs past their deadline end instead of staying "running" forever.

    A run whose shards were all counted is finalized (its finalize died: see
    ``run_finalize``); any other fails with a reason. A finalize that fails again is logged
    and left for the next round (the run can still be cancelled).
    """
    from shared.services.run_finalize import finalize_run
    from shared.services.runs import fail_run

    failed, finalized, errors = [], [], []
    for run in deps.runs.overdue(utcnow()):
        done, total = run.shards_done, run.shards_total
        if total is not None and done >= total:
            try:
                if finalize_run(deps, run.leaderboard_id, run.id) is not None:
                    finalized.append(run.id)
            except Exception:  # one run's failure must not stop the others
                log.exception("watchdog could not finalize run %s", run.id)
                errors.append(run.id)
            continue
        reason = (
            "the dataset was never prepared"
            if total is None
            else f"only {done} of {total} shards finished before the deadline"
        )
        if fail_run(deps, run.leaderboard_id, run.id, "deadline_exceeded", detail=reason):
            failed.append(run.id)
    return {"failed": failed, "finalized": finalized, "errors": errors}


def start_scheduled_runs(deps: Deps) -> dict[str, Any]:
    """One run per leaderboard whose schedule is due; the next time is set either way."""
    from shared.domain.schedule import ScheduleConfig, next_run_at
    from shared.errors import DrGeroError
    from shared.services.runs import start

    started, skipped = [], []
    now = utcnow()
    for leaderboard_id, _due in deps.leaderboards.due_for_runs(now):
        leaderboard = deps.leaderboards.get(leaderboard_id)
        if leaderboard is None or not leaderboard.schedule:
            continue
        upcoming = next_run_at(ScheduleConfig.model_validate(leaderboard.schedule), now)
        deps.leaderboards.update(leaderboard_id, {"next_run_at": upcoming})
        try:
            started.append(start(deps, leaderboard, source="schedule").id)
        except DrGeroError as exc:  # e.g. a run is still active: this slot is skipped
            skipped.append({"leaderboard_id": leaderboard_id, "reason": exc.code})
    return {"started": started, "skipped": skipped}

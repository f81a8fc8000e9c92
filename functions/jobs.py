"""Entry point ``jobs``: what Cloud Scheduler fires (see ``infra/scheduler.yaml``).

``POST /internal/jobs/consolidate-due`` enqueues one consolidation task per PUSH leaderboard
whose "consolidate every N hours" deadline has passed. Task names derive from the deadline, so
a job fired twice (Cloud Scheduler delivers at least once) enqueues each task once.
``POST /internal/jobs/runs-watchdog`` fails runs past their deadline; ``POST
/internal/jobs/scheduled-runs`` starts the runs that leaderboard schedules say are due.
``POST /internal/jobs/storage-cleanup`` deletes one page of the bucket's unreferenced objects
(``shared.services.storage_cleanup``); a body ``{"leaderboard_id": ...}`` scopes it to one.

A private function: Cloud Scheduler calls it at its own ``run.app`` URL with an ID token of the
scheduler's service account for that URL, which the private router verifies before any handler
runs (``shared.web.internal``).
"""

from __future__ import annotations

import flask
import functions_framework
from pydantic import BaseModel, ConfigDict, Field

from shared.bootstrap import Deps
from shared.domain.cleanup import STORED_ID
from shared.services.jobs import (
    enqueue_due_consolidations,
    fail_overdue_runs,
    start_scheduled_runs,
)
from shared.services.storage_cleanup import clean_storage
from shared.web.http import parse
from shared.web.router import Router

router = Router("jobs", private=True)


@router.route("POST", "/internal/jobs/consolidate-due")
def _consolidate_due(request: flask.Request, deps: Deps) -> dict:
    return enqueue_due_consolidations(deps)


@router.route("POST", "/internal/jobs/runs-watchdog")
def _runs_watchdog(request: flask.Request, deps: Deps) -> dict:
    return fail_overdue_runs(deps)


@router.route("POST", "/internal/jobs/scheduled-runs")
def _scheduled_runs(request: flask.Request, deps: Deps) -> dict:
    return start_scheduled_runs(deps)


class StorageCleanupJob(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    # Without it, the scheduled pass over the whole bucket.
    leaderboard_id: str | None = Field(default=None, pattern=f"^{STORED_ID}$")


@router.route("POST", "/internal/jobs/storage-cleanup")
def _storage_cleanup(request: flask.Request, deps: Deps) -> dict:
    job = parse(StorageCleanupJob, request)
    return clean_storage(deps, leaderboard_id=job.leaderboard_id)


@functions_framework.http
def jobs(request: flask.Request) -> flask.Response:
    return router(request)

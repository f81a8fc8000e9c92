"""Entry point ``jobs``: what Cloud Scheduler fires (see ``infra/scheduler.yaml``).

``POST /internal/jobs/consolidate-due`` enqueues one consolidation task per PUSH leaderboard
whose "consolidate every N hours" deadline has passed. Task names derive from the deadline, so
a job fired twice (Cloud Scheduler delivers at least once) enqueues each task once.
``POST /internal/jobs/runs-watchdog`` fails runs past their deadline; ``POST
/internal/jobs/scheduled-runs`` starts the runs that leaderboard schedules say are due.

A private function: Cloud Scheduler calls it at its own ``run.app`` URL with an ID token of the
scheduler's service account for that URL, which every handler verifies (``require_internal``).
"""

from __future__ import annotations

import flask
import functions_framework

from shared import wiring
from shared.services.jobs import (
    enqueue_due_consolidations,
    fail_overdue_runs,
    start_scheduled_runs,
)
from shared.web.http import Router
from shared.web.internal import require_internal

router = Router("jobs")


@router.route("POST", "/internal/jobs/consolidate-due")
def _consolidate_due(request: flask.Request) -> dict:
    deps = wiring.deps()
    require_internal(request, deps.settings, router.name)
    return enqueue_due_consolidations(deps)


@router.route("POST", "/internal/jobs/runs-watchdog")
def _runs_watchdog(request: flask.Request) -> dict:
    deps = wiring.deps()
    require_internal(request, deps.settings, router.name)
    return fail_overdue_runs(deps)


@router.route("POST", "/internal/jobs/scheduled-runs")
def _scheduled_runs(request: flask.Request) -> dict:
    deps = wiring.deps()
    require_internal(request, deps.settings, router.name)
    return start_scheduled_runs(deps)


@functions_framework.http
def jobs(request: flask.Request) -> flask.Response:
    return router(request)

"""Automatic consolidation: every N events (a Cloud Task) and every N hours (the scheduled job)."""

from __future__ import annotations

import time

import httpx

from devstack.identity import LOCAL_SCHEDULER_ACCOUNT


def _wait_for_version(api, lb: str, version: int, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    status: dict = {}
    while time.monotonic() < deadline:
        status = api.get(f"/v1/leaderboard/{lb}/dataset/status").json()
        if status["dataset"] and status["dataset"]["version"] >= version:
            return status
        time.sleep(0.2)
    raise AssertionError(f"no dataset version {version} in time; last status: {status}")


def test_reaching_every_n_events_enqueues_a_consolidation(workspace):
    api = workspace.api
    lb = api.create_push_leaderboard(consolidate_every_events=10, consolidate_every_hours=None)
    api.push(lb, [{"input": f"q{i}"} for i in range(6)])
    time.sleep(1.0)
    status = api.get(f"/v1/leaderboard/{lb}/dataset/status").json()
    assert status["dataset"] is None  # below the threshold: nothing enqueued
    api.push(lb, [{"input": f"r{i}"} for i in range(5)])
    status = _wait_for_version(api, lb, 1)
    assert status["dataset"]["rows"] == 11
    assert status["counts"]["pending"] == 0
    traces = api.get(f"/v1/leaderboard/{lb}/traces", params={"kind": "consolidation"}).json()
    assert traces["items"][0]["reason"] == "every_events"
    assert traces["items"][0]["token_id"] is None


def test_the_scheduled_job_consolidates_datasets_whose_hours_are_due(workspace, stack, deps):
    api = workspace.api
    due_soon = api.create_push_leaderboard(consolidate_every_hours=0.0005)  # ~2 s
    not_due = api.create_push_leaderboard(consolidate_every_hours=24)
    for lb in (due_soon, not_due):
        api.push(lb, [{"input": f"q{i}"} for i in range(3)])
    time.sleep(2.2)

    fire = httpx.post(
        f"{stack.base_url}/internal/jobs/consolidate-due",
        headers=stack.internal_headers(
            "/internal/jobs/consolidate-due", email=LOCAL_SCHEDULER_ACCOUNT
        ),
        timeout=60,
    )
    assert fire.status_code == 200, fire.text
    assert fire.json()["enqueued"] >= 1
    status = _wait_for_version(api, due_soon, 1)
    assert status["dataset"]["rows"] == 3
    next_due = deps.leaderboards.get(due_soon).consolidation_due_at
    assert next_due is not None
    traces = api.get(f"/v1/leaderboard/{due_soon}/traces", params={"kind": "consolidation"})
    assert traces.json()["items"][0]["reason"] == "every_hours"
    time.sleep(0.5)
    untouched = api.get(f"/v1/leaderboard/{not_due}/dataset/status").json()
    assert untouched["dataset"] is None
    assert untouched["counts"]["pending"] == 3

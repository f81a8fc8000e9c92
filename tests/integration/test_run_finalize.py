"""A run's finalize can always finish: killed at any step, a redelivery or the watchdog completes
the run and publishes its ranking exactly once; a redelivered shard pays only for rows not done.

The work is killed through ``deps.checkpoints`` (a hook the real code calls at each step): the
worker's task answers 5xx and the Cloud Tasks emulator redelivers it, as production would.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from typing import Any

import pytest

from shared import bootstrap
from shared.clock import utcnow
from shared.services.jobs import fail_overdue_runs
from tests.inference_support import calls_since, sim_stats
from tests.runs_support import (
    add_models,
    add_openrouter,
    arithmetic_rows,
    connect_openrouter,
    push_leaderboard,
    register_answers,
    unique,
    wait_for_run,
)

ROWS = 100  # four shards of 25 per model


class Killed(Exception):
    """Raised by the test's hook: the process died at this step."""


@pytest.fixture
def ranked(workspace):
    rows = arithmetic_rows(ROWS)
    register_answers(rows)
    connect_openrouter(workspace.api)
    api = workspace.api
    lb = push_leaderboard(api, rows)
    good, bad = add_models(
        {"id": unique("sim/fin-good"), "accuracy": 0.9},
        {"id": unique("sim/fin-bad"), "accuracy": 0.3},
    )
    winner = add_openrouter(api, lb, good)
    add_openrouter(api, lb, bad)
    return api, lb, winner, (good, bad)


@pytest.fixture
def kill(deps: bootstrap.Deps) -> Iterator[Any]:
    """``kill(lb, step, times=1, **match)``: raise at ``step`` of ``lb``'s work ``times`` times."""

    def arm(lb: str, step: str, *, times: float = 1, **match: Any) -> list[str]:
        hits: list[str] = []

        def hook(name: str, **context: Any) -> None:
            wanted = {"leaderboard_id": lb} | match
            matches = all(context.get(k) == v for k, v in wanted.items())
            if name == step and matches and len(hits) < times:
                hits.append(name)
                raise Killed(step)

        deps.checkpoints.hook = hook
        return hits

    yield arm
    deps.checkpoints.hook = None


def _assert_completed_once(api, deps, lb: str, run_id: str, winner: str) -> None:
    run = wait_for_run(api, lb, run_id, every=0.05)
    assert run["status"] == "completed", run.get("failure")
    assert run["ranking"]["leader"] == winner
    board = api.get(f"/v1/leaderboard/{lb}/ranking").json()
    assert board["ranking"]["run_id"] == run_id
    assert board["selected_model"]["id"] == winner
    assert deps.leaderboards.get(lb).active_run_id is None
    assert deps.runs.active_lock(lb) is None
    assert all(p["rows_done"] == ROWS for p in run["progress"]["models"].values())
    time.sleep(0.5)  # let any redelivery still in flight land
    traces = api.get(f"/v1/leaderboard/{lb}/traces", params={"kind": "run"}).json()["items"]
    assert [t["run_id"] for t in traces] == [run_id]  # one run trace: finalized exactly once


@pytest.mark.parametrize(
    "step",
    [
        "shard_counted",
        "finalize_loaded",
        "finalize_latencies_recorded",
        "finalize_committed",
    ],
)
def test_finalize_killed_at_any_step_is_completed_by_the_redelivered_shard(
    ranked, deps, kill, step
):
    api, lb, winner, _ = ranked
    # At the shard that counts last: it is the one that finalizes.
    hits = kill(lb, step, **({"last": True} if step == "shard_counted" else {}))
    run_id = api.post(f"/v1/leaderboard/{lb}/runs", json={}).json()["id"]
    _assert_completed_once(api, deps, lb, run_id, winner)
    assert hits == [step]  # the work really died there


def test_finalize_that_keeps_failing_is_completed_by_the_watchdog(ranked, deps, kill):
    api, lb, winner, _ = ranked
    kill(lb, "finalize_loaded", times=float("inf"))  # every delivery dies in finalize
    run_id = api.post(f"/v1/leaderboard/{lb}/runs", json={}).json()["id"]
    deadline = time.monotonic() + 60
    while True:
        run = deps.runs.get(lb, run_id) or {}
        if run.get("shards_total") and run.get("shards_done", 0) >= run["shards_total"]:
            break
        assert time.monotonic() < deadline, run.get("progress")
        time.sleep(0.1)
    time.sleep(1.0)
    assert deps.runs.get(lb, run_id)["status"] == "running"  # stuck, as before the fix
    deps.runs.update(lb, run_id, {"deadline_at": utcnow()})
    # The watchdog's own instance is healthy: it finalizes instead of failing the run.
    healthy = dataclasses.replace(deps, checkpoints=bootstrap.Checkpoints())
    fired = fail_overdue_runs(healthy)
    assert run_id in fired["finalized"] and run_id not in fired["failed"]
    deps.checkpoints.hook = None
    _assert_completed_once(api, deps, lb, run_id, winner)


def test_a_redelivered_shard_pays_only_for_rows_not_yet_done(ranked, deps, kill):
    api, lb, winner, (good, _) = ranked
    before = sim_stats()
    good_id = winner
    hits = kill(lb, "shard_evaluated", model_id=good_id, shard=0)
    run_id = api.post(f"/v1/leaderboard/{lb}/runs", json={}).json()["id"]
    _assert_completed_once(api, deps, lb, run_id, winner)
    assert hits == ["shard_evaluated"]
    # Shard 0 died after its 25 rows were called; its redelivery called none of them again.
    assert calls_since(before, good)["total"] == ROWS


def test_a_human_run_killed_after_opening_its_reviews_opens_them_once(workspace, deps, kill):
    from tests.integration.test_evaluations import _get_leaderboard, _hub_file, _two_models

    api = workspace.api
    connect_openrouter(api)
    register_answers(arithmetic_rows(6))
    rows = [{"input": r["input"], "output": r["output"]} for r in arithmetic_rows(6)]
    created = _get_leaderboard(api, _hub_file(rows, gz=False), evaluation={"type": "human"})
    lb = created.json()["id"]
    _two_models(api, lb, 1.0, 0.0)
    hits = kill(lb, "finalize_reviews_opened")
    run_id = api.post(f"/v1/leaderboard/{lb}/runs", json={}).json()["id"]
    run = wait_for_run(api, lb, run_id, every=0.05)
    assert run["status"] == "completed" and hits == ["finalize_reviews_opened"]
    listed = api.get(f"/v1/leaderboard/{lb}/runs/{run_id}/reviews", params={"limit": 50}).json()
    assert len(listed["items"]) == 12
    assert listed["progress"] == {"total": 12, "reviewed": 0, "fraction": 0.0}
    traces = api.get(f"/v1/leaderboard/{lb}/traces", params={"kind": "run"}).json()["items"]
    assert [t["run_id"] for t in traces] == [run_id]

"""The storage cleanup job, through HTTP, on the session's Firestore emulator and fake-gcs-server.

Its grace period is shortened to a few seconds per test (``deps.settings``, as the handler
reads it); everything else is the real code path: consolidations killed or held at a stage,
a run held running by a shard that dies before it is counted, then cancelled.
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import httpx
import pytest

from devstack.identity import LOCAL_SCHEDULER_ACCOUNT
from devstack.scheduler import DEFAULT_JOBS_FILE, Scheduler
from shared.providers.google_identity import IdTokenSource
from shared.services.consolidation import consolidate
from tests.runs_support import (
    add_models,
    add_openrouter,
    arithmetic_rows,
    connect_openrouter,
    push_leaderboard,
    register_answers,
    unique,
)

GRACE = 4.0


class Killed(Exception):
    """Raised at a checkpoint: the work dies there."""


@pytest.fixture
def short_grace(deps, monkeypatch) -> None:
    monkeypatch.setattr(deps.settings, "cleanup_grace_seconds", GRACE)
    monkeypatch.setattr(deps.settings, "cleanup_keep_versions", 2)


def fire(stack, body: Any = None, **kw: Any) -> httpx.Response:
    return httpx.post(
        f"{stack.base_url}/internal/jobs/storage-cleanup",
        json=body,
        headers=kw.pop(
            "headers",
            stack.internal_headers("/internal/jobs/storage-cleanup", email=LOCAL_SCHEDULER_ACCOUNT),
        ),
        timeout=120,
        **kw,
    )


def clean(stack, leaderboard_id: str | None = None, *, calls: int = 50) -> list[dict[str, Any]]:
    """Fire the job until it says no more objects follow; each call's answer."""
    answers = []
    for _ in range(calls):
        response = fire(stack, {"leaderboard_id": leaderboard_id} if leaderboard_id else None)
        assert response.status_code == 200, response.text
        answers.append(response.json())
        if not answers[-1]["more"]:
            return answers
    raise AssertionError(f"still more after {calls} calls: {answers[-1]}")


def deleted(answers: list[dict[str, Any]]) -> int:
    return sum(answer["deleted"] for answer in answers)


def versions(deps, lb: str) -> set[str]:
    return set(deps.datasets.names(f"datasets/{lb}/"))


def consolidate_once(api, lb: str, row: str) -> dict[str, Any]:
    assert api.push(lb, {"input": row}).status_code == 200
    response = api.post(f"/v1/leaderboard/{lb}/dataset/consolidate")
    assert response.status_code == 200, response.text
    return dict(response.json()["version"])


def kill_at(stage: str):
    def checkpoint(reached: str) -> None:
        if reached == stage:
            raise Killed(stage)

    return checkpoint


@pytest.fixture
def held_run(workspace, deps):
    """A consolidated PUSH leaderboard (v1) with a run kept running: one shard of one model
    saves its rows and dies before it is counted, on every delivery, until ``stop()``."""
    api = workspace.api
    rows = arithmetic_rows(100)
    register_answers(rows)
    connect_openrouter(api)
    lb = push_leaderboard(api, rows)
    models = [add_openrouter(api, lb, m) for m in add_models({"id": unique("sim/c1")},
                                                             {"id": unique("sim/c2")})]  # fmt: skip

    def hook(step: str, **context: Any) -> None:
        if step == "shard_evaluated" and context == {
            "leaderboard_id": lb, "model_id": models[0], "shard": 0,
        }:  # fmt: skip
            raise Killed(step)

    deps.checkpoints.hook = hook
    run_id = api.post(f"/v1/leaderboard/{lb}/runs", json={}).json()["id"]
    rows_prefix = f"runs/{lb}/{run_id}/rows/{models[0]}/00000/"
    deadline = time.monotonic() + 60
    while len(deps.datasets.names(rows_prefix)) < 25:
        assert time.monotonic() < deadline, deps.runs.get(lb, run_id)
        time.sleep(0.2)
    run = deps.runs.get(lb, run_id)
    assert run["status"] == "running" and run["dataset"]["version"] == 1

    def stop() -> None:
        """Cancel the run (the shard keeps dying until the test ends: never counted)."""
        response = api.post(f"/v1/leaderboard/{lb}/runs/{run_id}/cancel")
        assert response.status_code in (200, 409), response.text

    yield api, lb, run_id, rows_prefix, stop
    stop()
    deps.checkpoints.hook = None


def test_versions_no_one_needs_go_the_current_newest_pinned_and_in_flight_stay(
    held_run, deps, stack, short_grace
):
    api, lb, _, rows_prefix, stop = held_run
    v1 = deps.leaderboards.get(lb).dataset_version.object_name  # pinned by the running run
    v2, v3, v4, v5 = (consolidate_once(api, lb, f"new {n}")["object_name"] for n in range(4))

    # A consolidation killed after its upload: an orphan numbered 6.
    api.push(lb, {"input": "killed"})
    with pytest.raises(Killed):
        consolidate(deps, lb, reason="test", checkpoint=kill_at("uploaded"))
    [dead] = set(deps.datasets.names(f"datasets/{lb}/v000006-"))
    # A consolidation still running: uploaded, not committed yet, holding the lease.
    uploaded, release = threading.Event(), threading.Event()

    def hold(stage: str) -> None:
        if stage == "uploaded":
            uploaded.set()
            release.wait(60)

    holder = threading.Thread(target=lambda: consolidate(deps, lb, reason="held", checkpoint=hold))
    holder.start()
    assert uploaded.wait(30)
    [in_flight] = set(deps.datasets.names(f"datasets/{lb}/v000006-")) - {dead}
    time.sleep(GRACE + 0.5)  # all of the above are older than the grace now
    # An orphan of the current number, younger than the grace (a stalled consolidation's).
    young = deps.datasets.write_version(lb, 5, [{"input": "young"}]).object_name
    before = versions(deps, lb)

    try:
        first = clean(stack, lb)
        assert deleted(first) == 1
        # v2 only: above the current version, the dead upload is kept with the live one while
        # a consolidation holds the lease (either may be the one that commits).
        assert versions(deps, lb) == before - {v2}
        for kept in (v1, v3, v4, v5, dead, in_flight, young):
            assert deps.datasets.exists(kept), kept
        assert len(deps.datasets.names(rows_prefix)) == 25  # the run is still running
        assert deleted(clean(stack, lb)) == 0  # a second pass finds nothing more
    finally:
        release.set()
        holder.join(30)
    assert deps.leaderboards.get(lb).dataset_version.object_name == in_flight  # it committed

    # v6 is current: the dead upload is an orphan now, and v3 is below the two kept ones.
    assert deleted(clean(stack, lb)) == 2
    assert versions(deps, lb) == {v1, v4, v5, young, in_flight}
    # The run ends: v1 is pinned no more, and it was superseded long ago.
    stop()
    assert deleted(clean(stack, lb)) == 1
    assert versions(deps, lb) == {v4, v5, young, in_flight}
    assert len(deps.datasets.names(rows_prefix)) == 25  # the run ended less than the grace ago


def test_rows_left_by_a_run_go_once_it_ended_long_ago_shards_and_results_stay(
    held_run, deps, stack, short_grace
):
    _, lb, run_id, rows_prefix, stop = held_run
    assert deleted(clean(stack, lb)) == 0  # running: nothing of it goes
    stop()
    assert deps.runs.get(lb, run_id)["status"] == "cancelled"
    time.sleep(1.0)  # a delivery that was under way ends
    assert len(deps.datasets.names(rows_prefix)) == 25
    assert deleted(clean(stack, lb)) == 0  # ended less than the grace ago
    time.sleep(GRACE + 0.5)
    shards = deps.datasets.names(f"runs/{lb}/{run_id}/shards/")
    results = deps.datasets.names(f"runs/{lb}/{run_id}/results/")
    rows = deps.datasets.names(f"runs/{lb}/{run_id}/rows/")
    assert shards and len(rows) >= 25
    answers = clean(stack, lb)
    assert deleted(answers) == len(rows)
    assert deps.datasets.names(f"runs/{lb}/{run_id}/rows/") == []
    assert deps.datasets.names(f"runs/{lb}/{run_id}/shards/") == shards
    assert deps.datasets.names(f"runs/{lb}/{run_id}/results/") == results
    assert deps.leaderboards.get(lb).dataset_version is not None
    assert deleted(clean(stack, lb)) == 0


def test_paging_continues_where_the_last_call_stopped(workspace, deps, stack, monkeypatch):
    monkeypatch.setattr(deps.settings, "cleanup_grace_seconds", 1.0)
    monkeypatch.setattr(deps.settings, "cleanup_keep_versions", 1)
    monkeypatch.setattr(deps.settings, "cleanup_page_objects", 2)
    api = workspace.api
    lb = api.create_push_leaderboard()
    names = [consolidate_once(api, lb, f"row {n}")["object_name"] for n in range(6)]
    ghost = f"runs/{lb}/run_{uuid.uuid4().hex[:12]}/rows/m/00000/"  # a run that does not exist
    for index in range(3):
        deps.datasets.write_jsonl(f"{ghost}{index:05d}.jsonl", [{"row": index}])
    time.sleep(1.5)

    answers = clean(stack, lb)
    assert [(a["examined"], a["deleted"], a["more"]) for a in answers] == [
        (2, 2, True),  # v1, v2
        (2, 2, True),  # v3, v4
        (2, 0, True),  # v5 (the one kept below the current), v6 (current)
        (2, 2, True),  # rows of the run that does not exist
        (1, 1, False),
    ]
    assert versions(deps, lb) == set(names[4:])
    assert deps.datasets.names(f"runs/{lb}/") == []
    again = clean(stack, lb)  # the walk starts over
    assert [(a["examined"], a["deleted"], a["more"]) for a in again] == [(2, 0, False)]


def test_the_scheduled_pass_over_the_bucket_removes_a_deleted_leaderboards_objects(
    workspace, deps, stack, monkeypatch
):
    """Fired as infra/scheduler.yaml declares it (no body: the whole bucket)."""
    monkeypatch.setattr(deps.settings, "cleanup_grace_seconds", 1.0)
    api = workspace.api
    kept = api.create_push_leaderboard()
    current = consolidate_once(api, kept, "stays")["object_name"]
    gone = str(uuid.uuid4())  # its delete died after the documents, before the objects
    leftovers = [
        deps.datasets.write_version(gone, 1, [{"input": "x"}]).object_name,
        deps.datasets.write_jsonl(f"runs/{gone}/run_1/results/m/00000.jsonl", [{}]).object_name,
    ]
    time.sleep(1.5)
    scheduler = Scheduler(
        stack.base_url,
        DEFAULT_JOBS_FILE,
        id_tokens=IdTokenSource(url=stack.env["DRGERO_DEV_ID_TOKEN_URL"]),
        service_account=LOCAL_SCHEDULER_ACCOUNT,
    )
    try:
        for _ in range(2):  # to the end of the bucket from wherever the walk was, then all of it
            for _ in range(1000):
                response = scheduler.fire("storage-cleanup")
                assert response.status_code == 200, response.text
                assert response.json()["scope"] == "bucket"
                if not response.json()["more"]:
                    break
    finally:
        scheduler.stop()
    assert not any(deps.datasets.exists(name) for name in leftovers)
    assert deps.datasets.exists(current)


def test_the_job_refuses_bad_bodies_and_callers_without_a_token(stack):
    for body in ({"leaderboard_id": "../etc"}, {"leaderboard_id": 7}, {"prefix": "datasets/"}):
        response = fire(stack, body)
        assert response.status_code == 422, response.text
        assert response.json()["error"]["code"] == "validation_failed"
    refused = fire(stack, headers={})
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "invalid_internal_token"

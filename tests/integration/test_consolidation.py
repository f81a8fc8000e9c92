"""Consolidation: dedupe, size cap, versions, crash safety, mutual exclusion, redelivery."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from shared.errors import Conflict
from shared.services.consolidation import consolidate
from shared.tasks.messages import Consolidate

REPO = Path(__file__).resolve().parents[2]


def _dataset(api, lb: str) -> list[dict]:
    response = api.get(f"/v1/leaderboard/{lb}/dataset/download")
    assert response.status_code == 200, response.text
    return [json.loads(line) for line in response.text.splitlines() if line]


def _consolidate(api, lb: str) -> dict:
    response = api.post(f"/v1/leaderboard/{lb}/dataset/consolidate")
    assert response.status_code == 200, response.text
    return response.json()


def test_newest_row_wins_and_rows_are_written_newest_first(workspace):
    api = workspace.api
    lb = api.create_push_leaderboard()
    api.push(lb, [{"id": "a", "input": "qa", "output": "old"}, {"id": "b", "input": "qb"}])
    api.push(lb, {"id": "a", "input": "qa", "output": "new"})
    api.push(lb, [{"id": "c", "input": "qc"}, {"id": "c", "input": "qc", "output": "last"}])
    result = _consolidate(api, lb)
    assert result["status"] == "consolidated"
    assert result["events_consolidated"] == 5
    rows = _dataset(api, lb)
    assert [r["id"] for r in rows] == ["c", "a", "b"]
    assert {r["id"]: r["expected"] for r in rows} == {"a": "new", "b": None, "c": "last"}


def test_auto_limit_keeps_the_newest_max_samples(workspace):
    api = workspace.api
    lb = api.create_push_leaderboard(auto_limit=True, max_samples=4)
    api.push(lb, [{"id": f"r{i}", "input": f"q{i}"} for i in range(3)])
    _consolidate(api, lb)
    api.push(lb, [{"id": f"r{i}", "input": f"q{i}"} for i in range(3, 6)])
    result = _consolidate(api, lb)
    assert result["version"]["version"] == 2
    assert result["version"]["rows"] == 4
    assert [r["id"] for r in _dataset(api, lb)] == ["r5", "r4", "r3", "r2"]


def test_without_auto_limit_every_row_is_kept(workspace):
    api = workspace.api
    lb = api.create_push_leaderboard(auto_limit=False, max_samples=2)
    api.push(lb, [{"input": f"q{i}"} for i in range(5)])
    assert _consolidate(api, lb)["version"]["rows"] == 5


def test_a_new_version_merges_over_the_previous_one_which_stays_readable(workspace, deps):
    api = workspace.api
    lb = api.create_push_leaderboard()
    api.push(lb, [{"id": "x", "input": "q", "output": "v1"}, {"id": "y", "input": "q2"}])
    first = _consolidate(api, lb)["version"]
    api.push(lb, {"id": "x", "input": "q", "output": "v2"})
    second = _consolidate(api, lb)["version"]
    assert (first["version"], second["version"]) == (1, 2)
    assert first["object_name"] != second["object_name"]
    old = list(deps.datasets.read_rows(first["object_name"], first["generation"]))
    assert {r["id"]: r["expected"] for r in old} == {"x": "v1", "y": None}
    assert {r["id"]: r["expected"] for r in _dataset(api, lb)} == {"x": "v2", "y": None}


def test_nothing_pending_writes_no_version(workspace):
    api = workspace.api
    lb = api.create_push_leaderboard()
    assert _consolidate(api, lb) | {"leaderboard_id": None} == {
        "leaderboard_id": None,
        "status": "nothing_pending",
        "rounds": 0,
        "events_consolidated": 0,
        "version": None,
        "changed_rows": 0,
        "improvement_run_id": None,
    }


def test_status_reports_the_dataset_and_its_download_matches_sha256(workspace):
    api = workspace.api
    lb = api.create_push_leaderboard()
    api.push(lb, [{"input": f"q{i}", "output": "a"} for i in range(7)])
    _consolidate(api, lb)
    status = api.get(f"/v1/leaderboard/{lb}/dataset/status").json()
    dataset = status["dataset"]
    assert dataset["version"] == 1
    assert dataset["rows"] == 7
    assert dataset["uri"].startswith(f"gs://{os.environ['DRGERO_BUCKET']}/datasets/{lb}/v000001-")
    download = api.get(dataset["download_path"])
    assert download.headers["Content-Type"].startswith("application/jsonl")
    assert len(download.content) == dataset["bytes"]
    assert hashlib.sha256(download.content).hexdigest() == dataset["sha256"]
    assert dataset["consolidated_at"]
    assert status["counts"] == {
        "accepted": 7,
        "consolidated": 7,
        "pending": 0,
        "refused": 0,
        "rejected": 0,
    }


def test_many_pending_documents_are_folded_in_rounds(workspace, deps):
    api = workspace.api
    lb = api.create_push_leaderboard()
    for i in range(7):
        api.push(lb, [{"id": f"b{i}-{j}", "input": f"q{i}-{j}"} for j in range(2)])
    small = dataclasses.replace(
        deps, settings=deps.settings.model_copy(update={"consolidation_round_docs": 3})
    )
    result = consolidate(small, lb, reason="test")
    assert result.rounds == 3
    assert result.events == 14
    assert result.version is not None and result.version.version == 3
    assert len(_dataset(api, lb)) == 14


# -- crash safety ---------------------------------------------------------------------------

_KILLER = """
import os, signal, sys
from shared import bootstrap
from shared.services.consolidation import consolidate

def checkpoint(stage):
    if stage == sys.argv[2]:
        os.kill(os.getpid(), signal.SIGKILL)

consolidate(bootstrap.deps(), sys.argv[1], reason="test", checkpoint=checkpoint)
"""


def _same_pushes(api, *leaderboards: str) -> None:
    batches = [
        [{"id": "p", "input": "a question", "output": "first"}, {"input": "no id here"}],
        [{"id": "p", "input": "a question", "output": "second", "rubric": "be brief"}],
        [{"messages": [{"role": "user", "content": "hi"}], "tags": ["x"], "extra": 1}],
    ]
    for lb in leaderboards:
        for rows in batches:
            assert api.push(lb, rows).status_code == 200


@pytest.mark.parametrize("stage", ["leased", "merged", "uploaded", "committed"])
def test_a_consolidation_killed_at_any_stage_then_rerun_gives_the_same_dataset(
    workspace, deps, stack, stage
):
    api = workspace.api
    reference, victim = api.create_push_leaderboard(), api.create_push_leaderboard()
    _same_pushes(api, reference, victim)
    expected = _consolidate(api, reference)["version"]
    assert _consolidate(api, victim)["version"]["sha256"] == expected["sha256"]
    api.push(reference, {"input": "after the first version"})
    api.push(victim, {"input": "after the first version"})

    # Kill a real process at `stage` of the second consolidation of `victim`.
    env = os.environ | stack.env | {"DRGERO_CONSOLIDATION_LEASE_SECONDS": "1"}
    killed = subprocess.run(
        [sys.executable, "-c", _KILLER, victim, stage], cwd=REPO, env=env, timeout=120
    )
    assert killed.returncode == -9
    time.sleep(1.2)  # the dead process's lease runs out

    rerun = consolidate(deps, victim, reason="rerun")
    reference_v2 = consolidate(deps, reference, reason="reference").version
    victim_now = deps.leaderboards.get(victim).dataset_version
    assert reference_v2 is not None and victim_now is not None
    assert victim_now.version == 2
    assert victim_now.sha256 == reference_v2.sha256
    assert victim_now.rows == reference_v2.rows == expected["rows"] + 1
    assert rerun.rounds == (0 if stage == "committed" else 1)
    counts = api.get(f"/v1/leaderboard/{victim}/dataset/status").json()["counts"]
    assert counts["pending"] == 0
    assert counts["consolidated"] == counts["accepted"] == 5


def test_two_consolidations_never_run_at_once(workspace, deps):
    api = workspace.api
    lb = api.create_push_leaderboard()
    api.push(lb, [{"input": f"q{i}"} for i in range(3)])
    inside = threading.Event()
    release = threading.Event()

    def hold(stage: str) -> None:
        if stage == "merged":
            inside.set()
            release.wait(30)

    worker = threading.Thread(target=lambda: consolidate(deps, lb, reason="a", checkpoint=hold))
    worker.start()
    assert inside.wait(30)
    second = api.post(f"/v1/leaderboard/{lb}/dataset/consolidate")
    assert second.status_code == 409
    assert second.json()["error"]["code"] == "consolidation_in_progress"
    release.set()
    worker.join(30)
    assert deps.leaderboards.get(lb).dataset_version.version == 1


def test_a_holder_that_outlived_its_lease_cannot_commit(workspace, deps):
    api = workspace.api
    lb = api.create_push_leaderboard()
    api.push(lb, [{"id": "k", "input": "q", "output": "one"}])
    short = dataclasses.replace(
        deps, settings=deps.settings.model_copy(update={"consolidation_lease_seconds": 0.5})
    )

    def stall(stage: str) -> None:
        if stage == "uploaded":
            time.sleep(1.0)  # past the lease: someone else takes over meanwhile
            taken = consolidate(deps, lb, reason="takeover")
            assert taken.version is not None and taken.version.version == 1

    with pytest.raises(Conflict):
        consolidate(short, lb, reason="stalled", checkpoint=stall)
    board = deps.leaderboards.get(lb)
    assert board.dataset_version.version == 1
    assert api.get(f"/v1/leaderboard/{lb}/dataset/status").json()["counts"]["consolidated"] == 1


# -- task delivery ----------------------------------------------------------------------------


def _task(stack, lb: str) -> httpx.Response:
    return httpx.post(
        f"{stack.base_url}/internal/tasks/consolidate",
        json={"leaderboard_id": lb, "reason": "every_events"},
        headers=stack.internal_headers("/internal/tasks/consolidate"),
        timeout=60,
    )


def test_a_consolidation_task_delivered_twice_counts_once(workspace, deps, stack):
    api = workspace.api
    lb = api.create_push_leaderboard()
    api.push(lb, [{"input": f"q{i}"} for i in range(4)])
    first, second = _task(stack, lb), _task(stack, lb)
    assert first.status_code == second.status_code == 200
    assert first.json()["status"] == "consolidated"
    assert second.json()["status"] == "nothing_pending"
    counts = api.get(f"/v1/leaderboard/{lb}/dataset/status").json()["counts"]
    assert counts["consolidated"] == 4
    assert counts["pending"] == 0
    traces = api.get(f"/v1/leaderboard/{lb}/traces", params={"kind": "consolidation"}).json()
    assert len(traces["items"]) == 1


def test_the_same_task_enqueued_twice_through_cloud_tasks_counts_once(workspace, deps):
    api = workspace.api
    lb = api.create_push_leaderboard()
    api.push(lb, [{"input": f"q{i}"} for i in range(6)])
    for _ in range(2):  # the emulator delivers both (Cloud Tasks would drop the second name)
        deps.tasks.enqueue(
            Consolidate(leaderboard_id=lb, reason="test"), name=f"consolidate-{lb}-twice"
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        status = api.get(f"/v1/leaderboard/{lb}/dataset/status").json()
        if status["counts"]["pending"] == 0:
            break
        time.sleep(0.2)
    time.sleep(1.0)  # let the second delivery land too
    status = api.get(f"/v1/leaderboard/{lb}/dataset/status").json()
    assert status["counts"]["consolidated"] == 6
    assert status["dataset"]["version"] == 1


def test_internal_endpoints_refuse_calls_without_an_id_token(stack, workspace):
    lb = workspace.api.create_push_leaderboard()
    for path in ("/internal/tasks/consolidate", "/internal/jobs/consolidate-due"):
        response = httpx.post(f"{stack.base_url}{path}", json={"leaderboard_id": lb})
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "invalid_internal_token"
        assert "Authorization: Bearer" in response.json()["error"]["message"]
        wrong = httpx.post(
            f"{stack.base_url}{path}",
            json={"leaderboard_id": lb},
            headers={"Authorization": "Bearer guess"},
        )
        assert wrong.status_code == 401
        assert wrong.json()["error"]["message"] == "the bearer token is not a JWT"

"""While a run is active, conflicting actions are refused; production never points at a removed
model; a ranking says which configuration it was computed under (``services/run_guard.py``).

Runs are held open by slow simulated models (the in-process simulator runs 100x faster than
its configured latency: 60 s per call is 0.6 s here) and cancelled at the end.
"""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from shared.clock import utcnow
from shared.domain.entities import CandidateModel
from tests.errors import assert_error
from tests.inference_support import fetch_trace, infer
from tests.runs_support import (
    add_models,
    add_openrouter,
    commit_behind_the_api,
    one_shard_runs,
    unique,
    wait_for_run,
)

ROWS = 100  # the rows of the `leaderboard` fixture (tests/integration/conftest.py)
SLOW = {"fixed": 60_000}


def _slow_run(api, lb, count: int = 2) -> tuple[list[str], str]:
    """``count`` slow candidates and a run of them, still active."""
    models = add_models(*({"id": unique("held/slow"), "latency_ms": SLOW} for _ in range(count)))
    ids = [add_openrouter(api, lb, model) for model in models]
    started = api.post(f"/v1/leaderboard/{lb}/runs", json={})
    assert started.status_code == 202, started.text
    return ids, started.json()["id"]


def _refused(response, run_id: str) -> dict:
    error = assert_error(response, 409, "run_in_progress")
    assert error["active_run_id"] == run_id
    assert run_id in error["message"] and "cancel" in error["message"]
    return error


def test_every_conflicting_action_is_refused_while_a_run_is_active(leaderboard):
    api, lb = leaderboard
    ids, run_id = _slow_run(api, lb)
    before = api.get(f"/v1/leaderboard/{lb}").json()
    assert before["active_run_id"] == run_id
    extra = add_models({"id": unique("held/extra")})[0]

    _refused(
        api.post(
            f"/v1/leaderboard/{lb}/models", json={"platform": "openrouter", "model_id": extra}
        ),
        run_id,
    )
    _refused(api.delete(f"/v1/leaderboard/{lb}/models/{ids[1]}"), run_id)
    _refused(
        api.post(f"/v1/leaderboard/{lb}/models/auto-select", json={"count": 1, "dry_run": False}),
        run_id,
    )
    _refused(
        api.http.patch(f"/v1/leaderboard/{lb}", json={"system_prompt": "Other.\n\n{input}"}), run_id
    )
    contains = {"type": "exact", "match": "contains"}
    _refused(api.http.patch(f"/v1/leaderboard/{lb}", json={"evaluation": contains}), run_id)
    _refused(api.http.patch(f"/v1/leaderboard/{lb}", json={"inference": {"fallbacks": 0}}), run_id)
    _refused(api.http.patch(f"/v1/leaderboard/{lb}", json={"dataset": {"daily_limit": 50}}), run_id)
    # A rename that comes with a refused change is refused as a whole: nothing half-applied.
    both = {"name": "renamed", "system_prompt": "X {input}"}
    _refused(api.http.patch(f"/v1/leaderboard/{lb}", json=both), run_id)

    after = api.get(f"/v1/leaderboard/{lb}").json()
    for field in ("name", "system_prompt", "evaluation", "inference", "dataset", "config_hash"):
        assert after[field] == before[field], field
    assert [m["id"] for m in api.get(f"/v1/leaderboard/{lb}/models").json()["items"]] == ids

    assert api.post(f"/v1/leaderboard/{lb}/runs/{run_id}/cancel").status_code == 200
    # The run is over: the same changes go through.
    assert (
        api.http.patch(
            f"/v1/leaderboard/{lb}", json={"system_prompt": "Other.\n\n{input}"}
        ).status_code
        == 200
    )
    assert api.delete(f"/v1/leaderboard/{lb}/models/{ids[1]}").status_code == 204


def test_allowed_actions_succeed_while_a_run_is_active(leaderboard):
    api, lb = leaderboard
    ids, run_id = _slow_run(api, lb)
    current = api.get(f"/v1/leaderboard/{lb}").json()

    renamed = api.http.patch(f"/v1/leaderboard/{lb}", json={"name": "renamed during the run"})
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["name"] == "renamed during the run"
    scheduled = api.http.patch(f"/v1/leaderboard/{lb}", json={"schedule": {"cron": "0 3 * * *"}})
    assert scheduled.status_code == 200, scheduled.text
    assert api.http.patch(f"/v1/leaderboard/{lb}", json={"clear_schedule": True}).status_code == 200
    # The values it already has change nothing: not a conflict.
    same = api.http.patch(
        f"/v1/leaderboard/{lb}",
        json={"system_prompt": current["system_prompt"], "evaluation": current["evaluation"],
              "inference": current["inference"]},
    )  # fmt: skip
    assert same.status_code == 200, same.text
    pinned = api.http.put(
        f"/v1/leaderboard/{lb}/selection", json={"strategy": "manual", "model_id": ids[0]}
    )
    assert pinned.status_code == 200, pinned.text
    token = api.post(f"/v1/leaderboard/{lb}/dataset/tokens", json={"name": "during the run"})
    assert token.status_code == 201, token.text
    pushed = api.push(lb, [{"input": "a new question", "output": "42"}])
    assert pushed.status_code == 200, pushed.text
    dry = api.post(f"/v1/leaderboard/{lb}/models/auto-select", json={"count": 1, "dry_run": True})
    assert dry.status_code != 409, dry.text

    run = api.get(f"/v1/leaderboard/{lb}/runs/{run_id}").json()
    assert run["status"] in ("queued", "running")
    assert api.post(f"/v1/leaderboard/{lb}/runs/{run_id}/cancel").status_code == 200


def test_a_run_starting_during_a_removal_either_sees_it_or_refuses_it(leaderboard):
    """Concurrent start + removal: the removed model is never in a run that started after the
    removal was accepted, and a removal refused (409) left the model in the run."""
    api, lb = leaderboard
    models = add_models(*({"id": unique("race/m")} for _ in range(3)))
    keep_a, keep_b = (add_openrouter(api, lb, m) for m in models[:2])
    outcomes = set()
    for attempt in range(8):
        doomed = add_openrouter(api, lb, models[2])
        gate = threading.Barrier(2)

        def start(gate=gate):
            gate.wait()
            return api.post(f"/v1/leaderboard/{lb}/runs", json={})

        def remove(model_id=doomed, gate=gate, delay=attempt * 0.015):
            gate.wait()
            time.sleep(delay)  # from "at once" to "once the run is likely started"
            return api.delete(f"/v1/leaderboard/{lb}/models/{model_id}")

        with ThreadPoolExecutor(max_workers=2) as pool:
            started, removed = pool.submit(start), pool.submit(remove)
            started, removed = started.result(), removed.result()
        assert started.status_code == 202, started.text
        run = api.get(f"/v1/leaderboard/{lb}/runs/{started.json()['id']}").json()
        in_run = {m["id"] for m in run["model_configs"]}
        if removed.status_code == 204:
            assert doomed not in in_run, "a removal that was accepted is missing from the snapshot"
            outcomes.add("removed first")
        else:
            _refused(removed, run["id"])
            assert doomed in in_run
            outcomes.add("run first")
        assert {keep_a, keep_b} <= in_run
        assert api.post(f"/v1/leaderboard/{lb}/runs/{run['id']}/cancel").status_code == 200
        if removed.status_code != 204:
            assert api.delete(f"/v1/leaderboard/{lb}/models/{doomed}").status_code == 204
    print("orders seen:", sorted(outcomes))  # (which one wins each time is up to the threads)


def test_a_snapshot_read_before_a_removal_cannot_start_a_run(leaderboard, deps):
    """The storage rule under the race, without timing: a run built from a leaderboard read
    before a candidate was removed is not created; a change built on a leaderboard read before
    a run started is not committed."""
    from shared.services.runs import _new_run
    from shared.storage.leaderboards import Change, LeaderboardChanged

    api, lb = leaderboard
    ids = [
        add_openrouter(api, lb, m)
        for m in add_models(*({"id": unique("rule/m")} for _ in range(3)))
    ]
    stale = deps.leaderboards.get(lb)
    run = _new_run(deps, stale, source="manual", requested_by=None, model_ids=None)
    assert api.delete(f"/v1/leaderboard/{lb}/models/{ids[2]}").status_code == 204
    with pytest.raises(LeaderboardChanged):
        deps.runs.create_with_lock(run, board_revision=stale.revision)
    assert deps.runs.get(lb, run.id) is None and deps.runs.active_lock(lb) is None

    before_run = deps.leaderboards.get(lb)
    started = api.post(f"/v1/leaderboard/{lb}/runs", json={}).json()
    with pytest.raises(LeaderboardChanged):
        deps.leaderboards.commit_if_unchanged(before_run, Change({"system_prompt": "late {input}"}))
    assert deps.leaderboards.get(lb).system_prompt != "late {input}"
    wait_for_run(api, lb, started["id"])


def test_a_candidate_removed_just_before_the_run_cannot_be_selected(leaderboard, deps, monkeypatch):
    one_shard_runs(monkeypatch, deps.settings)  # rankings are tested here, not shards
    api, lb = leaderboard
    best, mid, low = add_models(
        {"id": unique("pre/best"), "accuracy": 1.0},
        {"id": unique("pre/mid"), "accuracy": 0.7},
        {"id": unique("pre/low"), "accuracy": 0.3},
    )
    best_id = add_openrouter(api, lb, best)
    mid_id, low_id = add_openrouter(api, lb, mid), add_openrouter(api, lb, low)
    assert api.delete(f"/v1/leaderboard/{lb}/models/{best_id}").status_code == 204
    run = wait_for_run(api, lb, api.post(f"/v1/leaderboard/{lb}/runs", json={}).json()["id"])
    assert run["status"] == "completed", run.get("failure")
    assert {m["id"] for m in run["model_configs"]} == {mid_id, low_id}
    ranking = api.get(f"/v1/leaderboard/{lb}/ranking").json()
    assert ranking["selection"]["model_id"] == mid_id
    assert best_id not in [m["model_id"] for m in ranking["ranking"]["models"]]


def _delete_behind_the_api(deps, lb: str, model_id: str) -> None:
    """A candidate gone without the API's checks (a ranking can outlive its models)."""
    commit_behind_the_api(deps, deps.candidates.delete(lb, model_id))


def test_publishing_a_ranking_selects_the_best_model_still_a_candidate(leaderboard, deps):
    api, lb = leaderboard
    best, mid = add_models(
        {"id": unique("pub/best"), "accuracy": 1.0, "latency_ms": {"fixed": 2_000}},
        {"id": unique("pub/mid"), "accuracy": 0.5, "latency_ms": {"fixed": 2_000}},
    )
    best_id, mid_id = add_openrouter(api, lb, best), add_openrouter(api, lb, mid)
    run_id = api.post(f"/v1/leaderboard/{lb}/runs", json={}).json()["id"]
    _delete_behind_the_api(deps, lb, best_id)
    run = wait_for_run(api, lb, run_id)
    assert run["status"] == "completed", run.get("failure")
    assert run["ranking"]["leader"] == best_id  # it won the run ...
    ranking = api.get(f"/v1/leaderboard/{lb}/ranking").json()
    assert ranking["selection"]["model_id"] == mid_id  # ... but production is a candidate
    assert ranking["ranking"]["stale"] is True and ranking["ranking"]["stale_parts"] == [
        "candidates"
    ]


def test_inference_keeps_serving_when_the_selected_model_disappears(leaderboard, deps, monkeypatch):
    one_shard_runs(monkeypatch, deps.settings)  # rankings are tested here, not shards
    api, lb = leaderboard
    best, mid = add_models(
        {"id": unique("gone/best"), "accuracy": 1.0}, {"id": unique("gone/mid"), "accuracy": 0.5}
    )
    best_id, mid_id = add_openrouter(api, lb, best), add_openrouter(api, lb, mid)
    run = wait_for_run(api, lb, api.post(f"/v1/leaderboard/{lb}/runs", json={}).json()["id"])
    assert run["status"] == "completed", run.get("failure")
    assert api.get(f"/v1/leaderboard/{lb}/ranking").json()["selection"]["model_id"] == best_id
    _delete_behind_the_api(deps, lb, best_id)  # before any inference: nothing cached yet

    answered = infer(api, lb, input="What is 1 plus 1001?")
    assert answered.status_code == 200, answered.text
    body = answered.json()
    assert body["model"]["id"] == mid_id and body["fallback"] is True
    assert body["attempts"] == [{"model_id": best_id, "error": "model_not_candidate"}]
    trace = fetch_trace(api, lb, body["trace_id"])
    assert trace["fallback"] is True and trace["model_id"] == mid_id


def test_a_ranking_is_marked_stale_when_the_configuration_changes(leaderboard, deps, monkeypatch):
    one_shard_runs(monkeypatch, deps.settings)  # rankings are tested here, not shards
    api, lb = leaderboard
    models = add_models({"id": unique("stale/a"), "accuracy": 0.9}, {"id": unique("stale/b")})
    ids = [add_openrouter(api, lb, m) for m in models]
    run = wait_for_run(api, lb, api.post(f"/v1/leaderboard/{lb}/runs", json={}).json()["id"])
    board_now = api.get(f"/v1/leaderboard/{lb}").json()
    assert run["config_hash"] == board_now["config_hash"]
    summary = board_now["ranking_summary"]
    assert summary["run_id"] == run["id"] and summary["config_hash"] == run["config_hash"]
    assert summary["stale"] is False and summary["stale_parts"] == []
    ranking = api.get(f"/v1/leaderboard/{lb}/ranking").json()
    assert ranking["ranking"]["config_hash"] == ranking["config_hash"] == run["config_hash"]
    assert ranking["ranking"]["stale"] is False

    # A rename or a schedule is not part of what a ranking is computed under.
    api.http.patch(
        f"/v1/leaderboard/{lb}", json={"name": "another name", "schedule": {"cron": "0 4 * * *"}}
    )
    assert api.get(f"/v1/leaderboard/{lb}").json()["ranking_summary"]["stale"] is False

    assert (
        api.http.patch(
            f"/v1/leaderboard/{lb}", json={"system_prompt": "Number only: {input}"}
        ).status_code
        == 200
    )
    changed = api.get(f"/v1/leaderboard/{lb}").json()
    assert changed["config_hash"] != run["config_hash"]
    assert changed["ranking_summary"]["stale"] is True
    assert changed["ranking_summary"]["stale_parts"] == ["system_prompt"]

    extra = add_openrouter(api, lb, add_models({"id": unique("stale/c")})[0])
    ranking = api.get(f"/v1/leaderboard/{lb}/ranking").json()
    assert ranking["ranking"]["stale_parts"] == ["system_prompt", "candidates"]
    assert extra not in ids

    # A new run under the new configuration is current again.
    rerun = wait_for_run(api, lb, api.post(f"/v1/leaderboard/{lb}/runs", json={}).json()["id"])
    again = api.get(f"/v1/leaderboard/{lb}").json()
    assert again["ranking_summary"]["run_id"] == rerun["id"]
    assert again["ranking_summary"]["stale"] is False
    assert rerun["config_hash"] == again["config_hash"] != run["config_hash"]


def test_concurrent_adds_never_pass_the_candidate_limit(leaderboard, deps):
    """The limit check and the add are committed on the leaderboard as read: exact. The
    leaderboard is filled to four below the limit, then eight adds race for the four slots."""
    api, lb = leaderboard
    cap = deps.settings.max_candidates_per_leaderboard
    filler = [
        {"id": f"m_fill{i:02d}", "label": f"fill {i}", "platform": "openrouter",
         "config": {"platform": "openrouter", "model_id": f"fill/{uuid.uuid4().hex}"},
         "source": "manual", "reason": None, "published": None, "added_at": utcnow(),
         "added_by": "test"}
        for i in range(cap - 4)
    ]  # fmt: skip
    commit_behind_the_api(
        deps, *(deps.candidates.add(lb, CandidateModel.model_validate(m)) for m in filler)
    )
    models = add_models(*({"id": unique("cap/m")} for _ in range(8)))

    def add(model: str):
        body = {"platform": "openrouter", "model_id": model}
        return api.post(f"/v1/leaderboard/{lb}/models", json=body)

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(add, models))
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [201] * 4 + [409] * 4, statuses
    assert len(api.get(f"/v1/leaderboard/{lb}/models").json()["items"]) == cap
    refused = [a.json()["error"]["code"] for a in answers if a.status_code == 409]
    assert refused == ["candidate_limit_reached"] * 4

"""Runs end to end on the simulator: ranking, retries, duplicates, conflicts, cancel, watchdog."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from devstack.identity import LOCAL_SCHEDULER_ACCOUNT as SCHEDULER
from tests.runs_support import (
    add_models,
    add_openrouter,
    arithmetic_rows,
    connect_openrouter,
    push_leaderboard,
    unique,
    wait_for_run,
)

ROWS = 120  # the rows of the `leaderboard` fixture (tests/integration/conftest.py)


def test_a_run_of_three_models_ranks_them_by_their_accuracy(leaderboard, deps):
    api, lb = leaderboard
    # Fixed ids: a simulated model's right answers are a hash of (model id, row), so the
    # realised accuracies, and this test's outcome, are the same on every run.
    high, mid, low = add_models(
        {"id": "sim/ranking-high", "accuracy": 0.95},
        {"id": "sim/ranking-mid", "accuracy": 0.6},
        {"id": "sim/ranking-low", "accuracy": 0.25},
    )
    ids = {add_openrouter(api, lb, model): model for model in (high, mid, low)}
    started = api.post(f"/v1/leaderboard/{lb}/runs", json={})
    assert started.status_code == 202, started.text
    body = started.json()
    assert body["status"] == "queued"
    assert body["estimate"]["seconds"] > 0
    assert body["estimate"]["cost_usd"] > 0
    assert body["estimate"]["rows"] == ROWS

    run = wait_for_run(api, lb, body["id"], every=0.005)
    board = api.get(f"/v1/leaderboard/{lb}/ranking").json()  # at once: published with the run
    assert run["status"] == "completed", run.get("failure")
    ranking = run["ranking"]
    order = [ids[m["model_id"]] for m in ranking["models"]]
    assert order == [high, mid, low]
    scores = {ids[m["model_id"]]: m["mean_score"] for m in ranking["models"]}
    assert abs(scores[high] - 0.95) < 0.1
    assert abs(scores[mid] - 0.6) < 0.12
    assert abs(scores[low] - 0.25) < 0.12
    leader = ranking["models"][0]
    assert leader["ci_low"] <= leader["mean_score"] <= leader["ci_high"]
    assert ranking["leader"] == ranking["models"][0]["model_id"]
    assert ranking["tied"] == [ranking["leader"]]
    assert all(m["n_rows"] == ROWS and m["n_errors"] == 0 for m in ranking["models"])
    assert all(
        m["latency_p50_ms"] is not None and m["cost_total_usd"] > 0 for m in ranking["models"]
    )

    # Run log: source, times, cost split, snapshots; progress complete.
    assert run["source"] == "manual"
    assert run["execution_seconds"] > 0
    assert run["cost"]["candidates_usd"] > 0 and run["cost"]["judge_usd"] == 0
    assert run["leaderboard_config"]["system_prompt"].startswith("Answer with the number")
    assert {m["id"] for m in run["model_configs"]} == set(ids)
    assert "endpoints" not in run
    assert run["dataset"]["rows"] == ROWS and run["dataset"]["mode"] == "push"
    assert run["progress"]["shards_done"] == run["progress"]["shards_total"]
    assert all(p["rows_done"] == ROWS for p in run["progress"]["models"].values())

    # The winner is now the leaderboard's production model.
    assert board["selection"]["strategy"] == "ranking_winner"
    assert board["selected_model"]["id"] == ranking["leader"]
    assert board["ranking"]["run_id"] == body["id"]
    listed = api.get(f"/v1/leaderboard/{lb}/runs").json()["items"]
    assert (
        listed[0]["id"] == body["id"]
        and listed[0]["ranking_summary"]["leader"] == ranking["leader"]
    )


def test_a_completed_run_is_never_seen_before_its_ranking(leaderboard, deps, monkeypatch):
    api, lb = leaderboard
    real_update = deps.leaderboards.update

    def slow_update(leaderboard_id, fields):  # a slow write leaves no window open
        if "ranking" in fields:
            time.sleep(1.0)
        real_update(leaderboard_id, fields)

    monkeypatch.setattr(deps.leaderboards, "update", slow_update)
    first, second = add_models(
        {"id": "sim/publish-a", "accuracy": 0.9}, {"id": "sim/publish-b", "accuracy": 0.3}
    )
    winner = add_openrouter(api, lb, first)
    add_openrouter(api, lb, second)
    run_id = api.post(f"/v1/leaderboard/{lb}/runs", json={}).json()["id"]
    run = wait_for_run(api, lb, run_id, every=0.005)
    board = api.get(f"/v1/leaderboard/{lb}/ranking").json()
    assert run["status"] == "completed" and run["ranking"]["leader"] == winner
    assert board["ranking"]["run_id"] == run_id
    assert board["selected_model"]["id"] == winner


def test_injected_429s_and_500s_are_retried_and_scores_stay_right(leaderboard):
    api, lb = leaderboard
    flaky, steady = add_models(
        {"id": unique("sim/flaky"), "accuracy": 1.0, "error_rate": 0.1, "rate_limit_rate": 0.1,
         "retry_after_seconds": 0},
        {"id": unique("sim/steady"), "accuracy": 0.5},
    )  # fmt: skip
    flaky_id = add_openrouter(api, lb, flaky)
    add_openrouter(api, lb, steady)
    run = wait_for_run(api, lb, api.post(f"/v1/leaderboard/{lb}/runs", json={}).json()["id"])
    assert run["status"] == "completed", run.get("failure")
    stats = next(m for m in run["ranking"]["models"] if m["model_id"] == flaky_id)
    assert stats["n_errors"] <= 2  # 5 attempts per row: a row fails only if all five do
    assert stats["mean_score"] == 1.0
    assert run["ranking"]["leader"] == flaky_id
    calls = httpx.get(f"{_sim()}/_sim/stats", timeout=10).json()
    flaky_calls = _model_stats(calls, flaky)
    assert flaky_calls["429"] + flaky_calls["500"] > 0  # faults really happened


def test_two_concurrent_run_requests_one_is_refused(leaderboard):
    api, lb = leaderboard
    for model in add_models({"id": unique("sim/a")}, {"id": unique("sim/b")}):
        add_openrouter(api, lb, model)
    with ThreadPoolExecutor(max_workers=2) as pool:
        answers = list(
            pool.map(lambda _: api.post(f"/v1/leaderboard/{lb}/runs", json={}), range(2))
        )
    assert sorted(a.status_code for a in answers) == [202, 409]
    refused = next(a for a in answers if a.status_code == 409).json()["error"]
    accepted = next(a for a in answers if a.status_code == 202).json()
    assert refused["code"] == "run_in_progress"
    assert refused["active_run_id"] == accepted["id"]
    assert wait_for_run(api, lb, accepted["id"])["status"] == "completed"
    # Once it finished, a new run may start.
    again = api.post(f"/v1/leaderboard/{lb}/runs", json={})
    assert again.status_code == 202
    wait_for_run(api, lb, again.json()["id"])


def test_a_shard_delivered_twice_is_counted_once(leaderboard, deps, stack):
    api, lb = leaderboard
    models = [
        add_openrouter(api, lb, m)
        for m in add_models({"id": unique("sim/x")}, {"id": unique("sim/y")})
    ]
    run_id = api.post(f"/v1/leaderboard/{lb}/runs", json={}).json()["id"]
    run = wait_for_run(api, lb, run_id)
    assert run["status"] == "completed"
    # Every shard again, as Cloud Tasks may redeliver: nothing changes.
    for model_id in models:
        for shard in range(run["dataset"]["shards"]):
            again = httpx.post(
                f"{_base(api)}/internal/tasks/evaluate-shard",
                json={"leaderboard_id": lb, "run_id": run_id, "model_id": model_id, "shard": shard},
                headers=stack.internal_headers("/internal/tasks/evaluate-shard"),
                timeout=60,
            )
            assert again.status_code == 200 and again.json()["status"] == "dropped"
    # And the counting itself refuses a second completion of the same shard.
    assert (
        deps.runs.complete_shard(lb, run_id, model_id=models[0], shard=0, counts={"rows_done": 25})
        is None
    )
    after = api.get(f"/v1/leaderboard/{lb}/runs/{run_id}").json()
    assert after["progress"] == run["progress"]
    assert all(p["rows_done"] == ROWS for p in after["progress"]["models"].values())


def test_runs_need_two_models_and_rows(workspace):
    api = workspace.api
    connect_openrouter(api)
    rows = arithmetic_rows(100)
    lb = push_leaderboard(api, rows)
    [only] = add_models({"id": unique("sim/solo")})
    add_openrouter(api, lb, only)
    refused = api.post(f"/v1/leaderboard/{lb}/runs", json={})
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "not_enough_models"


def test_a_push_dataset_needs_100_rows_before_models(workspace):
    api = workspace.api
    connect_openrouter(api)
    lb = push_leaderboard(api, arithmetic_rows(40))
    [model] = add_models({"id": unique("sim/early")})
    early = api.post(
        f"/v1/leaderboard/{lb}/models", json={"platform": "openrouter", "model_id": model}
    )
    assert early.status_code == 409
    error = early.json()["error"]
    assert (error["code"], error["rows"], error["required_rows"]) == ("dataset_too_small", 40, 100)


def test_cancel_stops_a_run_and_frees_the_leaderboard(leaderboard, deps):
    api, lb = leaderboard
    slow = add_models(
        {"id": unique("sim/slow"), "latency_ms": {"fixed": 300}},
        {"id": unique("sim/slow2"), "latency_ms": {"fixed": 300}},
    )
    for model in slow:
        add_openrouter(api, lb, model)
    run_id = api.post(f"/v1/leaderboard/{lb}/runs", json={}).json()["id"]
    cancelled = api.post(f"/v1/leaderboard/{lb}/runs/{run_id}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    assert api.post(f"/v1/leaderboard/{lb}/runs/{run_id}/cancel").status_code == 409
    assert deps.leaderboards.get(lb).active_run_id is None
    next_run = api.post(f"/v1/leaderboard/{lb}/runs", json={})
    assert next_run.status_code == 202
    api.post(f"/v1/leaderboard/{lb}/runs/{next_run.json()['id']}/cancel")


def test_a_stalled_run_is_failed_by_the_watchdog(leaderboard, deps, stack):
    api, lb = leaderboard
    for model in add_models(
        {"id": unique("sim/w1"), "latency_ms": {"fixed": 200}}, {"id": unique("sim/w2")}
    ):
        add_openrouter(api, lb, model)
    run_id = api.post(f"/v1/leaderboard/{lb}/runs", json={}).json()["id"]
    from shared.clock import utcnow

    deps.runs.update(lb, run_id, {"deadline_at": utcnow()})  # as if its shards had stalled
    fired = httpx.post(
        f"{stack.base_url}/internal/jobs/runs-watchdog",
        headers=stack.internal_headers("/internal/jobs/runs-watchdog", email=SCHEDULER),
        timeout=60,
    )
    assert fired.status_code == 200 and run_id in fired.json()["failed"]
    run = api.get(f"/v1/leaderboard/{lb}/runs/{run_id}").json()
    assert run["status"] == "failed"
    assert run["failure"]["reason"] == "deadline_exceeded"
    assert "shards" in run["failure"]["detail"] or "prepared" in run["failure"]["detail"]
    assert deps.leaderboards.get(lb).active_run_id is None


def _sim() -> str:
    import os

    return os.environ["HF_ENDPOINT"].rstrip("/")


def _base(api) -> str:
    return str(api.http.base_url).rstrip("/")


def _model_stats(stats: dict, model_id: str) -> dict:
    per_model = stats.get("models", stats)
    entry = per_model.get(model_id, {})
    return {
        "429": entry.get("429", entry.get("rate_limited", 0)),
        "500": entry.get("500", entry.get("errors", 0)),
    }

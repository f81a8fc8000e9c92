"""Helpers for tests that rank models: the simulator's control API, datasets, waiting for runs."""

from __future__ import annotations

import os
import time
import uuid
from typing import Any

import httpx
import pytest

# For tests that need a run's ranking, not its sharding: each candidate's rows in one shard
# task, evaluated 25 at a time. The Cloud Tasks emulator delivers one task at a time, so a
# 100-row run of three candidates is three tasks in a row instead of twelve, in about half the
# time. test_runs.py and test_run_finalize.py keep the default shards: they test them.
ONE_SHARD_RUNS = {"run_shard_size": 1000, "run_row_concurrency": 25}


def one_shard_runs(patch: pytest.MonkeyPatch, settings: Any) -> None:
    """Runs started until ``patch`` is undone evaluate each candidate in one shard."""
    for name, value in ONE_SHARD_RUNS.items():
        patch.setattr(settings, name, value)


def sim_url() -> str:
    return os.environ["HF_ENDPOINT"].rstrip("/")


def sim(path: str, body: Any) -> dict[str, Any]:
    response = httpx.post(f"{sim_url()}{path}", json=body, timeout=30)
    assert response.status_code < 300, response.text
    return response.json() if response.content else {}


def add_models(*models: dict[str, Any]) -> list[str]:
    """Register simulated OpenRouter models (fast by default); answers their ids."""
    ids = []
    for model in models:
        body = {
            "latency_ms": {"fixed": 2},
            "pricing": {"prompt": "0.000001", "completion": "0.000002"},
        } | model
        sim("/_sim/models", body)
        ids.append(body["id"])
    return ids


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def arithmetic_rows(n: int) -> list[dict[str, Any]]:
    return [
        {"id": f"r{i}", "input": f"What is {i} plus {i + 1000}?", "output": str(2 * i + 1000)}
        for i in range(n)
    ]


def register_answers(rows: list[dict[str, Any]]) -> None:
    sim(
        "/_sim/answer-key", {"rows": [{"input": r["input"], "expected": r["output"]} for r in rows]}
    )


def connect_openrouter(api: Any) -> None:
    response = api.http.put(
        "/v1/integrations/openrouter", json={"secret": "sk-or-test-" + uuid.uuid4().hex}
    )
    assert response.status_code == 200, response.text


def push_leaderboard(api: Any, rows: list[dict[str, Any]], **extra: Any) -> str:
    """A PUSH leaderboard holding ``rows``, consolidated, with the workspace's OpenRouter key."""
    body = {
        "name": unique("ranked"),
        "system_prompt": "Answer with the number only.\n\n{input}",
        "dataset": {
            "mode": "push",
            "daily_limit": None,
            "monthly_limit": None,
            "consolidate_every_events": None,
        },
    } | extra
    response = api.post("/v1/leaderboards", json=body)
    assert response.status_code == 201, response.text
    lb = str(response.json()["id"])
    for start in range(0, len(rows), 500):
        assert api.push(lb, rows[start : start + 500]).status_code == 200
    assert api.post(f"/v1/leaderboard/{lb}/dataset/consolidate").status_code == 200
    return lb


def add_openrouter(api: Any, lb: str, model_id: str) -> str:
    response = api.post(
        f"/v1/leaderboard/{lb}/models", json={"platform": "openrouter", "model_id": model_id}
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def wait_for_run(
    api: Any, lb: str, run_id: str, *, timeout: float = 120.0, every: float = 0.3
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    run: dict[str, Any] = {}
    while time.monotonic() < deadline:
        run = api.get(f"/v1/leaderboard/{lb}/runs/{run_id}").json()
        if run["status"] not in ("queued", "running"):
            return run
        time.sleep(every)
    raise AssertionError(
        f"run {run_id} still {run.get('status')} after {timeout}s: {run.get('progress')}"
    )


def commit_behind_the_api(deps: Any, *writes: Any) -> None:
    """Commit repository writes (``deps.candidates.add(...)``, ``.delete(...)``) directly, without
    the API's checks: state a leaderboard can be left in by older code or by hand."""
    batch = deps.db.batch()
    for write in writes:
        write(batch)
    batch.commit()


def answered_push_leaderboard(api: Any, rows: int) -> str:
    """A consolidated PUSH leaderboard of ``rows`` arithmetic rows whose answers the simulator
    knows, in a workspace connected to OpenRouter (the simulator)."""
    data = arithmetic_rows(rows)
    register_answers(data)
    connect_openrouter(api)
    return push_leaderboard(api, data)

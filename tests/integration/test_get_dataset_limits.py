"""GET datasets under hostile or oversized files: limits, plan slots, regexes, hostile answers.

Against the session stack and its simulated Hub: files are published with ``/_sim/hf/files``
and the Hub's downloads are read back from ``/_sim/stats``.
"""

from __future__ import annotations

import base64
import dataclasses
import gzip
import json
import tracemalloc
import uuid
from typing import Any

import httpx
import pytest

from shared import bootstrap
from shared.clock import utcnow
from shared.domain.entities import Run
from shared.errors import PayloadTooLarge
from shared.services import accounts
from shared.services.get_datasets import validate_get_dataset
from shared.services.run_prepare import prepare_run, shard_name
from tests.conftest import Api, Workspace
from tests.runs_support import (
    add_models,
    add_openrouter,
    connect_openrouter,
    register_answers,
    sim,
    sim_url,
    unique,
    wait_for_run,
)


def _publish(rows: list[dict[str, Any]], *, gz: bool = False) -> tuple[str, str]:
    """Rows as a file on the simulated Hub: its hf:// URL and its key in the Hub's stats."""
    repo, path = f"acme/{unique('limits')}", "data/test.jsonl" + (".gz" if gz else "")
    content = "".join(json.dumps(r) + "\n" for r in rows).encode()
    if gz:
        content = gzip.compress(content)
    sim("/_sim/hf/files", {"repo": repo, "path": path,
                           "content_base64": base64.b64encode(content).decode()})  # fmt: skip
    return f"hf://datasets/{repo}/{path}", f"{repo}/{path}"


def _downloads(key: str) -> int:
    stats = httpx.get(f"{sim_url()}/_sim/stats", timeout=30).json()
    return int(stats["downloads"].get(key, 0))


def _create(api: Api, url: str, **extra: Any) -> httpx.Response:
    body = {"name": unique("get"), "system_prompt": "Answer.\n\n{input}",
            "dataset": {"mode": "get", "url": url}} | extra  # fmt: skip
    return api.post("/v1/leaderboards", json=body)


def _free_workspace(stack: Any, deps: bootstrap.Deps) -> Api:
    made = accounts.bootstrap_workspace(deps, name="free-" + uuid.uuid4().hex[:8], plan="free")
    return Api(stack.base_url, made["token"])


ROWS = [{"input": f"q{i}", "output": f"a{i}"} for i in range(5)]


# -- the plan's slot is taken before anything is downloaded ----------------------------------


def test_a_free_workspace_at_its_limit_downloads_nothing(stack, deps):
    api = _free_workspace(stack, deps)
    url, key = _publish(ROWS)
    for _ in range(3):
        assert _create(api, url).status_code == 201
    assert _downloads(key) == 3
    refused = _create(api, url)
    assert refused.status_code == 403, refused.text
    assert refused.json()["error"]["code"] == "plan_limit_reached"
    assert _downloads(key) == 3  # the fourth create made no Hub request


def test_a_refused_dataset_gives_the_slot_back(stack, deps):
    api = _free_workspace(stack, deps)
    url, _ = _publish(ROWS)
    for _ in range(2):
        assert _create(api, url).status_code == 201
    missing = _create(api, url.replace("test.jsonl", "nope.jsonl"))
    assert missing.json()["error"]["code"] == "dataset_not_found"
    bad_url = _create(api, "hf://datasets/../secret/test.jsonl")
    assert bad_url.status_code == 422
    assert bad_url.json()["error"]["code"] == "invalid_dataset_url"
    assert _create(api, url).status_code == 201  # the third slot is still free


# -- validation counts rows, keeps none -------------------------------------------------------


def test_validation_keeps_no_rows_in_memory(workspace: Workspace, deps):
    # 200 rows of ~200 KB each (40 MB) in a small gzip file; validation reads them all.
    big = [{"input": f"{i} " + "x" * 200_000, "output": str(i)} for i in range(200)]
    url, _ = _publish(big, gz=True)
    tracemalloc.start()
    try:
        validation = validate_get_dataset(deps, workspace.id, url)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert validation["checked_rows"] == 200 and validation["valid_rows"] == 200
    assert peak < 12 * 1024 * 1024, f"peak {peak / 2**20:.1f} MiB"


# -- regexes are checked with RE2 when the leaderboard is created or updated ------------------

REGEX = {"type": "exact", "match": "regex"}


def test_a_pattern_re2_cannot_run_is_refused_at_create(workspace: Workspace):
    good, _ = _publish([{"input": "q", "output": r"(?i)answer: [a-d]"}])
    assert _create(workspace.api, good, evaluation=REGEX).status_code == 201
    rows = [{"input": "q0", "output": "a+"}, {"input": "q1", "output": r"(a)\1"}]
    bad, _ = _publish(rows)
    refused = _create(workspace.api, bad, evaluation=REGEX)
    assert refused.status_code == 422, refused.text
    error = refused.json()["error"]
    assert error["code"] == "invalid_regex" and error["row"] == 1
    assert "invalid escape sequence" in error["problem"] and "row 1" in error["message"]
    assert _create(workspace.api, bad).status_code == 201  # exact match: not patterns


def test_a_pattern_re2_cannot_run_is_refused_when_evaluation_turns_to_regex(workspace):
    api = workspace.api
    url, _ = _publish([{"input": "q", "output": "(?=lookahead)x"}])
    created = _create(api, url)
    assert created.status_code == 201
    lb = created.json()["id"]
    refused = api.http.patch(f"/v1/leaderboard/{lb}", json={"evaluation": REGEX})
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["code"] == "invalid_regex"
    assert "invalid perl operator" in refused.json()["error"]["problem"]
    assert api.get(f"/v1/leaderboard/{lb}").json()["evaluation"]["match"] == "exact"
    good, _ = _publish([{"input": "q", "output": "x+"}])
    moved = api.http.patch(
        f"/v1/leaderboard/{lb}", json={"dataset": {"url": good}, "evaluation": REGEX}
    )
    assert moved.status_code == 200, moved.text


# -- a run pins a file within the limits ------------------------------------------------------


def _queued_run(deps: bootstrap.Deps, lb: str) -> str:
    """A queued run record (the prepare task is called directly, with smaller limits)."""
    run_id = "run_" + uuid.uuid4().hex[:20]
    run = {"id": run_id, "leaderboard_id": lb, "status": "queued", "active": True,
           "created_at": utcnow(), "model_configs": [{"id": "m1"}, {"id": "m2"}],
           "estimate": {}, "dataset": None, "failure": None}  # fmt: skip
    board = deps.leaderboards.get(lb)
    assert board is not None and board.revision is not None
    assert deps.runs.create_with_lock(Run.model_validate(run), board_revision=board.revision)
    return run_id


def _limited(deps: bootstrap.Deps, **limits: int) -> bootstrap.Deps:
    return dataclasses.replace(deps, settings=deps.settings.model_copy(update=limits))


def _shards_left(deps: bootstrap.Deps, lb: str, run_id: str) -> bool:
    return any(deps.datasets.exists(shard_name(lb, run_id, k)) for k in range(3))


def test_a_run_over_the_row_limit_fails_naming_it(workspace: Workspace, deps):
    url, _ = _publish([{"input": f"q{i}", "output": "a"} for i in range(60)])
    lb = _create(workspace.api, url).json()["id"]
    run_id = _queued_run(deps, lb)
    answer = prepare_run(_limited(deps, dataset_max_rows=50), lb, run_id)
    assert answer == {"status": "failed", "reason": "dataset_too_many_rows"}
    failure = deps.runs.get(lb, run_id)["failure"]
    assert failure["reason"] == "dataset_too_many_rows" and failure["max_rows"] == 50
    assert "more than 50 rows" in failure["detail"]
    assert not _shards_left(deps, lb, run_id)  # the two written before the limit are gone
    assert deps.runs.active_lock(lb) is None


def test_a_run_over_the_byte_limit_fails_naming_it(workspace: Workspace, deps):
    url, _ = _publish([{"input": f"q{i} " + "x" * 100, "output": "a"} for i in range(60)], gz=True)
    lb = _create(workspace.api, url).json()["id"]
    run_id = _queued_run(deps, lb)
    answer = prepare_run(_limited(deps, dataset_max_bytes=4000), lb, run_id)
    assert answer == {"status": "failed", "reason": "dataset_too_large"}
    failure = deps.runs.get(lb, run_id)["failure"]
    assert failure["reason"] == "dataset_too_large" and failure["max_bytes"] == 4000
    assert "larger than 4000 bytes" in failure["detail"]


def test_a_dataset_over_the_byte_limit_is_413_at_create(workspace: Workspace, deps):
    url, _ = _publish([{"input": "q " + "x" * 5000, "output": "a"}])
    with pytest.raises(PayloadTooLarge) as info:
        validate_get_dataset(_limited(deps, dataset_max_bytes=1000), workspace.id, url)
    assert info.value.code == "dataset_too_large" and info.value.details["max_bytes"] == 1000
    assert "larger than 1000 bytes" in info.value.message


# -- hostile answers score in a run instead of failing its shards -----------------------------


def test_deep_json_and_hostile_numbers_in_answers_are_scored(workspace: Workspace):
    api = workspace.api
    connect_openrouter(api)
    deep = "[" * 1000 + "]" * 1000
    spaces = " " * 100_000 + "x"
    rows = [
        {"input": f"deep {uuid.uuid4().hex}", "output": "[1]"},
        {"input": f"spaces {uuid.uuid4().hex}", "output": "1"},
        {"input": f"fine {uuid.uuid4().hex}", "output": "42"},
    ]
    answers = [deep, spaces, "42"]
    register_answers(
        [{"input": r["input"], "output": a} for r, a in zip(rows, answers, strict=True)]
    )
    url, _ = _publish(rows)
    evaluation = {"type": "exact", "json": True, "numeric_tolerance": 0.5}
    created = _create(api, url, evaluation=evaluation)
    assert created.status_code == 201, created.text
    lb = created.json()["id"]
    models = [add_openrouter(api, lb, m) for m in add_models(
        {"id": unique("sim/hostile")}, {"id": unique("sim/hostile")})]  # fmt: skip
    run = wait_for_run(api, lb, api.post(f"/v1/leaderboard/{lb}/runs", json={}).json()["id"])
    assert run["status"] == "completed", run.get("failure")
    for stats in run["ranking"]["models"]:
        assert stats["model_id"] in models
        assert stats["n_errors"] == 0 and abs(stats["mean_score"] - 1 / 3) < 1e-9

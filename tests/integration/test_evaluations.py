"""GET datasets, judge and human evaluation, scheduled and dataset-improvement runs."""

from __future__ import annotations

import base64
import gzip
import json
import uuid

import httpx
import pytest

from devstack.identity import LOCAL_SCHEDULER_ACCOUNT
from shared.clock import utcnow
from tests.runs_support import (
    add_models,
    add_openrouter,
    arithmetic_rows,
    connect_openrouter,
    push_leaderboard,
    register_answers,
    sim,
    unique,
    wait_for_run,
)


def _hub_file(rows: list[dict], *, gz: bool, private: bool = False) -> str:
    """Publish rows on the simulated Hub; answers the hf:// URL of the file."""
    repo = f"acme/{unique('evalset')}"
    path = "data/test.jsonl.gz" if gz else "data/test.jsonl"
    content = "".join(json.dumps(r) + "\n" for r in rows).encode()
    if gz:
        content = gzip.compress(content)
    sim("/_sim/hf/files", {"repo": repo, "path": path, "private": private,
                           "content_base64": base64.b64encode(content).decode()})  # fmt: skip
    return f"hf://datasets/{repo}/{path}"


def _get_leaderboard(api, url: str, **extra) -> httpx.Response:
    body = {"name": unique("get"), "system_prompt": "Answer with the number only.\n\n{input}",
            "dataset": {"mode": "get", "url": url}} | extra  # fmt: skip
    return api.post("/v1/leaderboards", json=body)


def _two_models(api, lb: str, *accuracies: float, names: tuple[str, ...] = ()) -> list[str]:
    """Candidates with these accuracies; fixed ``names`` make their right answers reproducible."""
    ids = add_models(
        *(
            {"id": names[i] if names else unique("sim/e"), "accuracy": a}
            for i, a in enumerate(accuracies)
        )
    )
    return [add_openrouter(api, lb, model) for model in ids]


def test_a_get_dataset_in_jsonl_gz_is_validated_and_ranked(workspace):
    api = workspace.api
    connect_openrouter(api)
    rows = [{"question": r["input"], "answer": r["output"]} for r in arithmetic_rows(30)]
    register_answers(arithmetic_rows(30))
    created = _get_leaderboard(api, _hub_file(rows, gz=True))
    assert created.status_code == 201, created.text
    validation = created.json()["dataset"]["validation"]
    assert validation["valid_rows"] == 30 and validation["rows_with_expected"] == 30
    lb = created.json()["id"]
    good, _bad = _two_models(api, lb, 1.0, 0.2)
    run = wait_for_run(api, lb, api.post(f"/v1/leaderboard/{lb}/runs", json={}).json()["id"])
    assert run["status"] == "completed", run.get("failure")
    assert run["dataset"]["mode"] == "get" and run["dataset"]["rows"] == 30
    assert run["ranking"]["leader"] == good
    assert next(m for m in run["ranking"]["models"] if m["model_id"] == good)["mean_score"] == 1.0


def test_https_hub_urls_work_too_and_bad_datasets_are_named(workspace):
    api = workspace.api
    url = _hub_file([{"input": "x", "output": "y"}], gz=False)
    https = url.replace("hf://datasets/", "https://huggingface.co/datasets/").replace(
        "/data/", "/resolve/main/data/"
    )
    assert _get_leaderboard(api, https).status_code == 201
    missing = _get_leaderboard(api, url.replace("test.jsonl", "nope.jsonl"))
    assert missing.status_code == 422 and missing.json()["error"]["code"] == "dataset_not_found"
    no_input = _get_leaderboard(api, _hub_file([{"output": "only answers"}], gz=False))
    assert no_input.json()["error"]["code"] == "dataset_has_no_input"
    wrong_form = _get_leaderboard(api, "https://example.com/data.jsonl")
    assert wrong_form.status_code == 422


def test_a_private_dataset_needs_the_workspace_hugging_face_token(workspace):
    api = workspace.api
    url = _hub_file([{"input": "q", "output": "a"}], gz=False, private=True)
    refused = _get_leaderboard(api, url)
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "dataset_access_denied"
    assert "Hugging Face token" in refused.json()["error"]["message"]
    token = api.http.put("/v1/integrations/huggingface", json={"secret": "hf_" + uuid.uuid4().hex})
    assert token.status_code == 200, token.text
    assert _get_leaderboard(api, url).status_code == 201


def test_a_judge_run_scores_with_the_judge_and_counts_its_cost(workspace):
    api = workspace.api
    connect_openrouter(api)
    rows = arithmetic_rows(100)
    register_answers(rows)
    [judge] = add_models({"id": "sim/judging-judge", "judge": True, "malformed_rate": 0.2})
    lb = push_leaderboard(
        api, rows, evaluation={"type": "judge", "model": judge, "rubric": "exact number"}
    )
    good, bad = _two_models(api, lb, 0.9, 0.3, names=("sim/judged-good", "sim/judged-bad"))
    started = api.post(f"/v1/leaderboard/{lb}/runs", json={}).json()
    assert started["estimate"]["judge_cost_usd"] > 0  # the judge is part of the estimate
    assert started["estimate"]["cost_usd"] > started["estimate"]["candidate_cost_usd"]
    run = wait_for_run(api, lb, started["id"])
    assert run["status"] == "completed", run.get("failure")
    stats = {m["model_id"]: m for m in run["ranking"]["models"]}
    assert run["ranking"]["leader"] == good
    assert abs(stats[good]["mean_score"] - 0.9) < 0.12
    assert abs(stats[bad]["mean_score"] - 0.3) < 0.15
    # Malformed judge answers were retried (3 attempts): at 20% each, errors stay rare.
    assert stats[good]["n_errors"] <= 3
    assert run["cost"]["judge_usd"] > 0


def test_a_human_review_run_ranks_as_reviews_arrive(workspace):
    api = workspace.api
    connect_openrouter(api)
    register_answers(arithmetic_rows(6))
    rows = [{"input": r["input"], "output": r["output"]} for r in arithmetic_rows(6)]
    evaluation = {"type": "human", "pass_threshold": 0.75}
    created = _get_leaderboard(api, _hub_file(rows, gz=False), evaluation=evaluation)
    lb = created.json()["id"]
    a, _b = _two_models(api, lb, 1.0, 0.0)
    run_id = api.post(f"/v1/leaderboard/{lb}/runs", json={}).json()["id"]
    run = wait_for_run(api, lb, run_id)
    assert run["status"] == "completed"
    assert run["ranking"]["reviewed_fraction"] == 0.0
    assert run["ranking"]["leader"] is None

    pending, cursor = [], None
    while True:
        params = {"status": "pending", "limit": 5} | ({"cursor": cursor} if cursor else {})
        page = api.get(f"/v1/leaderboard/{lb}/runs/{run_id}/reviews", params=params).json()
        pending += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(pending) == 12 and page["progress"] == {"total": 12, "reviewed": 0, "fraction": 0.0}
    # Reviewers judge half of the outputs: model a good enough, model b not quite.
    for item in pending[::2]:
        score = 0.8 if item["model_id"] == a else 0.7
        done = api.post(f"/v1/leaderboard/{lb}/runs/{run_id}/reviews/{item['id']}",
                        json={"score": score, "comment": "checked"})  # fmt: skip
        assert done.status_code == 200, done.text
    ranking = done.json()["ranking"]
    assert ranking["reviewed_fraction"] == 0.5
    assert ranking["leader"] == a
    figures = {m["model_id"]: (m["mean_score"], m["pass_rate"]) for m in ranking["models"]}
    assert figures[a] == (pytest.approx(0.8), 1.0) and figures[_b] == (pytest.approx(0.7), 0.0)
    progress = api.get(f"/v1/leaderboard/{lb}/runs/{run_id}/reviews").json()["progress"]
    assert progress["reviewed"] == 6
    board = api.get(f"/v1/leaderboard/{lb}/ranking").json()
    assert board["ranking"]["reviewed_fraction"] == 0.5
    assert board["selected_model"]["id"] == a
    bad = api.post(
        f"/v1/leaderboard/{lb}/runs/{run_id}/reviews/{pending[0]['id']}", json={"score": 2}
    )
    assert bad.status_code == 422


def test_the_scheduled_job_starts_due_runs(workspace, deps, stack):
    api = workspace.api
    connect_openrouter(api)
    rows = arithmetic_rows(100)
    register_answers(rows)
    lb = push_leaderboard(api, rows, schedule={"cron": "0 3 * * *", "timezone": "Europe/Paris"})
    record = deps.leaderboards.get(lb)
    assert record.next_run_at is not None and record.next_run_at > utcnow()
    _two_models(api, lb, 0.9, 0.5)
    deps.leaderboards.update(lb, {"next_run_at": utcnow()})  # as if 03:00 Paris had come
    path = "/internal/jobs/scheduled-runs"
    fired = httpx.post(
        stack.base_url + path,
        headers=stack.internal_headers(path, email=LOCAL_SCHEDULER_ACCOUNT),
        timeout=60,
    )
    assert fired.status_code == 200, fired.text
    [run_id] = [r for r in fired.json()["started"] if deps.runs.get(lb, r)]
    run = wait_for_run(api, lb, run_id)
    assert run["status"] == "completed" and run["source"] == "schedule"
    assert deps.leaderboards.get(lb).next_run_at > utcnow()


def test_a_consolidation_that_changes_enough_rows_starts_a_run(workspace, deps):
    api = workspace.api
    connect_openrouter(api)
    rows = arithmetic_rows(130)
    register_answers(rows)
    dataset = {"mode": "push", "daily_limit": None, "monthly_limit": None,
               "consolidate_every_events": None, "improvement_run_threshold": 0.2}  # fmt: skip
    lb = push_leaderboard(api, rows[:100], dataset=dataset)
    _two_models(api, lb, 0.9, 0.5)
    # The same rows again change nothing: no run.
    api.push(lb, rows[:50])
    same = api.post(f"/v1/leaderboard/{lb}/dataset/consolidate").json()
    assert same["changed_rows"] == 0 and same["improvement_run_id"] is None
    # 30 new rows of 130: 23% changed, over the 20% threshold.
    api.push(lb, rows[100:])
    changed = api.post(f"/v1/leaderboard/{lb}/dataset/consolidate").json()
    assert changed["changed_rows"] == 30
    assert changed["improvement_run_id"]
    run = wait_for_run(api, lb, changed["improvement_run_id"])
    assert run["source"] == "dataset_improvement" and run["status"] == "completed"
    assert run["dataset"]["rows"] == 130


def test_a_get_dataset_can_be_patched_after_its_first_run(workspace):
    """A run records how many rows it read (``rows_seen``) beside the config; a PATCH of the
    dataset must not re-validate that stored-only field as if the client had sent it."""
    api = workspace.api
    connect_openrouter(api)
    rows = arithmetic_rows(12)
    register_answers(rows)
    url = _hub_file(rows, gz=False)
    created = _get_leaderboard(api, url)
    assert created.status_code == 201, created.text
    lb = created.json()["id"]
    _two_models(api, lb, 1.0, 0.5)
    run = wait_for_run(api, lb, api.post(f"/v1/leaderboard/{lb}/runs", json={}).json()["id"])
    assert run["status"] == "completed", run.get("failure")
    assert api.get(f"/v1/leaderboard/{lb}").json()["dataset"]["rows_seen"] == 12

    same = api.http.patch(f"/v1/leaderboard/{lb}", json={"dataset": {"url": url}})
    assert same.status_code == 200, same.text
    assert same.json()["dataset"]["rows_seen"] == 12  # the same file: what the run saw stays
    renamed = api.http.patch(f"/v1/leaderboard/{lb}", json={"name": "renamed"})
    assert renamed.status_code == 200, renamed.text

    other = _hub_file(arithmetic_rows(5), gz=False)
    moved = api.http.patch(f"/v1/leaderboard/{lb}", json={"dataset": {"mode": "get", "url": other}})
    assert moved.status_code == 200, moved.text
    assert moved.json()["dataset"].get("rows_seen") is None  # another file: not seen yet
    assert moved.json()["dataset"]["validation"]["valid_rows"] == 5

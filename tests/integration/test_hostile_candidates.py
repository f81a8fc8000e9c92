"""A run whose candidates answer with poison completes: their rows are errors, not a dead shard.

Hostile candidates are real HTTP servers (``tests.providers.hostile``) on loopback, which the
test stack's egress allow-list admits: one answers 1000-deep JSON (RecursionError in the JSON
parser), one a gzip bomb past the body cap. Two more are stored configs from before the
add-time checks (written to the repository directly, as an older version would have): a
non-ASCII token (UnicodeEncodeError at call time) and a reserved header name (refused when
the endpoint is built). Before the provider boundary was total, each of them failed its whole
shard, and Cloud Tasks retried it (paying for every row again) until the watchdog gave up.
"""

from __future__ import annotations

import json
import uuid

import pytest

from shared.clock import utcnow
from shared.domain.entities import CandidateModel
from tests.providers.hostile import HostileServer, MiB, Route, chunks, gzip_bomb
from tests.runs_support import (
    add_models,
    add_openrouter,
    arithmetic_rows,
    commit_behind_the_api,
    connect_openrouter,
    push_leaderboard,
    register_answers,
    unique,
    wait_for_run,
)

ROWS = 100
CHAT_OK = b'{"choices": [{"message": {"content": "0"}, "finish_reason": "stop"}]}'


@pytest.fixture
def hostile():
    bomb = gzip_bomb(50 * MiB)  # past the stack's 8 MiB body cap
    with HostileServer() as server:
        json_headers = {"Content-Type": "application/json"}
        server.routes["/deep"] = Route(
            headers=json_headers, body=lambda: [b"[" * 1000 + b"]" * 1000]
        )
        server.routes["/bomb"] = Route(
            headers=json_headers | {"Content-Encoding": "gzip"}, body=lambda: chunks(bomb)
        )
        server.routes["/ok"] = Route(headers=json_headers, body=lambda: [CHAT_OK])
        yield server


def _legacy(deps, workspace_id: str, lb: str, url: str, auth: dict, token: str | None) -> str:
    """A candidate stored without today's add-time checks, with its token in the secret store
    (``None``: its token is lost, so it has no secret at all)."""
    model_id = "m_" + uuid.uuid4().hex[:16]
    ref = f"model:{lb}:{model_id}" if token is not None else None
    if ref is not None:
        deps.secrets.put(workspace_id, ref, token)
    config = {"platform": "custom", "endpoint": url, "model": None, "auth": auth,
              "response": {"format": "chat", "field": None}, "secret_ref": ref}  # fmt: skip
    record = {"id": model_id, "label": model_id, "platform": "custom", "config": config,
              "source": "manual", "reason": None, "published": None, "added_at": utcnow(),
              "added_by": "legacy"}  # fmt: skip
    commit_behind_the_api(deps, deps.candidates.add(lb, CandidateModel.model_validate(record)))
    return model_id


def test_a_run_with_poisonous_candidates_completes_with_their_rows_as_errors(
    workspace, deps, hostile
):
    api = workspace.api
    rows = arithmetic_rows(ROWS)
    register_answers(rows)
    connect_openrouter(api)
    lb = push_leaderboard(api, rows)
    [healthy] = add_models({"id": unique("hostile/healthy"), "accuracy": 1.0})
    healthy_id = add_openrouter(api, lb, healthy)
    poisoned = {}
    for path in ("/deep", "/bomb"):
        body = {"platform": "custom", "endpoint": hostile.base_url + path}
        added = api.post(f"/v1/leaderboard/{lb}/models", json=body)
        assert added.status_code == 201, added.text
        poisoned[path] = added.json()["id"]
    poisoned["non-ascii token"] = _legacy(
        deps, workspace.id, lb, hostile.base_url + "/ok",
        {"method": "bearer", "header_name": None}, "tökén-from-an-older-version",
    )  # fmt: skip
    poisoned["reserved header"] = _legacy(
        deps, workspace.id, lb, hostile.base_url + "/ok",
        {"method": "header", "header_name": "Host"}, "abc",
    )  # fmt: skip
    poisoned["lost token"] = _legacy(
        deps, workspace.id, lb, hostile.base_url + "/ok",
        {"method": "bearer", "header_name": None}, None,
    )  # fmt: skip

    started = api.post(f"/v1/leaderboard/{lb}/runs", json={})
    assert started.status_code == 202, started.text
    run = wait_for_run(api, lb, started.json()["id"], timeout=180)
    assert run["status"] == "completed", run.get("failure")
    by_model = {m["model_id"]: m for m in run["ranking"]["models"]}
    assert by_model[healthy_id]["n_errors"] == 0
    assert run["ranking"]["leader"] == healthy_id
    for why, model_id in poisoned.items():
        assert by_model[model_id]["n_errors"] == ROWS, (why, by_model[model_id])
    assert "/ok" not in hostile.seen  # the legacy configs never sent their broken headers

    # Inference falls back past a model whose answer is too large, streamed or not.
    pinned = api.http.put(
        f"/v1/leaderboard/{lb}/selection",
        json={"strategy": "manual", "model_id": poisoned["/bomb"]},
    )
    assert pinned.status_code == 200, pinned.text
    answer = api.post(f"/v1/leaderboard/{lb}/inference", json={"input": rows[0]["input"]})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["fallback"] is True and body["output"] == rows[0]["output"]
    assert body["attempts"][0]["model_id"] == poisoned["/bomb"]
    messages = [{"role": "user", "content": rows[1]["input"]}]
    streamed = api.post(
        "/v1/chat/completions",
        json={"model": f"leaderboard/{lb}", "messages": messages, "stream": True},
    )
    assert streamed.status_code == 200, streamed.text
    deltas = [
        json.loads(line.removeprefix("data: "))["choices"][0]["delta"].get("content") or ""
        for line in streamed.text.splitlines()
        if line.startswith("data: {") and '"choices": [{' in line
    ]
    assert "".join(deltas) == rows[1]["output"]

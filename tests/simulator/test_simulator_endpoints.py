"""The simulator's custom endpoints, Hugging Face Hub routes, control routes and command."""

from __future__ import annotations

import base64
import gzip
import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from simulator.server import Simulator
from tests.simulator.conftest import AUTH, HF_TOKEN, KEY

CHAT = {"model": "my-model", "messages": [{"role": "user", "content": "capital of Italy?"}]}


# ------------------------------------------------------------------ custom endpoints


@pytest.fixture
def italy(sim: Simulator) -> Simulator:
    sim.add_answer_key([{"input": "capital of Italy", "expected": "Rome"}])
    return sim


def test_unconfigured_chat_json_and_text_endpoints(italy: Simulator, http: httpx.Client) -> None:
    chat = http.post("/custom/chat", json=CHAT).json()
    assert chat["choices"][0]["message"]["content"] == "Rome"
    assert chat["model"] == "my-model"
    assert chat["usage"]["cost"] == 0
    assert http.post("/custom/json", json=CHAT).json() == {"result": {"text": "Rome"}}
    text = http.post("/custom/text", json=CHAT)
    assert text.headers["content-type"].startswith("text/plain")
    assert text.text == "Rome"
    assert http.post("/custom/unknown-name", json=CHAT).status_code == 404


def test_bearer_auth(italy: Simulator, http: httpx.Client) -> None:
    assert http.post("/custom/bearer-chat", json=CHAT).status_code == 401
    wrong = {"Authorization": "Bearer nope"}
    assert http.post("/custom/bearer-chat", json=CHAT, headers=wrong).status_code == 401
    right = {"Authorization": "Bearer cust-secret"}
    response = http.post("/custom/bearer-chat", json=CHAT, headers=right)
    assert response.json()["choices"][0]["message"]["content"] == "Rome"


def test_header_auth_and_field_path(italy: Simulator, http: httpx.Client) -> None:
    assert http.post("/custom/header-json", json=CHAT, headers=AUTH).status_code == 401
    response = http.post("/custom/header-json", json=CHAT, headers={"X-Api-Token": "cust-secret"})
    assert response.json() == {"data": {"answer": "Rome"}}


def test_custom_endpoints_added_at_runtime(italy: Simulator, http: httpx.Client) -> None:
    spec = {"name": "flaky-text", "format": "text", "error_rate": 1.0}
    assert http.post("/_sim/custom-endpoints", json=spec).status_code == 200
    assert http.post("/custom/flaky-text", json=CHAT).status_code == 500
    assert (
        http.post("/_sim/custom-endpoints", json={"name": "x", "auth": "magic"}).status_code == 400
    )


def test_openai_compatible_endpoint_routes(italy: Simulator, http: httpx.Client) -> None:
    hf_style = http.post("/endpoints/my-llama/v1/chat/completions", json=CHAT)
    assert hf_style.json()["choices"][0]["message"]["content"] == "Rome"
    assert http.post("/endpoints/my-llama/v1/other", json=CHAT).status_code == 404
    openrouter_model = {**CHAT, "model": "sim/exact"}
    hf_token = {"Authorization": f"Bearer {HF_TOKEN}"}
    root = http.post("/v1/chat/completions", json=openrouter_model, headers=hf_token)
    assert root.json()["choices"][0]["message"]["content"] == "Rome"
    assert http.post("/v1/chat/completions", json=openrouter_model).status_code == 401


def test_custom_answers_follow_their_accuracy(sim: Simulator, http: httpx.Client) -> None:
    sim.add_answer_key([{"input": f"q{i}?", "expected": f"a{i}"} for i in range(100)])
    sim.upsert_custom_endpoint("half", format="text", accuracy=0.5)
    right = sum(
        http.post("/custom/half", json={"messages": [{"role": "user", "content": f"q{i}?"}]}).text
        == f"a{i}"
        for i in range(100)
    )
    assert 35 <= right <= 65


def test_custom_endpoint_as_judge(http: httpx.Client) -> None:
    http.post(
        "/_sim/custom-endpoints", json={"name": "judge-text", "format": "text", "judge": True}
    )
    prompt = "Expected answer: Rome\nCandidate answer: rome"
    body = {"messages": [{"role": "user", "content": prompt}]}
    assert json.loads(http.post("/custom/judge-text", json=body).text)["score"] == 1.0


# ------------------------------------------------------------------ Hugging Face Hub


def test_whoami(http: httpx.Client) -> None:
    me = http.get("/api/whoami-v2", headers={"Authorization": f"Bearer {HF_TOKEN}"})
    assert me.status_code == 200
    assert me.json()["name"] == "sim-user"
    assert me.json()["auth"]["accessToken"]["role"] == "read"
    assert http.get("/api/whoami-v2").status_code == 401
    assert http.get("/api/whoami-v2", headers={"Authorization": "Bearer xyz"}).status_code == 401


def test_public_dataset_file_download(sim: Simulator, http: httpx.Client) -> None:
    rows = b'{"input": "a", "output": "b"}\n{"input": "c", "output": "d"}\n'
    packed = gzip.compress(rows)
    added = http.post(
        "/_sim/hf/files",
        json={
            "repo": "acme/qa",
            "path": "data/train.jsonl.gz",
            "content_base64": base64.b64encode(packed).decode(),
        },
    ).json()
    assert added["url"] == f"{sim.base_url}/datasets/acme/qa/resolve/main/data/train.jsonl.gz"
    response = http.get("/datasets/acme/qa/resolve/main/data/train.jsonl.gz")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/gzip"
    assert gzip.decompress(response.content) == rows
    head = http.head("/datasets/acme/qa/resolve/v1.0/data/train.jsonl.gz")
    assert head.status_code == 200 and int(head.headers["content-length"]) == len(packed)
    assert http.get("/_sim/stats").json()["downloads"]["acme/qa/data/train.jsonl.gz"] == 1


def test_private_dataset_needs_a_token(sim: Simulator, http: httpx.Client) -> None:
    url = sim.add_hf_file("acme/secret", "rows.jsonl", b'{"input": "x"}\n', private=True)
    anonymous = httpx.get(url)
    assert anonymous.status_code == 401
    assert anonymous.headers["X-Error-Code"] == "RepoNotFound"
    invalid = httpx.get(url, headers={"Authorization": "Bearer not-a-token"})
    assert invalid.status_code == 401
    assert invalid.headers["X-Error-Message"] == "Invalid credentials in Authorization header"
    granted = httpx.get(url, headers={"Authorization": f"Bearer {HF_TOKEN}"})
    assert granted.status_code == 200 and granted.content == b'{"input": "x"}\n'
    sim.add_hf_file("acme/listed-private", "rows.jsonl", b"{}\n")  # private by config
    assert http.get("/datasets/acme/listed-private/resolve/main/rows.jsonl").status_code == 401


def test_missing_files_and_repositories(sim: Simulator, http: httpx.Client) -> None:
    sim.add_hf_file("acme/present", "rows.jsonl", b"{}\n", private=True)
    token = {"Authorization": f"Bearer {HF_TOKEN}"}
    entry = http.get("/datasets/acme/present/resolve/main/other.jsonl", headers=token)
    assert entry.status_code == 404 and entry.headers["X-Error-Code"] == "EntryNotFound"
    assert entry.json() == {"error": "Entry not found"}
    marker = http.get("/datasets/acme/present/resolve/main/.private", headers=token)
    assert marker.status_code == 404
    repo = http.get("/datasets/acme/absent/resolve/main/rows.jsonl")
    assert repo.status_code == 404 and repo.headers["X-Error-Code"] == "RepoNotFound"
    bad = {"repo": "acme/qa", "path": "../../escape.txt", "content": "x"}
    assert http.post("/_sim/hf/files", json=bad).status_code == 400


# ------------------------------------------------------------------ control


def test_stats_count_calls_and_mask_secrets(sim: Simulator, http: httpx.Client) -> None:
    chat = {"model": "sim/exact", "messages": [{"role": "user", "content": "hello"}]}
    for _ in range(3):
        http.post("/api/v1/chat/completions", json=chat, headers=AUTH)
    http.post("/api/v1/chat/completions", json=chat)
    stats = http.get("/_sim/stats").json()
    exact = stats["models"]["sim/exact"]
    assert (exact["total"], exact["ok"], exact["401"]) == (4, 3, 1)
    assert exact["cost"] > 0
    recent = stats["recent_requests"]
    assert recent[-1]["body"] == chat and recent[-1]["status"] == 401
    assert recent[-2]["headers"]["Authorization"].startswith("Bearer sk-or-")
    assert KEY not in json.dumps(stats)


def test_reset_forgets_patches_answer_key_and_stats(sim: Simulator, http: httpx.Client) -> None:
    http.post("/_sim/answer-key", json={"rows": [{"prompt": "q", "answer": 1}]})
    http.post("/_sim/models", json={"id": "sim/exact", "error_rate": 1.0})
    http.post("/_sim/models", json={"id": "sim/brand-new"})
    assert http.get("/_sim/stats").json()["answer_key_rows"] == 1
    assert http.post("/_sim/reset").json() == {"reset": True}
    stats = http.get("/_sim/stats").json()
    assert stats["answer_key_rows"] == 0 and stats["models"] == {}
    ids = [model["id"] for model in http.get("/api/v1/models").json()["data"]]
    assert "sim/brand-new" not in ids
    exact = sim.state.model("sim/exact")
    assert exact is not None and exact.error_rate == 0


def test_control_rejects_bad_requests(http: httpx.Client) -> None:
    assert http.post("/_sim/answer-key", json={"rows": [{"input": ""}]}).status_code == 400
    assert http.post("/_sim/models", json={"id": "no-slash"}).status_code == 400
    assert http.post("/_sim/models", json={"id": "a/b", "accuracy": 2}).status_code == 400
    unknown = http.get("/no/such/route")
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == 404


def test_command_line_serves_until_stopped(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "simulator", "--port", "0", "--hf-root", str(tmp_path)]
    repo = Path(__file__).resolve().parents[2]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=repo)
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        base_url = first.split(" on ", 1)[1].strip()
        assert httpx.get(base_url + "/api/v1/models").status_code == 200
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0

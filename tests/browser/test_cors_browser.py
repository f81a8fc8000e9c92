"""CORS in a real browser: a page on one local origin calls the stack on another with ``fetch``.

Headless Chromium (``tests/browser_support.py``; skipped, saying how to install it, when it
is missing) loads a page from the allowed origin that pushes a row with a dataset token in
``X-API-Key``, calls inference, and reads a streamed chat completion as it arrives; and the
same calls from an origin nobody allowed, which the browser must block at the preflight, so
that nothing runs on the stack.
"""

from __future__ import annotations

import json

import pytest

from tests.browser_support import browser_page, open_page
from tests.runs_support import add_models, add_openrouter, answered_push_leaderboard, unique


@pytest.fixture
def served(workspace, page_server):
    """A PUSH leaderboard whose production model is pinned, its workspace allowing the page's
    origin; a dataset token and an inference token for the page."""
    api = workspace.api
    lb = answered_push_leaderboard(api, 100)
    # Its output takes time to generate (a few tokens a second; the simulator runs 100x
    # faster), so a stream arrives in several chunks.
    fast, slow = add_models(
        {"id": unique("browser/a"), "accuracy": 1.0, "throughput_tps": 0.1},
        {"id": unique("browser/b")},
    )
    model_id = add_openrouter(api, lb, fast)
    add_openrouter(api, lb, slow)
    pinned = api.http.put(
        f"/v1/leaderboard/{lb}/selection", json={"strategy": "manual", "model_id": model_id}
    )
    assert pinned.status_code == 200, pinned.text
    allowed = api.http.put("/v1/workspace", json={"allowed_origins": [page_server.origin]})
    assert allowed.status_code == 200, allowed.text
    inference = api.post("/v1/tokens", json={"name": "page", "scopes": ["inference"]}).json()
    return api, lb, api.dataset_token(lb), inference["token"]


def _page(base_url: str, lb: str, dataset_token: str, inference_token: str) -> str:
    push = json.dumps([{"input": "asked from a web page", "output": "42"}])
    chat = json.dumps(
        {"model": f"leaderboard/{lb}", "stream": True,
         "messages": [{"role": "user", "content": "Tell me about the sea, at length."}]}
    )  # fmt: skip
    return browser_page(f"""
        const api = {json.dumps(base_url)}, lb = {json.dumps(lb)};
        const push = await attempt(`${{api}}/v1/leaderboard/${{lb}}/dataset/push`, {{
            method: "POST",
            headers: {{"X-API-Key": {json.dumps(dataset_token)}, "Content-Type": "application/json",
                       "Idempotency-Key": "browser-" + Date.now()}},
            body: {json.dumps(push)}}});
        const inference = await attempt(`${{api}}/v1/leaderboard/${{lb}}/inference`, {{
            method: "POST",
            headers: {{"Authorization": "Bearer " + {json.dumps(inference_token)},
                       "Content-Type": "application/json", "X-Stainless-Lang": "js"}},
            body: JSON.stringify({{input: "What is 1 plus 1001?"}})}});
        const stream = await readStream(`${{api}}/v1/chat/completions`, {{
            method: "POST",
            headers: {{"Authorization": "Bearer " + {json.dumps(inference_token)},
                       "Content-Type": "application/json"}},
            body: {json.dumps(chat)}}});
        return {{push, inference, stream}};
    """)


def _counts(api, lb: str) -> dict:
    return api.get(f"/v1/leaderboard/{lb}/dataset/status").json()["counts"]


def test_an_allowed_origin_pushes_infers_and_reads_a_stream(chromium, stack, served, page_server):
    api, lb, dataset_token, inference_token = served
    before = _counts(api, lb)
    run = open_page(_page(stack.base_url, lb, dataset_token, inference_token), server=page_server)
    push, inference, stream = run.report["push"], run.report["inference"], run.report["stream"]

    assert push["ok"] and push["status"] == 200, push
    assert json.loads(push["body"])["accepted"] == 1
    assert push["headers"].get("x-request-id")  # an exposed header the page can read
    assert _counts(api, lb) != before

    assert inference["ok"] and inference["status"] == 200, inference
    assert json.loads(inference["body"])["output"]
    assert inference["headers"].get("x-drgero-trace-id")

    assert stream["ok"] and stream["status"] == 200, stream
    assert stream["count"] > 1, stream  # read as it arrived, chunk by chunk
    assert "data: [DONE]" in stream["body"]
    assert not [line for line in run.console if "CORS policy" in line], run.console


def test_an_origin_nobody_allowed_is_blocked_and_nothing_runs(
    chromium, stack, served, other_page_server
):
    api, lb, dataset_token, inference_token = served
    before = _counts(api, lb)
    traces = api.get(f"/v1/leaderboard/{lb}/traces", params={"kind": "inference"}).json()
    run = open_page(
        _page(stack.base_url, lb, dataset_token, inference_token), server=other_page_server
    )
    for name in ("push", "inference", "stream"):
        result = run.report[name]
        assert not result["ok"] and result["status"] is None, (name, result)
        assert "Failed to fetch" in result["error"], (name, result)
    blocked = [line for line in run.console if "blocked by CORS policy" in line]
    assert len(blocked) >= 3, run.console  # the browser says why: the preflight refused
    # The preflight was refused, so the requests themselves were never sent: nothing ran.
    assert _counts(api, lb) == before
    after = api.get(f"/v1/leaderboard/{lb}/traces", params={"kind": "inference"}).json()
    assert len(after["items"]) == len(traces["items"])

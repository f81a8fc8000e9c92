"""The OpenAI-compatible endpoints, driven by the official ``openai`` SDK, unchanged."""

from __future__ import annotations

import json
import uuid

import httpx
import openai
import pytest

from shared.domain.prompts import inference_messages, task_messages
from simulator.answers import all_text, count_tokens
from tests.inference_support import (
    SYSTEM_PROMPT,
    Board,
    calls_since,
    create_token,
    eventually,
    faulty,
    fetch_trace,
    infer,
    overhead_ms,
    sim_stats,
    token_entry,
    upstream_requests,
)

A, B = "sim/inference-sdk-a", "sim/inference-sdk-b"
# The module's ranked board and healthy models (tests/integration/conftest.py).
BOARD = ("sdk-", {A: 0.95, B: 0.6})
pytestmark = pytest.mark.usefixtures("healthy_models")  # tests/integration/conftest.py


def _expected_output(model: str, text: str) -> str:
    rendered = task_messages(SYSTEM_PROMPT, text)[0]["content"]
    return f"Simulated answer of {model} to: " + " ".join(rendered.split())[:200]


def _text() -> str:
    return f"Which planet is red {uuid.uuid4().hex[:10]}"


def test_a_plain_call_through_the_sdk(board):
    text = _text()
    completion = board.client().chat.completions.create(
        model=board.model, messages=[{"role": "user", "content": text}]
    )
    content = completion.choices[0].message.content
    assert content == _expected_output(A, text)
    assert completion.choices[0].finish_reason == "stop"
    prompt_tokens = count_tokens(all_text(task_messages(SYSTEM_PROMPT, text)))
    assert completion.usage.prompt_tokens == prompt_tokens
    assert completion.usage.total_tokens == prompt_tokens + count_tokens(content)
    # The same answer as the native endpoint gives for the same input.
    native = infer(board.api, board.lb, input=text)
    assert native.status_code == 200 and native.json()["output"] == content
    dumped = completion.model_dump_json()
    assert board.token not in dumped and board.openrouter_key not in dumped


def test_the_sdk_call_applies_the_task_prompt_and_passes_parameters(board):
    marker = uuid.uuid4().hex[:10]
    chat = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": f"What is red {marker}"},
    ]
    raw = board.client().chat.completions.with_raw_response.create(
        model=board.model, messages=chat, max_tokens=50, temperature=0.2
    )
    overhead_ms(raw)  # httpx-like headers
    raw.parse()
    [upstream] = upstream_requests(A, marker)
    assert upstream["messages"] == inference_messages(SYSTEM_PROMPT, chat)
    assert (upstream["max_tokens"], upstream["temperature"]) == (50, 0.2)


def test_a_streamed_call_through_the_sdk(board):
    text = _text()
    stream = board.client().chat.completions.create(
        model=board.model,
        messages=[{"role": "user", "content": text}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)  # ends cleanly after [DONE]
    content = "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
    assert content == _expected_output(A, text)
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) > 1
    usage = chunks[-1].usage
    assert usage is not None
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert usage.completion_tokens == count_tokens(content)
    assert all(chunk.usage is None for chunk in chunks[:-1])
    assert any(c.choices and c.choices[0].finish_reason == "stop" for c in chunks)


def test_the_stream_on_the_wire_is_sse_ending_with_done(board):
    with httpx.stream(
        "POST",
        f"{board.base_url}/v1/chat/completions",
        json={
            "model": board.model,
            "messages": [{"role": "user", "content": _text()}],
            "stream": True,
            "stream_options": {"include_usage": True},
        },
        headers={"Authorization": f"Bearer {board.token}"},
        timeout=60,
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        overhead_ms(response)
        events = [line for line in response.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "data: [DONE]"
    payloads = [json.loads(line[len("data: ") :]) for line in events[:-1]]
    assert payloads[-1]["usage"]["total_tokens"] > 0
    text = "\n".join(events)
    assert board.token not in text and board.openrouter_key not in text


def test_the_sdks_own_timeout_becomes_the_calls_deadline(board):
    client = board.client().with_options(timeout=33.0)
    response = client.chat.completions.with_raw_response.create(
        model=board.model, messages=[{"role": "user", "content": _text()}]
    )
    trace_id = response.headers["X-DrGero-Trace-Id"]
    assert fetch_trace(board.api, board.lb, trace_id)["deadline_seconds"] == 33.0


def test_a_streamed_call_falls_back_before_its_first_byte(board):
    text = _text()
    before = sim_stats()
    with faulty(A, error_rate=1.0):
        stream = board.client().chat.completions.create(
            model=board.model, messages=[{"role": "user", "content": text}], stream=True
        )
        content = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert content == _expected_output(B, text)
    assert calls_since(before, A)["500"] >= 1


def test_models_lists_the_workspaces_leaderboards(board, other_workspace):
    other_lb = other_workspace.api.create_push_leaderboard()
    second = board.api.create_push_leaderboard()
    ids = {model.id for model in board.client().models.list()}
    assert {board.model, f"leaderboard/{second}"} <= ids
    assert f"leaderboard/{other_lb}" not in ids
    theirs = {m.id for m in board.client(other_workspace.token).models.list()}
    assert f"leaderboard/{other_lb}" in theirs and board.model not in theirs
    raw = httpx.get(
        f"{board.base_url}/v1/models",
        headers={"Authorization": f"Bearer {board.token}"},
        timeout=30,
    )
    assert raw.status_code == 200 and raw.json()["object"] == "list"


@pytest.mark.parametrize("model", ["leaderboard/lb_doesnotexist", "gpt-4o", "leaderboard/"])
def test_an_unknown_model_is_404(board, model):
    with pytest.raises(openai.NotFoundError) as raised:
        board.client().chat.completions.create(
            model=model, messages=[{"role": "user", "content": "hi"}]
        )
    assert raised.value.status_code == 404


def test_another_workspaces_leaderboard_is_404(board, other_workspace):
    with pytest.raises(openai.NotFoundError):
        board.client(other_workspace.token).chat.completions.create(
            model=board.model, messages=[{"role": "user", "content": "hi"}]
        )


def test_errors_surface_as_sdk_status_errors(board):
    messages = [{"role": "user", "content": _text()}]

    def call(token: str | None = None, model: str | None = None):
        return board.client(token).chat.completions.create(
            model=model or board.model, messages=messages
        )

    with pytest.raises(openai.AuthenticationError):
        call("drgero_" + "x" * 43)
    read_only = create_token(board.api, scopes=["leaderboards:read"])
    with pytest.raises(openai.PermissionDeniedError):
        call(read_only["token"])
    unranked = board.api.create_push_leaderboard()
    with pytest.raises(openai.ConflictError) as conflict:
        call(model=f"leaderboard/{unranked}")
    assert conflict.value.code == "no_selected_model"  # the SDK reads our error's code
    with faulty(A, error_rate=1.0), faulty(B, error_rate=1.0):
        with pytest.raises(openai.InternalServerError) as failed:
            call()
        assert failed.value.status_code == 502
        with pytest.raises(openai.APIStatusError) as streamed:
            list(
                board.client().chat.completions.create(
                    model=board.model, messages=messages, stream=True
                )
            )
        assert streamed.value.status_code == 502  # failed before the first byte: a real status
    with faulty(A, rate_limit_rate=1.0), faulty(B, rate_limit_rate=1.0):
        with pytest.raises(openai.APIStatusError) as limited:
            call()
        assert limited.value.status_code == 503


def test_sdk_calls_count_against_the_tokens_budget(board):
    made = create_token(board.api, scopes=["inference"], budget_usd=0.000001)
    client = board.client(made["token"])
    messages = [{"role": "user", "content": _text()}]
    client.chat.completions.create(model=board.model, messages=messages)  # spends past it
    eventually(lambda: token_entry(board.api, made["id"])["spend_usd"] > 0.000001)
    with pytest.raises(openai.APIStatusError) as refused:
        client.chat.completions.create(model=board.model, messages=messages)
    assert refused.value.status_code == 402
    with pytest.raises(openai.APIStatusError) as refused_stream:
        list(client.chat.completions.create(model=board.model, messages=messages, stream=True))
    assert refused_stream.value.status_code == 402


def _trace_with(board: Board, marker: str) -> dict | None:
    listed = board.api.get(
        f"/v1/leaderboard/{board.lb}/traces", params={"kind": "inference", "limit": 100}
    )
    assert listed.status_code == 200, listed.text
    return next((t for t in listed.json()["items"] if marker in json.dumps(t)), None)


def test_streamed_calls_are_traced_and_charged(board):
    made = create_token(board.api, scopes=["inference"])
    text = _text()
    stream = board.client(made["token"]).chat.completions.create(
        model=board.model,
        messages=[{"role": "user", "content": text}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    trace = eventually(lambda: _trace_with(board, text))
    assert trace["token_id"] == made["id"]
    assert trace["output"] == content and trace["fallback"] is False and not trace["error"]
    assert trace["usage"]["total_tokens"] == chunks[-1].usage.total_tokens
    assert trace["cost_usd"] > 0
    eventually(
        lambda: token_entry(board.api, made["id"])["spend_usd"] == pytest.approx(trace["cost_usd"])
    )


def test_a_streamed_call_that_fails_everywhere_is_traced_too(board):
    text = _text()
    failing = faulty(A, error_rate=1.0), faulty(B, error_rate=1.0)
    with failing[0], failing[1], pytest.raises(openai.InternalServerError):
        board.client().chat.completions.create(
            model=board.model, messages=[{"role": "user", "content": text}], stream=True
        )
    trace = eventually(lambda: _trace_with(board, text))
    assert trace["error"] == "upstream_error"


def test_models_are_paged_like_openai_lists(workspace, deps, monkeypatch):
    from tests.errors import assert_error

    monkeypatch.setattr(deps.settings, "models_list_max_limit", 3)
    api = workspace.api
    made = [api.create_push_leaderboard() for _ in range(5)]
    newest_first = [f"leaderboard/{lb}" for lb in reversed(made)]

    first = api.get("/v1/models", params={"limit": 2}).json()
    assert first["object"] == "list"
    assert [m["id"] for m in first["data"]] == newest_first[:2]
    assert first["has_more"] is True
    assert (first["first_id"], first["last_id"]) == (newest_first[0], newest_first[1])
    rest = api.get("/v1/models", params={"limit": 3, "after": first["last_id"]}).json()
    assert [m["id"] for m in rest["data"]] == newest_first[2:]
    assert rest["has_more"] is False and rest["last_id"] == newest_first[-1]
    past = api.get("/v1/models", params={"after": newest_first[-1]}).json()
    assert past == {"object": "list", "data": [], "has_more": False,
                    "first_id": None, "last_id": None}  # fmt: skip

    default = api.get("/v1/models").json()  # no limit: the largest page
    assert len(default["data"]) == 3 and default["has_more"] is True
    error = assert_error(api.get("/v1/models", params={"limit": 4}), 400, "invalid_limit")
    assert error["max_limit"] == 3
    assert_error(api.get("/v1/models", params={"after": "leaderboard/nope"}), 400, "invalid_after")

    client = openai.OpenAI(
        base_url=str(api.http.base_url) + "/v1", api_key=workspace.token, max_retries=0
    )
    assert [m.id for m in client.models.list()] == newest_first[:3]
    paged = client.models.list(extra_query={"limit": 2, "after": newest_first[1]})
    assert [m.id for m in paged] == newest_first[2:4]

"""Inference when the upstream model's stream breaks after its first chunks.

A stream that has started never falls back (the client already holds part of an answer): the
client gets the chunks relayed so far, then an OpenAI-style error event ``data: {"error": ...}``
and no ``data: [DONE]``; the call is traced with the upstream error and charged an estimate.
The fault is the simulator's ``stream_cut_after_chunks``: the model's body ends after that many
content chunks, with no finish chunk, usage or ``[DONE]``.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import openai
import pytest

from shared.domain.prompts import task_messages
from simulator.chat import split_for_stream
from tests.inference_support import (
    SYSTEM_PROMPT,
    Board,
    calls_since,
    create_token,
    eventually,
    faulty,
    fetch_trace,
    sim_stats,
    token_entry,
)

A, B = "sim/streamfault-a", "sim/streamfault-b"
# The module's ranked board and healthy models (tests/integration/conftest.py).
BOARD = ("faults-", {A: 0.95, B: 0.6})
pytestmark = pytest.mark.usefixtures("healthy_models")  # tests/integration/conftest.py
CUT_AFTER = 2
BROKEN = {"stream_cut_after_chunks": CUT_AFTER}


@dataclass
class Streamed:
    """A streamed chat call read to its end: status, headers and its ``data:`` payloads."""

    status: int
    headers: httpx.Headers
    events: list[str]  # each ``data:`` line without its prefix, in order
    text: str  # the whole body, to look for secrets

    @property
    def chunks(self) -> list[dict[str, Any]]:
        """The chat chunks (every event but ``[DONE]`` and an error event)."""
        payloads = [json.loads(event) for event in self.events if event != "[DONE]"]
        return [payload for payload in payloads if "error" not in payload]

    @property
    def content(self) -> str:
        deltas = [c["choices"][0]["delta"] for c in self.chunks if c["choices"]]  # usage: none
        return "".join(delta.get("content") or "" for delta in deltas)


def _text() -> str:
    return f"What breaks a stream {uuid.uuid4().hex[:10]}"


def _answer_of(model: str, text: str) -> str:
    """What the simulated ``model`` answers to ``text`` (it echoes prompts it has no key for)."""
    rendered = task_messages(SYSTEM_PROMPT, text)[0]["content"]
    return f"Simulated answer of {model} to: " + " ".join(rendered.split())[:200]


def _stream(board: Board, text: str, *, token: str | None = None) -> Streamed:
    with httpx.stream(
        "POST",
        f"{board.base_url}/v1/chat/completions",
        json={
            "model": board.model,
            "messages": [{"role": "user", "content": text}],
            "stream": True,
            "stream_options": {"include_usage": True},
        },
        headers={"Authorization": f"Bearer {token or board.token}"},
        timeout=30,
    ) as response:
        lines = list(response.iter_lines())
    events = [line.removeprefix("data: ") for line in lines if line.startswith("data: ")]
    return Streamed(response.status_code, response.headers, events, "\n".join(lines))


def test_a_broken_stream_relays_its_chunks_then_an_error_event_and_no_done(board):
    text = _text()
    before = sim_stats()
    with faulty(A, **BROKEN):
        streamed = _stream(board, text)

    assert streamed.status == 200
    assert streamed.headers["X-DrGero-Model"] == board.ranked.candidate[A]
    assert streamed.headers["X-DrGero-Fallback"] == "false"
    assert "[DONE]" not in streamed.events
    *chunks, last = [json.loads(event) for event in streamed.events]
    assert set(last) == {"error"}, last
    error = last["error"]
    assert error["code"] == "upstream_error"
    assert "ended before the answer was complete" in error["message"], error
    # The role chunk, then the model's first chunks as they came; no finish, no usage.
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    relayed = [chunk["choices"][0]["delta"]["content"] for chunk in chunks[1:]]
    assert relayed == split_for_stream(_answer_of(A, text))[:CUT_AFTER]
    assert all(c["choices"][0]["finish_reason"] is None and "usage" not in c for c in chunks)
    assert board.token not in streamed.text and board.openrouter_key not in streamed.text

    # A's stream broke off (not cut by us), and no fallback asked B for anything.
    upstream = calls_since(before, A)
    assert (upstream["total"], upstream["streams"]) == (1, 1), upstream
    assert (upstream["streams_broken"], upstream["streams_cut"]) == (1, 0), upstream
    assert calls_since(before, B).get("total", 0) == 0


def test_a_stream_that_breaks_before_its_first_chunk_still_falls_back(board):
    text = _text()
    before = sim_stats()
    with faulty(A, stream_cut_after_chunks=0):
        streamed = _stream(board, text)

    assert streamed.status == 200 and streamed.events[-1] == "[DONE]"
    assert streamed.headers["X-DrGero-Model"] == board.ranked.candidate[B]
    assert streamed.headers["X-DrGero-Fallback"] == "true"
    assert streamed.content == _answer_of(B, text)
    assert calls_since(before, A)["streams_broken"] == 1
    assert calls_since(before, B)["streams"] == 1
    trace = fetch_trace(board.api, board.lb, streamed.headers["X-DrGero-Trace-Id"])
    assert trace["attempts"] == [{"model_id": board.ranked.candidate[A], "error": "upstream_error"}]
    assert trace["error"] is None and trace["fallback"] is True


def test_the_openai_sdk_raises_an_api_error_after_the_first_content(board):
    text = _text()
    received: list[str] = []
    with faulty(A, **BROKEN):
        stream = board.client().chat.completions.create(
            model=board.model, messages=[{"role": "user", "content": text}], stream=True
        )
        with pytest.raises(openai.APIError) as raised:
            for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    received.append(chunk.choices[0].delta.content)

    assert received == split_for_stream(_answer_of(A, text))[:CUT_AFTER]
    # The SDK read our error event: not a connection error, not an HTTP status error.
    assert type(raised.value) is openai.APIError
    assert raised.value.code == "upstream_error"
    assert "ended before the answer was complete" in raised.value.message


@pytest.mark.parametrize("budget", [None, 1.0], ids=["unbudgeted", "budgeted"])
def test_a_broken_stream_is_traced_and_charged_an_estimate(board, budget):
    token = create_token(board.api, scopes=["inference"], budget_usd=budget)
    with faulty(A, **BROKEN):
        streamed = _stream(board, _text(), token=token["token"])
    assert streamed.events and "[DONE]" not in streamed.events
    assert streamed.content  # the client holds part of an answer

    trace = fetch_trace(board.api, board.lb, streamed.headers["X-DrGero-Trace-Id"])
    assert trace["error"] == "upstream_error" and trace["cost_estimated"] is True
    assert trace["output"] == streamed.content
    assert trace["model_id"] == board.ranked.candidate[A]
    assert (trace["fallback"], trace["attempts"], trace["finish_reason"]) == (False, [], None)
    assert trace["usage"]["prompt_tokens"] > 0 and trace["usage"]["completion_tokens"] > 0
    assert trace["cost_usd"] > 0
    spent = eventually(lambda: token_entry(board.api, token["id"])["spend_usd"])
    assert spent == pytest.approx(trace["cost_usd"])

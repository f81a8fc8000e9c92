"""The OpenAI chat-completions wire format shared by three platforms (pure, no network)."""

from __future__ import annotations

from typing import Any

import pytest

from shared.providers.base import ChatRequest
from shared.providers.chat_format import chat_body, iter_sse_chat, parse_chat_completion
from shared.providers.errors import (
    InvalidUpstreamResponse,
    RateLimited,
    UpstreamRejected,
    UpstreamUnavailable,
)


def completion(message: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"choices": [{"message": message, "finish_reason": "stop"}], **extra}


def test_body_leaves_unset_options_out() -> None:
    request = ChatRequest(messages=[{"role": "user", "content": "hi"}])
    assert chat_body(request, None) == {"messages": [{"role": "user", "content": "hi"}]}
    full = ChatRequest(
        messages=[], max_tokens=5, temperature=0.0, response_format={"type": "json_object"}
    )
    assert chat_body(full, "m") == {
        "messages": [],
        "model": "m",
        "max_tokens": 5,
        "temperature": 0.0,
        "response_format": {"type": "json_object"},
    }


def test_parse_reads_usage_cost_and_model() -> None:
    data = completion(
        {"role": "assistant", "content": "ok"},
        model="acme/x",
        usage={"prompt_tokens": 10, "completion_tokens": 2, "cost": "0.00012"},
    )
    parsed = parse_chat_completion(data, label="t", latency_ms=12.5)
    assert (parsed.output, parsed.model, parsed.finish_reason) == ("ok", "acme/x", "stop")
    assert (parsed.prompt_tokens, parsed.completion_tokens) == (10, 2)
    assert parsed.cost_usd == pytest.approx(0.00012)
    assert parsed.latency_ms == 12.5 and not parsed.refusal


def test_parse_content_parts_and_missing_usage() -> None:
    parts = [{"type": "text", "text": "a"}, {"type": "image_url"}, {"type": "text", "text": "b"}]
    parsed = parse_chat_completion(completion({"content": parts}), label="t", latency_ms=1)
    assert parsed.output == "ab"
    assert parsed.prompt_tokens is None and parsed.cost_usd is None


def test_refusals_are_answers_not_errors() -> None:
    by_field = completion({"content": None, "refusal": "I can't help with that."})
    assert parse_chat_completion(by_field, label="t", latency_ms=1).refusal
    by_reason = {"choices": [{"message": {"content": ""}, "finish_reason": "content_filter"}]}
    parsed = parse_chat_completion(by_reason, label="t", latency_ms=1)
    assert parsed.refusal and parsed.output == ""


@pytest.mark.parametrize(
    "data",
    [[], {"choices": []}, {"choices": [{}]}, completion({"content": 42}), {"id": "x"}],
)
def test_unusable_bodies_are_invalid(data: Any) -> None:
    with pytest.raises(InvalidUpstreamResponse):
        parse_chat_completion(data, label="t", latency_ms=1)


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        (429, RateLimited),
        (400, UpstreamRejected),
        (502, UpstreamUnavailable),
        ("boom", UpstreamUnavailable),
    ],
)
def test_errors_inside_a_200_body_are_raised(code: Any, kind: type[Exception]) -> None:
    with pytest.raises(kind, match="t: "):
        parse_chat_completion({"error": {"code": code, "message": "x"}}, label="t", latency_ms=1)


def test_sse_framing() -> None:
    lines = [
        ": OPENROUTER PROCESSING",
        "",
        'data: {"choices": [{"delta": {"content": "a"}}]}',
        "",
        "event: message",
        'data: {"choices": [{"delta":',
        'data:  {"content": "b"}}]}',
        "",
        "data: [DONE]",
        "",
        'data: {"never": "read"}',
    ]
    chunks = list(iter_sse_chat(lines, label="t"))
    assert chunks == [
        {"choices": [{"delta": {"content": "a"}}]},
        {"choices": [{"delta": {"content": "b"}}]},
        None,
    ]


def test_sse_error_events_and_garbage() -> None:
    error = ['data: {"error": {"code": 429, "message": "slow down"}}', ""]
    with pytest.raises(RateLimited):
        list(iter_sse_chat(error, label="t"))
    with pytest.raises(InvalidUpstreamResponse):
        list(iter_sse_chat(["data: {not json", ""], label="t"))

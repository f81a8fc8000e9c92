"""One simulated chat completion, from request body to HTTP answer (JSON or SSE).

Shared by the OpenRouter routes, the custom endpoints and the Hugging Face-style endpoints.
The order of events mirrors a real provider: a 429 answers at once; a 500 after the model's
latency; a success after the time to first token plus the output at ``throughput_tps``.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

from flask import Response

from simulator import answers
from simulator.config import SimModel
from simulator.state import SimulatorState
from simulator.web import error_response, json_response

WORDS_PER_CHUNK = 3


def chat_request_problem(body: Any) -> str | None:
    """Why ``body`` is not a chat-completions request, or None."""
    if not isinstance(body, dict):
        return "The request body must be a JSON object"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "'messages' must be a non-empty array"
    if not all(isinstance(message, dict) for message in messages):
        return "every message must be an object"
    max_tokens = body.get("max_tokens")
    if max_tokens is not None and (not isinstance(max_tokens, int) or max_tokens < 1):
        return "'max_tokens' must be a positive integer"
    return None


@dataclass(frozen=True)
class Reply:
    model: SimModel  # the model that answered (a router's pick)
    content: str
    finish_reason: str
    outcome: str  # "ok", "refusal" or "malformed"
    prompt_tokens: int
    completion_tokens: int
    cost: float
    first_token_ms: float = 0.0


def route(model: SimModel, state: SimulatorState, messages: list[Any]) -> SimModel:
    """A router (``openrouter/auto``) picks one of its targets, stably per prompt."""
    if not model.is_router:
        return model
    prompt = answers.all_text(messages)
    index = int(answers.fraction(model.id, prompt) * len(model.router_targets))
    return state.model(model.router_targets[index]) or model


def compose(state: SimulatorState, model: SimModel, hash_id: str, body: dict[str, Any]) -> Reply:
    messages: list[Any] = body["messages"]
    response_format = body.get("response_format")
    outcome, finish_reason = "ok", "stop"
    judged = answers.parse_judge_prompt(answers.all_text(messages)) if model.judge else None
    if state.chance(model.refusal_rate):
        content, outcome, finish_reason = answers.REFUSAL_TEXT, "refusal", "content_filter"
    elif judged is not None:
        if state.chance(model.malformed_rate):
            content, outcome = answers.MALFORMED_JUDGE_TEXT, "malformed"
        else:
            judged = _with_known_expected(state, judged, messages)
            verdict = answers.judge_verdict(judged, ten_point=answers.ten_point_scale(messages))
            content = json.dumps(verdict)
    else:
        row = state.answer_key.match(messages)
        prompt = answers.last_user_text(messages)
        content = answers.candidate_answer(hash_id, model.accuracy, row, prompt)
        if answers.wants_json(response_format):
            content = answers.json_content(content, response_format)
    max_tokens = body.get("max_tokens")
    if outcome == "ok" and max_tokens and answers.count_tokens(content) > max_tokens:
        content, finish_reason = answers.truncate_to_tokens(content, max_tokens), "length"
    prompt_tokens = answers.count_tokens(answers.all_text(messages))
    completion_tokens = answers.count_tokens(content)
    return Reply(
        model=model,
        content=content,
        finish_reason=finish_reason,
        outcome=outcome,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        cost=answers.cost_usd(model.pricing, prompt_tokens, completion_tokens),
    )


def _with_known_expected(
    state: SimulatorState, judged: answers.JudgeInput, messages: list[Any]
) -> answers.JudgeInput:
    """A judge prompt without an expected answer is judged against the answer key's."""
    if answers.normalized(judged.expected) not in answers.NO_EXPECTED:
        return judged
    row = state.answer_key.match(messages)
    return replace(judged, expected=row.expected) if row else judged


def simulate(
    state: SimulatorState,
    model: SimModel,
    body: dict[str, Any],
    *,
    stream: bool = False,
    hash_id: str | None = None,
    stats_id: str | None = None,
    key: str | None = None,
) -> Reply | Response:
    """Decide faults, wait the latency and compose the answer; a Response means a failure.

    A streamed reply is returned before its time to first token: :func:`sse_response` waits
    after sending the headers, as a real stream does.
    """
    stats_id = stats_id or model.id
    target = route(model, state, body["messages"])
    metadata = {"provider_name": target.provider}
    if state.chance(target.rate_limit_rate):
        state.count(stats_id, "429")
        retry_after = target.retry_after_seconds
        if retry_after is None:
            retry_after = state.config.retry_after_seconds
        return error_response(
            429,
            f"{target.id} is temporarily rate-limited upstream. Please retry shortly.",
            metadata=metadata | {"raw": "simulated rate limit"},
            Retry_After=str(retry_after),
        )
    first_token_ms = state.sample_latency_ms(target.latency_ms)
    if state.chance(target.error_rate):
        state.sleep_ms(first_token_ms)
        state.count(stats_id, "500")
        return error_response(
            500, "Internal Server Error", metadata=metadata | {"raw": "simulated upstream failure"}
        )
    reply = compose(state, target, hash_id or target.id, body)
    reply = replace(reply, first_token_ms=first_token_ms)
    state.count(stats_id, reply.outcome, cost=reply.cost)
    state.charge(key, reply.cost)
    if not stream:
        state.sleep_ms(first_token_ms + _generation_ms(state, target, reply.completion_tokens))
    return reply


def _generation_ms(state: SimulatorState, model: SimModel, tokens: int) -> float:
    if model.throughput_tps <= 0:
        return 0.0
    return tokens / model.throughput_tps * 1000.0 * state.config.time_scale


def _usage(reply: Reply) -> dict[str, Any]:
    usage: dict[str, Any] = {
        "prompt_tokens": reply.prompt_tokens,
        "completion_tokens": reply.completion_tokens,
        "total_tokens": reply.prompt_tokens + reply.completion_tokens,
        "is_byok": False,
        "prompt_tokens_details": {"cached_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0},
    }
    factor = reply.model.reported_cost_factor
    if factor is not None:
        usage["cost"] = reply.cost * factor
        usage["cost_details"] = {"upstream_inference_cost": None}
    return usage


def _envelope(reply: Reply, generation_id: str, created: int, model_name: str) -> dict[str, Any]:
    return {
        "id": generation_id,
        "provider": reply.model.provider,
        "model": model_name,
        "created": created,
    }


def completion_body(
    reply: Reply, *, generation_id: str, model_name: str | None = None
) -> dict[str, Any]:
    """The OpenAI ``chat.completion`` object, with OpenRouter's extras."""
    refusal = reply.content if reply.outcome == "refusal" else None
    return _envelope(reply, generation_id, int(time.time()), model_name or reply.model.id) | {
        "object": "chat.completion",
        "choices": [
            {
                "index": 0,
                "logprobs": None,
                "finish_reason": reply.finish_reason,
                "native_finish_reason": reply.finish_reason,
                "message": {
                    "role": "assistant",
                    "content": reply.content,
                    "refusal": refusal,
                    "reasoning": None,
                },
            }
        ],
        "usage": _usage(reply),
    }


def chat_response(
    state: SimulatorState,
    reply: Reply,
    *,
    stream: bool,
    model_name: str | None = None,
    stats_id: str | None = None,
) -> Response:
    if stream:
        return sse_response(
            state, reply, model_name=model_name, stats_id=stats_id or reply.model.id
        )
    generation_id = _generation_id()
    body = completion_body(reply, generation_id=generation_id, model_name=model_name)
    response = json_response(body)
    response.headers["X-Generation-Id"] = generation_id
    return response


def sse_response(
    state: SimulatorState, reply: Reply, *, model_name: str | None, stats_id: str
) -> Response:
    """``text/event-stream``: a processing comment, content deltas, usage, ``[DONE]``.

    A model with ``stream_cut_after_chunks`` sends at most that many deltas, then its body
    ends: no finish chunk, no usage, no ``[DONE]`` (counted as ``streams_broken``, not as a
    client's cut).
    """
    generation_id = _generation_id()
    created = int(time.time())
    envelope = _envelope(reply, generation_id, created, model_name or reply.model.id)
    envelope["object"] = "chat.completion.chunk"
    pieces = split_for_stream(reply.content)
    pause_ms = _generation_ms(state, reply.model, reply.completion_tokens) / max(1, len(pieces))
    cut_after = reply.model.stream_cut_after_chunks

    def chunk(delta: dict[str, Any], finish_reason: str | None, **extra: Any) -> str:
        choice = {
            "index": 0,
            "delta": delta,
            "finish_reason": finish_reason,
            "native_finish_reason": finish_reason,
            "logprobs": None,
        }
        return f"data: {json.dumps(envelope | {'choices': [choice]} | extra)}\n\n"

    def events() -> Iterator[str]:
        end = "cut"  # until the last event is sent: the client left
        try:
            yield ": OPENROUTER PROCESSING\n\n"
            state.sleep_ms(reply.first_token_ms)
            for index, piece in enumerate(pieces[:cut_after]):  # [:None]: every piece
                delta = (
                    {"role": "assistant", "content": piece} if index == 0 else {"content": piece}
                )
                if reply.outcome == "refusal":
                    delta["refusal"] = piece
                yield chunk(delta, None)
                state.sleep_ms(pause_ms)
            if cut_after is not None:  # the simulated provider drops the stream here
                end = "broken"
                return
            yield chunk({}, reply.finish_reason, usage=_usage(reply))
            yield "data: [DONE]\n\n"
            end = "done"
        finally:  # the server closes this generator when the client has gone away
            state.count_stream(stats_id, cut=end == "cut", broken=end == "broken")

    response = Response(events(), mimetype="text/event-stream")
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Generation-Id"] = generation_id
    return response


def split_for_stream(text: str) -> list[str]:
    """A few words per chunk; the pieces concatenate back to ``text`` exactly."""
    words = re.findall(r"\s*\S+\s*|\s+", text)
    step = WORDS_PER_CHUNK
    pieces = ["".join(words[i : i + step]) for i in range(0, len(words), step)]
    return pieces or [text]


def _generation_id() -> str:
    return f"gen-{int(time.time())}-{secrets.token_urlsafe(15)}"

"""How the ``inference`` function answers: Dr.Gero's body, OpenAI's body and stream, headers.

The inference services return results (``Answer``, ``Started``); this is their wire format,
kept here so that the entry point only parses, calls and renders. The stored record of a keyed
answer (``{"body", "headers"}``) is the rendered answer: a replay is the first answer, byte for
byte, with ``Idempotent-Replayed: true``.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Generator, Iterator
from typing import Any

from shared.domain.entities import CandidateModel
from shared.errors import DrGeroError, error_body
from shared.services import inference

REPLAYED_HEADER = "Idempotent-Replayed"


def infer_body(call: inference.Call, answer: inference.Answer) -> dict[str, Any]:
    """``POST /v1/leaderboard/{id}/inference``'s answer."""
    completion = answer.completion
    return {
        "id": answer.trace_id,
        "trace_id": answer.trace_id,
        "leaderboard_id": call.leaderboard.id,
        "output": completion.output,
        "model": {
            "id": answer.model.id,
            "label": answer.model.label,
            "upstream": completion.model,
        },
        "fallback": answer.fallback,
        "attempts": call.attempts,
        "usage": inference.usage(completion),
        "cost_usd": answer.cost_usd,
        "latency_ms": round((time.perf_counter() - call.started) * 1000, 1),
        "finish_reason": completion.finish_reason,
    }


def chat_body(answer: inference.Answer, model: str) -> dict[str, Any]:
    """OpenAI's ``chat.completion``, for the ``model`` name the client sent."""
    completion = answer.completion
    message: dict[str, Any] = {"role": "assistant", "content": completion.output}
    if completion.refusal:
        message["refusal"] = completion.output
    return {
        "id": new_completion_id(),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {"index": 0, "message": message, "finish_reason": completion.finish_reason or "stop"}
        ],
        "usage": inference.usage(completion) | {"cost": answer.cost_usd},
    }


def call_headers(call: inference.Call, model: CandidateModel, fallback: bool) -> dict[str, str]:
    return {
        "X-DrGero-Model": model.id,
        "X-DrGero-Fallback": "true" if fallback else "false",
        "X-DrGero-Trace-Id": call.trace_id,
    }


def record(body: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
    """A keyed answer as stored for its replays."""
    return {"body": body, "headers": headers}


def replay(stored: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """A stored answer's body and headers, marked as replayed."""
    return stored["body"], stored["headers"] | {REPLAYED_HEADER: "true"}


def chat_events(
    relayed: Generator[str | inference.Answer, None, None], *, model: str, include_usage: bool
) -> Iterator[str]:
    """OpenAI's ``chat.completion.chunk`` server-sent events of a relayed stream.

    An upstream that breaks mid-stream ends it with an error event and no ``[DONE]``.
    """
    completion_id, created = new_completion_id(), int(time.time())

    def sse(choices: list[dict[str, Any]], **extra: Any) -> str:
        data = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": choices,
            **extra,
        }
        return f"data: {json.dumps(data)}\n\n"

    def chunk(delta: dict[str, Any], finish: str | None) -> str:
        return sse([{"index": 0, "delta": delta, "finish_reason": finish}])

    yield chunk({"role": "assistant", "content": ""}, None)
    try:
        for item in relayed:
            if isinstance(item, str):
                yield chunk({"content": item}, None)
                continue
            yield chunk({}, item.completion.finish_reason or "stop")
            if include_usage:
                yield sse([], usage=inference.usage(item.completion) | {"cost": item.cost_usd})
    except DrGeroError as exc:  # the upstream broke mid-stream: an error event, no [DONE]
        yield f"data: {json.dumps(error_body(exc))}\n\n"
        return
    finally:
        relayed.close()  # a client that left closes this generator: stop the upstream
    yield "data: [DONE]\n\n"


def new_completion_id() -> str:
    return "chatcmpl-" + uuid.uuid4().hex

"""Entry point ``inference``: what a team's application calls in production.

- ``POST /v1/leaderboard/{id}/inference``: Dr.Gero's own shape (``input`` or ``messages``).
- ``POST /v1/chat/completions`` with ``model: "leaderboard/<id>"`` and ``GET /v1/models``: the
  OpenAI API, so the official SDKs work unchanged (``stream=True`` included).

Every response carries ``X-DrGero-Overhead-Ms``: the time spent here minus the time spent
waiting for the model (for a stream: minus the wait for its first chunk).

A client may shorten the request's deadline with ``X-DrGero-Timeout: <seconds>``; the OpenAI
SDKs send their own timeout as ``X-Stainless-Read-Timeout``, which counts the same way (there is no
point answering a client that has given up). Neither may be shorter than the
``inference_min_client_timeout_seconds`` setting: no model answers in ``5e-324`` seconds.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Annotated, Any

import flask
import functions_framework
from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.errors import BadRequest, DrGeroError, NotFound, error_body
from shared.providers.base import ChatRequest
from shared.services import inference, model_list
from shared.web.http import bearer_token, read_json
from shared.web.router import Router
from shared.wiring import Deps

router = Router("inference", overhead_header="X-DrGero-Overhead-Ms")
MODEL_PREFIX = "leaderboard/"
IDEMPOTENCY_HEADER = "Idempotency-Key"
CLIENT_TIMEOUT_HEADER = "X-DrGero-Timeout"
SDK_TIMEOUT_HEADER = "X-Stainless-Read-Timeout"  # what the OpenAI SDKs send as their timeout


class InferenceIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    input: str | None = None
    question: str | None = None
    query: str | None = None
    messages: list[dict[str, Any]] | None = None
    max_tokens: Annotated[int, Field(ge=1, le=200_000)] | None = None
    temperature: Annotated[float, Field(ge=0, le=2)] | None = None

    @model_validator(mode="after")
    def _one_input(self) -> InferenceIn:
        given = [name for name in ("input", "question", "query", "messages") if getattr(self, name)]
        if len(given) != 1:
            raise ValueError("give exactly one of input, question, query or messages")
        return self


class ChatIn(BaseModel):
    # Other OpenAI parameters are accepted and ignored.
    model_config = ConfigDict(extra="allow", strict=True)

    model: str
    messages: Annotated[list[dict[str, Any]], Field(min_length=1)]
    stream: bool = False
    stream_options: dict[str, Any] | None = None
    max_tokens: Annotated[int, Field(ge=1, le=200_000)] | None = None
    max_completion_tokens: Annotated[int, Field(ge=1, le=200_000)] | None = None
    temperature: Annotated[float, Field(ge=0, le=2)] | None = None


@router.route("POST", "/v1/leaderboard/{leaderboard_id}/inference")
def _infer(
    request: flask.Request, deps: Deps, leaderboard_id: str
) -> tuple[dict, int, dict[str, str]]:
    token = bearer_token(request)
    inference.authenticate(deps, token)  # who before what: a stranger learns nothing from a body
    raw = _body(deps, request)
    body = InferenceIn.model_validate(raw)
    call = inference.prepare(
        deps, token, leaderboard_id,
        input_text=body.input or body.question or body.query, messages=body.messages,
        client_timeout=_client_timeout(deps, request),
        idempotent_call=bool(request.headers.get(IDEMPOTENCY_HEADER)),
    )  # fmt: skip
    chat = ChatRequest(call.messages, max_tokens=body.max_tokens, temperature=body.temperature)

    def produce() -> tuple[dict[str, Any], dict[str, str]]:
        answer = inference.complete(deps, call, chat)
        flask.g.upstream_ms = answer.completion.latency_ms
        return _infer_body(call, answer), _call_headers(call, answer.model, answer.fallback)

    answer_body, headers = _answer_once(deps, request, call, raw, produce)
    return answer_body, 200, headers


def _infer_body(call: inference.Call, answer: inference.Answer) -> dict[str, Any]:
    completion = answer.completion
    return {
        "id": answer.trace_id,
        "trace_id": answer.trace_id,
        "leaderboard_id": call.leaderboard.id,
        "output": completion.output,
        "model": {
            "id": answer.model["id"],
            "label": answer.model["label"],
            "upstream": completion.model,
        },
        "fallback": answer.fallback,
        "attempts": call.attempts,
        "usage": inference.usage(completion),
        "cost_usd": answer.cost_usd,
        "latency_ms": round((time.perf_counter() - call.started) * 1000, 1),
        "finish_reason": completion.finish_reason,
    }


@router.route("POST", "/v1/chat/completions")
def _chat(request: flask.Request, deps: Deps) -> Any:
    token = bearer_token(request)
    inference.authenticate(deps, token)
    raw = _body(deps, request)
    body = ChatIn.model_validate(raw)
    if not body.model.startswith(MODEL_PREFIX):
        raise NotFound(
            f'model {body.model!r} does not exist: use "leaderboard/<id>" (GET /v1/models)',
            code="model_not_found",
        )
    call = inference.prepare(
        deps, token, body.model[len(MODEL_PREFIX) :],
        messages=body.messages, client_timeout=_client_timeout(deps, request),
        idempotent_call=bool(request.headers.get(IDEMPOTENCY_HEADER)) and not body.stream,
    )  # fmt: skip
    chat = ChatRequest(
        call.messages,
        max_tokens=body.max_tokens or body.max_completion_tokens,
        temperature=body.temperature,
    )
    if body.stream:
        if request.headers.get(IDEMPOTENCY_HEADER):
            raise BadRequest(
                "Idempotency-Key applies to calls that are not streamed: a stream cannot be"
                " replayed; send the stream without it, or stream: false with it",
                code="idempotency_key_with_stream",
            )
        return _chat_stream(deps, call, chat, body)

    def produce() -> tuple[dict[str, Any], dict[str, str]]:
        answer = inference.complete(deps, call, chat)
        flask.g.upstream_ms = answer.completion.latency_ms
        return _chat_body(answer, body.model), _call_headers(call, answer.model, answer.fallback)

    answer_body, headers = _answer_once(deps, request, call, raw, produce)
    return answer_body, 200, headers


def _answer_once(
    deps: Any,
    request: flask.Request,
    call: inference.Call,
    raw: Any,
    produce: Callable[[], tuple[dict[str, Any], dict[str, str]]],
) -> tuple[dict[str, Any], dict[str, str]]:
    """``produce()``, or with an ``Idempotency-Key`` its one answer for every retry."""
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if not key:
        return produce()
    return inference.once(deps, call, key, raw, produce)


def _body(deps: Any, request: flask.Request) -> Any:
    return read_json(
        request, max_bytes=deps.settings.inference_max_body_bytes, integral_floats=True
    )


def _client_timeout(deps: Any, request: flask.Request) -> float | None:
    """The client's own timeout in seconds, when it sent one (see the module docstring).

    Ours must be a finite number of seconds, at least the minimum (else 400); the SDKs' header
    is a hint, ignored unless valid.
    """
    minimum = deps.settings.inference_min_client_timeout_seconds
    ours = request.headers.get(CLIENT_TIMEOUT_HEADER)
    if ours is not None:
        seconds = _seconds(ours, minimum)
        if seconds is None:
            raise BadRequest(
                f"{CLIENT_TIMEOUT_HEADER} must be a number of seconds, at least {minimum},"
                f" not {ours[:40]!r}",
                code="invalid_header",
                header=CLIENT_TIMEOUT_HEADER,
                min_seconds=minimum,
            )
        return seconds
    return _seconds(request.headers.get(SDK_TIMEOUT_HEADER) or "", minimum)


def _seconds(raw: str, minimum: float) -> float | None:
    try:
        seconds = float(raw)
    except ValueError:
        return None
    return seconds if minimum <= seconds < float("inf") else None  # NaN compares False


def _chat_body(answer: inference.Answer, model: str) -> dict[str, Any]:
    completion = answer.completion
    message: dict[str, Any] = {"role": "assistant", "content": completion.output}
    if completion.refusal:
        message["refusal"] = completion.output
    return {
        "id": inference.new_completion_id(),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {"index": 0, "message": message, "finish_reason": completion.finish_reason or "stop"}
        ],
        "usage": inference.usage(completion) | {"cost": answer.cost_usd},
    }


def _chat_stream(
    deps: Any, call: inference.Call, chat: ChatRequest, body: ChatIn
) -> flask.Response:
    waited = time.perf_counter()
    model, fallback, events = inference.stream(deps, call, chat)
    flask.g.upstream_ms = (time.perf_counter() - waited) * 1000
    completion_id, created = inference.new_completion_id(), int(time.time())
    include_usage = bool((body.stream_options or {}).get("include_usage"))

    def sse(choices: list[dict[str, Any]], **extra: Any) -> str:
        data = {"id": completion_id, "object": "chat.completion.chunk", "created": created,
                "model": body.model, "choices": choices, **extra}  # fmt: skip
        return f"data: {json.dumps(data)}\n\n"

    def chunk(delta: dict[str, Any], finish: str | None) -> str:
        return sse([{"index": 0, "delta": delta, "finish_reason": finish}])

    def generate() -> Iterator[str]:
        yield chunk({"role": "assistant", "content": ""}, None)
        relayed = inference.relay(deps, call, chat, model, events, fallback=fallback)
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

    return flask.Response(
        flask.stream_with_context(generate()),
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-cache", **_call_headers(call, model, fallback)},
    )


def _call_headers(call: inference.Call, model: dict[str, Any], fallback: bool) -> dict[str, str]:
    return {
        "X-DrGero-Model": model["id"],
        "X-DrGero-Fallback": "true" if fallback else "false",
        "X-DrGero-Trace-Id": call.trace_id,
    }


@router.route("GET", "/v1/models")
def _models(request: flask.Request, deps: Deps) -> dict:
    principal, _, _ = inference.authenticate(deps, bearer_token(request))
    return model_list.list_models(
        deps, principal, after=request.args.get("after"), limit=request.args.get("limit")
    )


@functions_framework.http
def inference_function(request: flask.Request) -> flask.Response:
    return router(request)

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

import time
from collections.abc import Callable
from typing import Annotated, Any

import flask
import functions_framework
from pydantic import BaseModel, ConfigDict, Field, model_validator

from functions import inference_render as render
from shared.bootstrap import Deps
from shared.errors import BadRequest, NotFound
from shared.providers.base import ChatRequest
from shared.services import inference, model_list
from shared.web.http import bearer_token, read_json
from shared.web.router import Router

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
    # Who before what: a stranger learns nothing from a body.
    caller = inference.authenticate(deps, bearer_token(request))
    raw = _body(deps, request)
    body = InferenceIn.model_validate(raw)
    call = inference.prepare(
        deps,
        caller,
        leaderboard_id,
        input_text=body.input or body.question or body.query,
        messages=body.messages,
        client_timeout=_client_timeout(deps, request),
        idempotent_call=bool(request.headers.get(IDEMPOTENCY_HEADER)),
    )
    chat = ChatRequest(call.messages, max_tokens=body.max_tokens, temperature=body.temperature)

    def rendered(answer: inference.Answer) -> dict[str, Any]:
        flask.g.upstream_ms = answer.completion.latency_ms
        headers = render.call_headers(call, answer.model, answer.fallback)
        return render.record(render.infer_body(call, answer), headers)

    return _answer(deps, request, call, chat, raw, rendered)


@router.route("POST", "/v1/chat/completions")
def _chat(request: flask.Request, deps: Deps) -> Any:
    caller = inference.authenticate(deps, bearer_token(request))
    raw = _body(deps, request)
    body = ChatIn.model_validate(raw)
    if not body.model.startswith(MODEL_PREFIX):
        raise NotFound(
            f'model {body.model!r} does not exist: use "leaderboard/<id>" (GET /v1/models)',
            code="model_not_found",
        )
    call = inference.prepare(
        deps,
        caller,
        body.model[len(MODEL_PREFIX) :],
        messages=body.messages,
        client_timeout=_client_timeout(deps, request),
        idempotent_call=bool(request.headers.get(IDEMPOTENCY_HEADER)) and not body.stream,
    )
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

    def rendered(answer: inference.Answer) -> dict[str, Any]:
        flask.g.upstream_ms = answer.completion.latency_ms
        headers = render.call_headers(call, answer.model, answer.fallback)
        return render.record(render.chat_body(answer, body.model), headers)

    return _answer(deps, request, call, chat, raw, rendered)


def _answer(
    deps: Any,
    request: flask.Request,
    call: inference.Call,
    chat: ChatRequest,
    raw: Any,
    rendered: Callable[[inference.Answer], dict[str, Any]],
) -> tuple[dict[str, Any], int, dict[str, str]]:
    """The call's answer, or with an ``Idempotency-Key`` its one answer for every retry."""
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if not key:
        answered = rendered(inference.complete(deps, call, chat))
        return answered["body"], 200, answered["headers"]
    keyed = inference.once(deps, call, chat, key=key, request_body=raw, render=rendered)
    if keyed.replayed:
        body, headers = render.replay(keyed.rendered)
        return body, 200, headers
    return keyed.rendered["body"], 200, keyed.rendered["headers"]


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


def _chat_stream(
    deps: Any, call: inference.Call, chat: ChatRequest, body: ChatIn
) -> flask.Response:
    waited = time.perf_counter()
    started = inference.stream(deps, call, chat)
    flask.g.upstream_ms = (time.perf_counter() - waited) * 1000
    include_usage = bool((body.stream_options or {}).get("include_usage"))

    events = render.chat_events(
        inference.relay(deps, call, started), model=body.model, include_usage=include_usage
    )
    return flask.Response(
        flask.stream_with_context(events),
        mimetype="text/event-stream",
        headers={
            "Cache-Control": "no-cache",
            **render.call_headers(call, started.model, started.fallback),
        },
    )


@router.route("GET", "/v1/models")
def _models(request: flask.Request, deps: Deps) -> dict:
    caller = inference.authenticate(deps, bearer_token(request))
    return model_list.list_models(
        deps, caller.principal, after=request.args.get("after"), limit=request.args.get("limit")
    )


@functions_framework.http
def inference_function(request: flask.Request) -> flask.Response:
    return router(request)

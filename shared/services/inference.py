"""Inference: serve a leaderboard's selected production model, with fallbacks and budgets.

One call:

1. who and where: the token (``inference`` scope, the leaderboard's workspace), the leaderboard,
   its candidates and their endpoints (provider keys decrypted), from a cache of at most
   ``inference_cache_seconds`` staleness: no database read on a warm path but a budget's;
2. money first: a token with a budget has its spend read fresh; spent → 402;
3. the chain: the selected model (manual pin or ranking winner), then the next models of the
   ranking, at most ``inference.fallbacks`` of them. A timeout, 5xx or 429 moves to the next;
   a content refusal or any 4xx does not (it is the answer, or the request's fault);
4. time: each attempt may take ``inference.timeout_seconds``, the whole request (every attempt,
   or for a stream the wait for its first chunk) ``inference.deadline_seconds`` or the client's
   own timeout when it sends one (``X-DrGero-Timeout``, or the OpenAI SDKs'
   ``X-Stainless-Read-Timeout``), whichever is less. An attempt never outlives the deadline, and no
   attempt starts past it: the answer is then 504 ``deadline_exceeded``;
5. after the answer: its cost (provider ``usage.cost`` first, price table second) is added to
   the token's spend with an atomic increment (before answering for a budgeted token, just
   after for the others), and the trace (and, when configured, the pushed
   row of the feedback loop) is written off the response path.

**Budget bound.** Each call checks the fresh spend before calling upstream and adds its cost
after. Calls already past the check when the budget is crossed still complete, so the spend can
exceed the budget by at most the cost of the calls in flight at that moment (N concurrent calls
→ at most N calls' cost); every later call gets 402.

**A stream the client leaves.** The upstream stream is closed at once (no more tokens are
generated for nobody). The provider may still bill what it generated, so the call is charged
an estimate (the price table on about four characters per token, of the prompt and of the
output sent so far) and traced with ``error: "client_disconnected"`` and ``cost_estimated``.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud import firestore

from shared.domain.estimate import estimate_tokens
from shared.domain.pricing import Price
from shared.domain.prompts import inference_messages, message_text, task_messages
from shared.domain.tokens import Scope
from shared.errors import (
    BadGateway,
    Conflict,
    DrGeroError,
    GatewayTimeout,
    PaymentRequired,
    Unavailable,
    ValidationFailed,
)
from shared.providers.base import ChatRequest, Completion, StreamEvent
from shared.providers.errors import (
    MissingCredentials,
    ProviderError,
    RateLimited,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from shared.services import idempotent
from shared.services.auth import Principal, authorize_leaderboard, principal_from, token_ref_hash
from shared.services.endpoints import endpoint_for
from shared.services.hotcache import TtlCache
from shared.storage import idempotency
from shared.storage.records import LeaderboardRecord, TokenRecord
from shared.storage.traces import new_trace_id
from shared.wiring import Deps

log = logging.getLogger(__name__)

FALLBACK_ERRORS = (UpstreamTimeout, UpstreamUnavailable, RateLimited)
MIN_ATTEMPT_SECONDS = 0.05  # less time than this left: no attempt is worth starting
LEASE_MARGIN_SECONDS = 30.0  # an idempotency claim outlives the request's deadline by this
REDACTED = "[redacted]"


@dataclass
class Call:
    """A prepared inference call: who, where, what to send, and to which models in turn."""

    principal: Principal
    token_hash: str
    leaderboard: LeaderboardRecord
    messages: list[dict[str, Any]]
    caller_input: str
    chain: list[dict[str, Any]]
    budgeted: bool = False
    attempt_seconds: float = 60.0  # one model's time
    deadline_seconds: float = 120.0  # the whole request's time, from ``started``
    started: float = field(default_factory=time.perf_counter)
    attempts: list[dict[str, Any]] = field(default_factory=list)
    trace_id: str = field(default_factory=new_trace_id)  # the one trace this call writes
    # With an Idempotency-Key: the commit that records the answer, and carries the charge.
    stage: Any | None = None
    staged_cost: float | None = None

    def remaining(self) -> float:
        return self.deadline_seconds - (time.perf_counter() - self.started)

    def timeouts(self) -> Iterator[tuple[int, dict[str, Any], float]]:
        """Each model of the chain with its timeout, while the deadline leaves time to try;
        its position counts the models already tried (a removed selected model is one)."""
        for position, model in enumerate(self.chain, start=len(self.attempts)):
            remaining = self.remaining()
            if remaining < MIN_ATTEMPT_SECONDS:
                return
            yield position, model, min(self.attempt_seconds, remaining)


@dataclass
class Answer:
    completion: Completion
    model: dict[str, Any]
    fallback: bool
    cost_usd: float | None
    trace_id: str


def _cache(deps: Deps, name: str) -> TtlCache:
    return deps.cache(f"inference:{name}", ttl=deps.settings.inference_cache_seconds)


def authenticate(deps: Deps, token: str | None) -> tuple[Principal, str, TokenRecord]:
    token_hash = token_ref_hash(token)
    record = _cache(deps, "tokens").get(token_hash, lambda: deps.tokens.get(token_hash))
    principal = principal_from(record)
    principal.require(Scope.INFERENCE)
    assert record is not None
    return principal, token_hash, record


def prepare(
    deps: Deps,
    token: str | None,
    leaderboard_id: str,
    *,
    input_text: str | None = None,
    messages: list[dict[str, Any]] | None = None,
    client_timeout: float | None = None,
    idempotent_call: bool = False,
) -> Call:
    """The call, ready to send; ``idempotent_call`` defers the budget check to :func:`once`
    (a retry that replays an answer already paid for is not refused for the spend it made)."""
    started = time.perf_counter()
    principal, token_hash, record = authenticate(deps, token)
    leaderboard = authorize_leaderboard(
        principal,
        leaderboard_id,
        _cache(deps, "leaderboards").get(
            leaderboard_id, lambda: deps.leaderboards.get(leaderboard_id)
        ),
        Scope.INFERENCE,
    )
    if record.budget_usd is not None and not idempotent_call:
        _check_budget(deps, token_hash)
    prompt = leaderboard.system_prompt
    if messages is not None:
        try:
            sent = inference_messages(prompt, messages)
        except ValueError as exc:
            raise ValidationFailed(str(exc), code="invalid_messages", field="messages") from exc
        caller = _last_user_text(messages)
    else:
        assert input_text is not None
        sent, caller = task_messages(prompt, input_text), input_text
    chain, gone = _chain(deps, leaderboard)
    config = leaderboard.inference or {}
    deadline = config.get("deadline_seconds") or deps.settings.inference_deadline_seconds
    return Call(
        principal,
        token_hash,
        leaderboard,
        sent,
        caller,
        chain,
        budgeted=record.budget_usd is not None,
        attempt_seconds=config.get("timeout_seconds") or deps.settings.inference_timeout_seconds,
        deadline_seconds=min(deadline, client_timeout) if client_timeout else deadline,
        started=started,
        attempts=[{"model_id": model_id, "error": "model_not_candidate"} for model_id in gone],
    )


def _check_budget(deps: Deps, token_hash: str) -> None:
    fresh = deps.tokens.get(token_hash)  # never the cache: the bound depends on it
    if fresh is not None and fresh.budget_usd is not None and fresh.spend_usd >= fresh.budget_usd:
        raise PaymentRequired(
            f"this token's budget of ${fresh.budget_usd} is spent (${fresh.spend_usd:.6f});"
            " raise its budget or use another token",
            code="budget_exhausted",
            budget_usd=fresh.budget_usd,
            spend_usd=fresh.spend_usd,
        )


def _chain(deps: Deps, leaderboard: LeaderboardRecord) -> tuple[list[dict[str, Any]], list[str]]:
    """The selected model, then the next-ranked ones, as many as ``fallbacks`` allows; and the
    selected model when it is no longer a candidate (then the chain starts at the next-ranked
    candidate, as a fallback: production keeps serving).
    """
    candidates = _cache(deps, "candidates").get(
        leaderboard.id, lambda: {m["id"]: m for m in deps.candidates.all(leaderboard.id)}
    )
    ranking = leaderboard.ranking or {}
    selected = (leaderboard.selection or {}).get("model_id") or ranking.get("leader")
    fallbacks = int((leaderboard.inference or {}).get("fallbacks", 2))
    order = [selected] + [
        m["model_id"] for m in ranking.get("models", []) if m["model_id"] != selected
    ]
    chain = [candidates[m] for m in order if m in candidates][: 1 + fallbacks]
    if not selected or not chain:
        raise Conflict(
            "this leaderboard has no production model yet: run it, or pin one with"
            " PUT /v1/leaderboard/{id}/selection",
            code="no_selected_model",
        )
    return chain, [] if selected in candidates else [selected]


def complete(deps: Deps, call: Call, request: ChatRequest) -> Answer:
    """Ask the chain in turn; the first model that answers answers."""
    last: ProviderError | None = None
    for position, model, timeout in call.timeouts():
        try:
            completion = _endpoint(deps, call, model).complete(request, timeout=timeout)
        except FALLBACK_ERRORS as exc:
            last = exc
            call.attempts.append({"model_id": model["id"], "error": _error_code(exc)})
            continue
        except ProviderError as exc:  # the request's fault, or a refusal: the next would agree
            raise _stopped(deps, call, request, model, _client_error(exc)) from exc
        except DrGeroError as exc:  # the model cannot be called (a credential is missing)
            raise _stopped(deps, call, request, model, exc) from None
        return finish(deps, call, request, model, completion, fallback=position > 0)
    raise _gave_up(deps, call, request, last)


def stream(
    deps: Deps, call: Call, request: ChatRequest
) -> tuple[dict[str, Any], bool, Iterator[StreamEvent]]:
    """The first model whose stream starts; fallback happens only before the first byte."""
    last: ProviderError | None = None
    for position, model, timeout in call.timeouts():
        try:
            events = _endpoint(deps, call, model).stream(request, timeout=timeout)
            first = next(events)
        except FALLBACK_ERRORS as exc:
            last = exc
            call.attempts.append({"model_id": model["id"], "error": _error_code(exc)})
            continue
        except StopIteration:
            empty = BadGateway(f"{model['label']} answered an empty stream")
            raise _stopped(deps, call, request, model, empty) from None
        except ProviderError as exc:
            raise _stopped(deps, call, request, model, _client_error(exc)) from exc
        except DrGeroError as exc:
            raise _stopped(deps, call, request, model, exc) from None
        return model, position > 0, _chained(first, events)
    raise _gave_up(deps, call, request, last)


def _chained(first: StreamEvent, rest: Iterator[StreamEvent]) -> Iterator[StreamEvent]:
    try:
        yield first
        yield from rest
    finally:
        close = getattr(rest, "close", None)
        if close is not None:
            close()  # leaves the upstream request: its connection is closed, the stream stops


def relay(
    deps: Deps,
    call: Call,
    request: ChatRequest,
    model: dict[str, Any],
    events: Iterator[StreamEvent],
    *,
    fallback: bool,
) -> Generator[str | Answer, None, None]:
    """A started stream's text deltas as they come, then its :class:`Answer`.

    Closing this generator (the client went away) closes the upstream stream at once and
    records the call as cut: an estimated charge and a ``client_disconnected`` trace. An
    upstream that fails mid-stream is traced and its error raised (there is no fallback after
    the first byte: the client already holds part of an answer).
    """
    sent: list[str] = []
    answer: Answer | None = None
    try:
        for event in events:
            if event.delta:
                sent.append(event.delta)
                yield event.delta
            if event.completion is not None:
                answer = finish(deps, call, request, model, event.completion, fallback=fallback)
                yield answer
                return
    except GeneratorExit:
        if answer is None:  # charged and traced already otherwise
            _cut(deps, call, request, model, "".join(sent), fallback=fallback)
        raise
    except ProviderError as exc:
        _cut(deps, call, request, model, "".join(sent), fallback=fallback, error=exc)
        raise _client_error(exc) from exc
    finally:
        close = getattr(events, "close", None)
        if close is not None:
            close()


def _cut(
    deps: Deps,
    call: Call,
    request: ChatRequest,
    model: dict[str, Any],
    partial: str,
    *,
    fallback: bool,
    error: ProviderError | None = None,
) -> None:
    """Charge and trace a stream that ended before its last chunk, from what was sent."""
    estimate = Completion(
        output=partial,
        prompt_tokens=estimate_tokens(
            " ".join(message_text(m.get("content")) for m in call.messages)
        ),
        completion_tokens=estimate_tokens(partial) if partial else 0,
        cost_usd=None,
        latency_ms=(time.perf_counter() - call.started) * 1000,
        model=None,
        finish_reason=None,
    )
    code = _error_code(error) if error is not None else "client_disconnected"
    try:
        finish(deps, call, request, model, estimate, fallback=fallback, error=code)
    except Exception:  # the client is gone or the stream broke: nothing to answer, only log
        log.exception("could not record a cut inference stream")


def finish(
    deps: Deps,
    call: Call,
    request: ChatRequest,
    model: dict[str, Any],
    completion: Completion,
    *,
    fallback: bool,
    error: str | None = None,
) -> Answer:
    """Charge the call, then write its trace (and feedback row) off the response path.

    ``error`` marks a call cut short (see :func:`relay`): its completion is an estimate.
    """
    cost = _cost(model, completion)
    if cost:
        token = deps.tokens.ref(call.token_hash)
        if call.stage is not None:  # charged exactly once, with the recorded answer
            call.stage.update(token, {"spend_usd": firestore.Increment(cost)})
            call.staged_cost = cost
        elif call.budgeted:  # before answering: the budget bound counts on it
            try:
                token.update({"spend_usd": firestore.Increment(cost)})
            except Exception:  # the answer exists: charge it later rather than lose either
                log.exception("charging token %s later", call.principal.token_id)
                deps.writes.increment(token, "spend_usd", cost)
        else:  # nothing waits on it: batched with other calls' writes
            deps.writes.increment(token, "spend_usd", cost)
    trace_id = _after(deps, call, request, model, completion, cost, fallback=fallback, error=error)
    return Answer(completion, model, fallback, cost, trace_id)


def once(
    deps: Deps,
    call: Call,
    key: str,
    body: Any,
    produce: Callable[[], tuple[dict[str, Any], dict[str, str]]],
) -> tuple[dict[str, Any], dict[str, str]]:
    """Answer a call sent with an ``Idempotency-Key`` once, whatever the retries.

    The key belongs to the token and the leaderboard. The first request claims it and calls
    the model; its answer and its charge are committed together, so a retry with the same key
    and body replays the answer (``Idempotent-Replayed: true``) without calling or charging
    again. A retry while the first is still running waits for its answer a short while
    (``inference_idempotency_wait_seconds``, within the request's deadline), then is 409
    ``idempotency_in_progress`` with ``Retry-After``: a duplicate does not hold a worker for
    the first call's whole deadline. A call that fails releases the key: its retry runs anew.
    """
    ref = idempotency.record_ref(deps.db, call.leaderboard.id, f"{call.token_hash}:{key}")
    wait = min(deps.settings.inference_idempotency_wait_seconds, call.remaining())
    claimed = idempotent.claim(
        ref,
        idempotent.request_hash(body),
        lease_seconds=call.deadline_seconds + LEASE_MARGIN_SECONDS,
        wait_seconds=max(0.0, wait),
        ttl_hours=deps.settings.idempotency_ttl_hours,
    )
    if isinstance(claimed, idempotency.Replay):
        stored = claimed.body
        return stored["body"], stored["headers"] | {"Idempotent-Replayed": "true"}
    call.stage = deps.db.batch()
    try:
        if call.budgeted:
            _check_budget(deps, call.token_hash)
        answer, headers = produce()
    except BaseException:
        idempotency.release(claimed)
        raise
    record = {"body": answer, "headers": headers}
    settings = deps.settings
    kept = idempotency.stage_answer(
        call.stage,
        claimed,
        status=200,
        body=record,
        max_document_bytes=settings.firestore_max_document_bytes,
        max_answer_bytes=settings.idempotency_max_answer_bytes,
        ttl_hours=settings.idempotency_ttl_hours,
    )
    try:
        call.stage.commit()
    except gexc.FailedPrecondition:  # our claim was taken over: charge without the record
        log.error("idempotency record of trace %s lost its claim", call.trace_id)
        if call.staged_cost:
            deps.writes.increment(deps.tokens.ref(call.token_hash), "spend_usd", call.staged_cost)
    if not kept:  # over idempotency_max_answer_bytes: answered and charged, not replayable
        log.warning(
            "answer of trace %s is over idempotency_max_answer_bytes (%d): not kept for replay",
            call.trace_id,
            settings.idempotency_max_answer_bytes,
        )
        idempotency.release(claimed)
    return answer, headers


def _stopped(
    deps: Deps, call: Call, request: ChatRequest, model: dict[str, Any], error: DrGeroError
) -> DrGeroError:
    """A failure no fallback would cure: trace it as the call's outcome."""
    call.attempts.append({"model_id": model["id"], "error": error.code})
    error.details |= {"attempts": call.attempts, "trace_id": call.trace_id}
    _after(deps, call, request, model, None, None, error=error.code)
    return error


def _gave_up(
    deps: Deps, call: Call, request: ChatRequest, last: ProviderError | None
) -> DrGeroError:
    """Every model failed, or the deadline left no time: trace it, and say which it was."""
    if last is None or (
        isinstance(last, UpstreamTimeout) and call.remaining() < MIN_ATTEMPT_SECONDS
    ):
        error: DrGeroError = GatewayTimeout(
            f"no model answered within this request's deadline of {call.deadline_seconds:g} s"
            f" ({len(call.attempts)} attempt(s)); raise inference.deadline_seconds or the"
            " client's timeout",
            code="deadline_exceeded",
            deadline_seconds=call.deadline_seconds,
        )
    else:
        error = _client_error(last)
    error.details |= {"attempts": call.attempts, "trace_id": call.trace_id}
    _after(deps, call, request, None, None, None, error=error.code)
    return error


def _after(
    deps: Deps,
    call: Call,
    request: ChatRequest,
    model: dict[str, Any] | None,
    completion: Completion | None,
    cost: float | None,
    *,
    fallback: bool = False,
    error: str | None = None,
) -> str:
    trace_ref, trace = deps.traces.new(
        call.leaderboard.id,
        kind="inference",
        trace_id=call.trace_id,
        workspace_id=call.leaderboard.workspace_id,
        token_id=call.principal.token_id,
    )
    redact = bool((call.leaderboard.inference or {}).get("redact"))
    trace |= {
        "model_id": model["id"] if model else None,
        "model_label": model["label"] if model else None,
        "upstream_model": completion.model if completion else None,
        "input": REDACTED if redact else call.caller_input,
        "output": None if completion is None else REDACTED if redact else completion.output,
        "usage": usage(completion),
        "cost_usd": cost,
        "latency_ms": round(completion.latency_ms, 1) if completion else None,
        "total_ms": round((time.perf_counter() - call.started) * 1000, 1),
        "deadline_seconds": call.deadline_seconds,
        "fallback": fallback,
        "attempts": call.attempts,
        "error": error,
        "cost_estimated": error is not None and completion is not None,
        "finish_reason": completion.finish_reason if completion else None,
    }
    deps.writes.set(trace_ref, trace)
    feed = (call.leaderboard.inference or {}).get("feed_dataset") and call.leaderboard.is_push
    if feed and completion is not None and not completion.refusal and error is None:
        deps.background.submit(_feed, deps, call, completion, model, str(trace["id"]))
    return str(trace["id"])


def _feed(
    deps: Deps, call: Call, completion: Completion, model: dict[str, Any] | None, trace_id: str
) -> None:
    """The production feedback loop: the call becomes a pushed row, under the push limits."""
    from shared.services.push import PushRequest, push

    row = {  # no id: like a pushed row without one, the same input dedupes at consolidation
        "input": call.caller_input,
        "output": completion.output,
        "inference_trace_id": trace_id,  # metadata ("trace_id" would be the row's id)
        "model": model["label"] if model else None,
        "latency_ms": completion.latency_ms,
    }
    try:
        push(deps, PushRequest(principal=call.principal, leaderboard=call.leaderboard, body=row))
    except DrGeroError as exc:  # a full daily window refuses the row, as it would a push
        log.info("inference row not fed to the dataset: %s", exc.code)
    except Exception:  # the answer is already sent: log, never raise
        log.exception("could not feed inference trace %s to the dataset", trace_id)


def _endpoint(deps: Deps, call: Call, model: dict[str, Any]) -> Any:
    """The model's callable endpoint, with its decrypted credentials, cached like the rest.

    A rotated or removed provider key is therefore used for at most ``inference_cache_seconds``
    more; the decrypted key lives only in this process's memory.
    """
    return _cache(deps, "endpoints").get(
        (call.leaderboard.id, model["id"]), lambda: _build_endpoint(deps, call, model)
    )


def _build_endpoint(deps: Deps, call: Call, model: dict[str, Any]) -> Any:
    config = model["config"]
    if config["platform"] == "drgero":
        workspace_model = deps.workspace_models.get(
            call.leaderboard.workspace_id, config["model_id"]
        )
        if workspace_model is None:
            raise Conflict(
                f"Dr.Gero model {config['model_id']} no longer exists", code="no_selected_model"
            )
        config = workspace_model["endpoint"]
    try:
        return endpoint_for(deps, call.leaderboard.workspace_id, config)
    except MissingCredentials as exc:
        raise ValidationFailed(str(exc), code="missing_credentials") from exc


def _cost(model: dict[str, Any], completion: Completion) -> float | None:
    if completion.cost_usd is not None:
        return completion.cost_usd
    return Price.of(model).cost(completion.prompt_tokens, completion.completion_tokens)


def usage(completion: Completion | None) -> dict[str, int | None]:
    if completion is None:
        return {"prompt_tokens": None, "completion_tokens": None, "total_tokens": None}
    prompt, out = completion.prompt_tokens, completion.completion_tokens
    total = (prompt or 0) + (out or 0) if prompt is not None or out is not None else None
    return {"prompt_tokens": prompt, "completion_tokens": out, "total_tokens": total}


def _error_code(exc: ProviderError) -> str:
    return {UpstreamTimeout: "upstream_timeout", RateLimited: "upstream_rate_limited"}.get(
        type(exc), "upstream_error"
    )


def _client_error(exc: ProviderError) -> DrGeroError:
    details: dict[str, Any] = {
        "provider_message": exc.provider_message,
        "upstream_status": exc.status,
    }
    if isinstance(exc, UpstreamTimeout):
        return GatewayTimeout("the model did not answer in time", **details)
    if isinstance(exc, RateLimited):
        return Unavailable(
            "the model provider is rate limiting; retry shortly",
            code="upstream_rate_limited",
            retry_after_seconds=int(exc.retry_after or 1),
            **details,
        )
    if exc.status is not None and 400 <= exc.status < 500 and exc.status not in (401, 403):
        return ValidationFailed(
            f"the model refused the request: {exc}", code="upstream_rejected", **details
        )
    return BadGateway(f"the model provider failed: {exc}", code=exc.code, **details)


def _last_user_text(messages: list[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            return message_text(message.get("content"))  # already validated by prepare()
    return ""


def new_completion_id() -> str:
    return "chatcmpl-" + uuid.uuid4().hex

"""The chain: which models a call tries, in which order, and how each one is reached.

The selected model (manual pin or ranking winner), then the next models of the ranking, at most
``inference.fallbacks`` of them. Each attempt may take ``inference.timeout_seconds`` and never
outlives the request's deadline; no attempt starts past it (see ``Call.timeouts``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from shared.bootstrap import Deps
from shared.domain.entities import CandidateModel
from shared.errors import BadGateway, Conflict, DrGeroError, ValidationFailed
from shared.providers.base import ChatRequest, StreamEvent
from shared.providers.errors import MissingCredentials, ProviderError
from shared.services.endpoints import endpoint_for
from shared.services.inference.call import Answer, Call, Started, cache
from shared.services.inference.charge import finish
from shared.services.inference.failures import (
    FALLBACK_ERRORS,
    client_error,
    error_code,
    gave_up,
    stopped,
)
from shared.storage.records import LeaderboardRecord


def build(deps: Deps, leaderboard: LeaderboardRecord) -> tuple[list[CandidateModel], list[str]]:
    """The selected model, then the next-ranked ones, as many as ``fallbacks`` allows; and the
    selected model when it is no longer a candidate (then the chain starts at the next-ranked
    candidate, as a fallback: production keeps serving).
    """
    candidates = cache(deps, "candidates").get(
        leaderboard.id, lambda: {m.id: m for m in deps.candidates.find_all(leaderboard.id)}
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
            completion = endpoint(deps, call, model).complete(request, timeout=timeout)
        except FALLBACK_ERRORS as exc:
            last = exc
            call.attempts.append({"model_id": model.id, "error": error_code(exc)})
            continue
        except ProviderError as exc:  # the request's fault, or a refusal: the next would agree
            raise stopped(deps, call, model, client_error(exc)) from exc
        except DrGeroError as exc:  # the model cannot be called (a credential is missing)
            raise stopped(deps, call, model, exc) from None
        return finish(deps, call, model, completion, fallback=position > 0)
    raise gave_up(deps, call, last)


def stream(deps: Deps, call: Call, request: ChatRequest) -> Started:
    """The first model whose stream starts; fallback happens only before the first byte."""
    last: ProviderError | None = None
    for position, model, timeout in call.timeouts():
        try:
            events = endpoint(deps, call, model).stream(request, timeout=timeout)
            first = next(events)
        except FALLBACK_ERRORS as exc:
            last = exc
            call.attempts.append({"model_id": model.id, "error": error_code(exc)})
            continue
        except StopIteration:
            empty = BadGateway(f"{model.label} answered an empty stream")
            raise stopped(deps, call, model, empty) from None
        except ProviderError as exc:
            raise stopped(deps, call, model, client_error(exc)) from exc
        except DrGeroError as exc:
            raise stopped(deps, call, model, exc) from None
        return Started(model, position > 0, _chained(first, events))
    raise gave_up(deps, call, last)


def _chained(first: StreamEvent, rest: Iterator[StreamEvent]) -> Iterator[StreamEvent]:
    try:
        yield first
        yield from rest
    finally:
        close = getattr(rest, "close", None)
        if close is not None:
            close()  # leaves the upstream request: its connection is closed, the stream stops


def endpoint(deps: Deps, call: Call, model: CandidateModel) -> Any:
    """The model's callable endpoint, with its decrypted credentials, cached like the rest.

    A rotated or removed provider key is therefore used for at most ``inference_cache_seconds``
    more; the decrypted key lives only in this process's memory.
    """
    return cache(deps, "endpoints").get(
        (call.leaderboard.id, model.id), lambda: _build_endpoint(deps, call, model)
    )


def _build_endpoint(deps: Deps, call: Call, model: CandidateModel) -> Any:
    config = model.config
    if config["platform"] == "drgero":
        workspace_model = deps.drgero_models.get(call.leaderboard.workspace_id, config["model_id"])
        if workspace_model is None:
            raise Conflict(
                f"Dr.Gero model {config['model_id']} no longer exists", code="no_selected_model"
            )
        config = workspace_model["endpoint"]
    try:
        return endpoint_for(deps, call.leaderboard.workspace_id, config)
    except MissingCredentials as exc:
        raise ValidationFailed(str(exc), code="missing_credentials") from exc

"""A started stream relayed to the client: its text deltas as they come, then its answer.

**A stream the client leaves.** The upstream stream is closed at once (no more tokens are
generated for nobody). The provider may still bill what it generated, so the call is charged
an estimate (the price table on about four characters per token, of the prompt and of the
output sent so far) and traced with ``error: "client_disconnected"`` and ``cost_estimated``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Generator

from shared.bootstrap import Deps
from shared.domain.entities import CandidateModel
from shared.domain.estimate import estimate_tokens
from shared.domain.prompts import message_text
from shared.providers.base import Completion
from shared.providers.errors import ProviderError
from shared.services.inference.call import Answer, Call, Started
from shared.services.inference.charge import finish
from shared.services.inference.failures import client_error, error_code

log = logging.getLogger(__name__)


def relay(deps: Deps, call: Call, started: Started) -> Generator[str | Answer, None, None]:
    """A started stream's text deltas as they come, then its :class:`Answer`.

    Closing this generator (the client went away) closes the upstream stream at once and
    records the call as cut: an estimated charge and a ``client_disconnected`` trace. An
    upstream that fails mid-stream is traced and its error raised (there is no fallback after
    the first byte: the client already holds part of an answer).
    """
    model, fallback, events = started.model, started.fallback, started.events
    sent: list[str] = []
    answer: Answer | None = None
    try:
        for event in events:
            if event.delta:
                sent.append(event.delta)
                yield event.delta
            if event.completion is not None:
                answer = finish(deps, call, model, event.completion, fallback=fallback)
                yield answer
                return
    except GeneratorExit:
        if answer is None:  # charged and traced already otherwise
            _cut(deps, call, model, "".join(sent), fallback=fallback)
        raise
    except ProviderError as exc:
        _cut(deps, call, model, "".join(sent), fallback=fallback, error=exc)
        raise client_error(exc) from exc
    finally:
        close = getattr(events, "close", None)
        if close is not None:
            close()


def _cut(
    deps: Deps,
    call: Call,
    model: CandidateModel,
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
    code = error_code(error) if error is not None else "client_disconnected"
    try:
        finish(deps, call, model, estimate, fallback=fallback, error=code)
    except Exception:  # the client is gone or the stream broke: nothing to answer, only log
        log.exception("could not record a cut inference stream")

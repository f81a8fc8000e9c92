"""After the answer: the trace, and the production feedback loop (the call becomes a pushed row).

With ``inference.feed_dataset`` on a push leaderboard, every answered call (not a refusal, not
cut short) is pushed to the leaderboard's dataset as a row, under the push limits, by the
after-answer executor (``deps.background``): the client never waits for it.
"""

from __future__ import annotations

import logging

from shared.bootstrap import Deps
from shared.domain.entities import CandidateModel
from shared.errors import DrGeroError
from shared.providers.base import Completion
from shared.services.inference import trace
from shared.services.inference.call import Call

log = logging.getLogger(__name__)


def after(
    deps: Deps,
    call: Call,
    model: CandidateModel | None,
    completion: Completion | None,
    cost: float | None,
    *,
    fallback: bool = False,
    error: str | None = None,
) -> str:
    """Trace the call and, when configured, feed it to the dataset; answer the trace id."""
    trace_id = trace.write(deps, call, model, completion, cost, fallback=fallback, error=error)
    feed_on = (call.leaderboard.inference or {}).get("feed_dataset") and call.leaderboard.is_push
    if feed_on and completion is not None and not completion.refusal and error is None:
        deps.background.submit(feed, deps, call, completion, model, trace_id)
    return trace_id


def feed(
    deps: Deps, call: Call, completion: Completion, model: CandidateModel | None, trace_id: str
) -> None:
    """The production feedback loop: the call becomes a pushed row, under the push limits."""
    from shared.services.push import PushRequest, push

    row = {  # no id: like a pushed row without one, the same input dedupes at consolidation
        "input": call.caller_input,
        "output": completion.output,
        "inference_trace_id": trace_id,  # metadata ("trace_id" would be the row's id)
        "model": model.label if model else None,
        "latency_ms": completion.latency_ms,
    }
    try:
        push(deps, PushRequest(principal=call.principal, leaderboard=call.leaderboard, body=row))
    except DrGeroError as exc:  # a full daily window refuses the row, as it would a push
        log.info("inference row not fed to the dataset: %s", exc.code)
    except Exception:  # the answer is already sent: log, never raise
        log.exception("could not feed inference trace %s to the dataset", trace_id)

"""The trace of an inference call: one record of what was asked, answered, tried and paid."""

from __future__ import annotations

import time

from shared.bootstrap import Deps
from shared.domain.entities import CandidateModel
from shared.providers.base import Completion
from shared.services.inference.call import Call

REDACTED = "[redacted]"


def write(
    deps: Deps,
    call: Call,
    model: CandidateModel | None,
    completion: Completion | None,
    cost: float | None,
    *,
    fallback: bool = False,
    error: str | None = None,
) -> str:
    """Queue the call's trace (write-behind: off the response path); answer its id."""
    trace_ref, trace = deps.traces.new(
        call.leaderboard.id,
        kind="inference",
        trace_id=call.trace_id,
        workspace_id=call.leaderboard.workspace_id,
        token_id=call.principal.token_id,
    )
    redact = bool((call.leaderboard.inference or {}).get("redact"))
    trace |= {
        "model_id": model.id if model else None,
        "model_label": model.label if model else None,
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
    return str(trace["id"])


def usage(completion: Completion | None) -> dict[str, int | None]:
    """A completion's token counts, OpenAI's way (``total_tokens`` when either is known)."""
    if completion is None:
        return {"prompt_tokens": None, "completion_tokens": None, "total_tokens": None}
    prompt, out = completion.prompt_tokens, completion.completion_tokens
    total = (prompt or 0) + (out or 0) if prompt is not None or out is not None else None
    return {"prompt_tokens": prompt, "completion_tokens": out, "total_tokens": total}

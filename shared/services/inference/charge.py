"""Money: the budget check before a call, and the call's cost added to its token's spend.

**Budget bound.** Each call checks the fresh spend before calling upstream and adds its cost
after. Calls already past the check when the budget is crossed still complete, so the spend can
exceed the budget by at most the cost of the calls in flight at that moment (N concurrent calls
→ at most N calls' cost); every later call gets 402.

A call's cost is the provider's ``usage.cost`` when it reports one, else the price table's. It
is charged with the recorded answer when the call is keyed (one commit, see ``keyed.py``),
before answering for a budgeted token (the bound counts on it), and write-behind otherwise.
"""

from __future__ import annotations

import logging

from shared.bootstrap import Deps
from shared.domain.entities import CandidateModel
from shared.errors import PaymentRequired
from shared.providers.base import Completion
from shared.services.inference import feedback
from shared.services.inference.call import Answer, Call

log = logging.getLogger(__name__)


def check_budget(deps: Deps, token_hash: str) -> None:
    """402 ``budget_exhausted`` when the token's fresh spend has reached its budget."""
    fresh = deps.tokens.get(token_hash)  # never the cache: the bound depends on it
    if fresh is not None and fresh.budget_usd is not None and fresh.spend_usd >= fresh.budget_usd:
        raise PaymentRequired(
            f"this token's budget of ${fresh.budget_usd} is spent (${fresh.spend_usd:.6f});"
            " raise its budget or use another token",
            code="budget_exhausted",
            budget_usd=fresh.budget_usd,
            spend_usd=fresh.spend_usd,
        )


def cost(model: CandidateModel, completion: Completion) -> float | None:
    if completion.cost_usd is not None:
        return completion.cost_usd
    return model.price.cost(completion.prompt_tokens, completion.completion_tokens)


def charge(deps: Deps, call: Call, cost_usd: float) -> None:
    """Add the call's cost to its token's spend, the way the call needs it (module docstring)."""
    if call.stage is not None:  # charged exactly once, with the recorded answer
        deps.tokens.charge(call.token_hash, cost_usd, via=call.stage)
        call.staged_cost = cost_usd
    elif call.budgeted:  # before answering: the budget bound counts on it
        try:
            deps.tokens.charge(call.token_hash, cost_usd)
        except Exception:  # the answer exists: charge it later rather than lose either
            log.exception("charging token %s later", call.principal.token_id)
            deps.tokens.charge(call.token_hash, cost_usd, via=deps.writes)
    else:  # nothing waits on it: batched with other calls' writes
        deps.tokens.charge(call.token_hash, cost_usd, via=deps.writes)


def finish(
    deps: Deps,
    call: Call,
    model: CandidateModel,
    completion: Completion,
    *,
    fallback: bool,
    error: str | None = None,
) -> Answer:
    """Charge the call, then write its trace (and feedback row) off the response path.

    ``error`` marks a call cut short (see ``relay.py``): its completion is an estimate.
    """
    cost_usd = cost(model, completion)
    if cost_usd:
        charge(deps, call, cost_usd)
    trace_id = feedback.after(
        deps, call, model, completion, cost_usd, fallback=fallback, error=error
    )
    return Answer(completion, model, fallback, cost_usd, trace_id)

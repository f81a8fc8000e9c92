"""Who and where: the caller's token, the leaderboard, the messages to send and the chain.

All from caches of at most ``inference_cache_seconds`` staleness: no database read on a warm
path but a budget's. Time: each attempt may take ``inference.timeout_seconds``, the whole
request (every attempt, or for a stream the wait for its first chunk)
``inference.deadline_seconds`` or the client's own timeout when it sends one, whichever is less.
"""

from __future__ import annotations

import time
from typing import Any

from shared.bootstrap import Deps
from shared.domain.prompts import inference_messages, message_text, task_messages
from shared.domain.tokens import Scope
from shared.errors import ValidationFailed
from shared.services.auth import authorize_leaderboard, principal_from, token_ref_hash
from shared.services.inference import chain
from shared.services.inference.call import Call, Caller, cache
from shared.services.inference.charge import check_budget


def authenticate(deps: Deps, token: str | None) -> Caller:
    """The token's caller, if it is a live token with the ``inference`` scope (else 401/403)."""
    token_hash = token_ref_hash(token)
    record = cache(deps, "tokens").get(token_hash, lambda: deps.tokens.get(token_hash))
    principal = principal_from(record)
    principal.require(Scope.INFERENCE)
    assert record is not None
    return Caller(principal, token_hash, record)


def prepare(
    deps: Deps,
    caller: Caller,
    leaderboard_id: str,
    *,
    input_text: str | None = None,
    messages: list[dict[str, Any]] | None = None,
    client_timeout: float | None = None,
    idempotent_call: bool = False,
) -> Call:
    """The call, ready to send; ``idempotent_call`` defers the budget check to ``once``
    (a retry that replays an answer already paid for is not refused for the spend it made).
    """
    started = time.perf_counter()  # the deadline counts from here
    leaderboard = authorize_leaderboard(
        caller.principal,
        leaderboard_id,
        cache(deps, "leaderboards").get(
            leaderboard_id, lambda: deps.leaderboards.get(leaderboard_id)
        ),
        Scope.INFERENCE,
    )
    budgeted = caller.record.budget_usd is not None
    if budgeted and not idempotent_call:
        check_budget(deps, caller.token_hash)
    prompt = leaderboard.system_prompt
    if messages is not None:
        try:
            sent = inference_messages(prompt, messages)
        except ValueError as exc:
            raise ValidationFailed(str(exc), code="invalid_messages", field="messages") from exc
        caller_input = _last_user_text(messages)
    else:
        assert input_text is not None
        sent, caller_input = task_messages(prompt, input_text), input_text
    models, gone = chain.build(deps, leaderboard)
    config = leaderboard.inference or {}
    deadline = config.get("deadline_seconds") or deps.settings.inference_deadline_seconds
    return Call(
        caller.principal,
        caller.token_hash,
        leaderboard,
        sent,
        caller_input,
        models,
        budgeted=budgeted,
        attempt_seconds=config.get("timeout_seconds") or deps.settings.inference_timeout_seconds,
        deadline_seconds=min(deadline, client_timeout) if client_timeout else deadline,
        started=started,
        attempts=[{"model_id": model_id, "error": "model_not_candidate"} for model_id in gone],
    )


def _last_user_text(messages: list[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            return message_text(message.get("content"))  # already validated by prepare()
    return ""

"""A call sent with an ``Idempotency-Key``: answered once, whatever the retries.

The key belongs to the token and the leaderboard. The first request claims it and calls the
model; its answer (as the caller renders it for the client) and its charge are committed
together, so a retry with the same key and body replays that answer without calling or
charging again. A retry while the first is still running waits for its answer a short while
(``inference_idempotency_wait_seconds``, within the request's deadline), then is 409
``idempotency_in_progress``: a duplicate does not hold a worker for the first call's whole
deadline. A call that fails releases the key: its retry runs anew.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shared.bootstrap import Deps
from shared.providers.base import ChatRequest
from shared.services import idempotent
from shared.services.inference.call import Answer, Call
from shared.services.inference.chain import complete
from shared.services.inference.charge import check_budget
from shared.storage import idempotency
from shared.storage.unit_of_work import WriteConflict

log = logging.getLogger(__name__)

LEASE_MARGIN_SECONDS = 30.0  # an idempotency claim outlives the request's deadline by this
RECORD_STATUS = 200  # the record's status: only answers are kept (a failure releases the key)


@dataclass(frozen=True)
class Keyed:
    """A keyed call's outcome: the answer as rendered, and the answer when it is not a replay."""

    rendered: dict[str, Any]  # what ``render`` made of the answer, now or the first time
    answer: Answer | None  # None: a replay, nothing was called nor charged

    @property
    def replayed(self) -> bool:
        return self.answer is None


def once(
    deps: Deps,
    call: Call,
    request: ChatRequest,
    *,
    key: str,
    request_body: Any,
    render: Callable[[Answer], dict[str, Any]],
) -> Keyed:
    """The call's one answer for ``key`` (see the module docstring).

    ``render`` turns a fresh answer into the JSON record a replay answers with; the answer and
    its charge commit with that record.
    """
    ref = deps.idempotency.for_token(call.leaderboard.id, token_hash=call.token_hash, key=key)
    wait = min(deps.settings.inference_idempotency_wait_seconds, call.remaining())
    claimed = idempotent.claim(
        ref,
        idempotent.request_hash(request_body),
        lease_seconds=call.deadline_seconds + LEASE_MARGIN_SECONDS,
        wait_seconds=max(0.0, wait),
        ttl_hours=deps.settings.idempotency_ttl_hours,
    )
    if isinstance(claimed, idempotency.Replay):
        return Keyed(claimed.body, None)
    call.stage = deps.unit_of_work()
    try:
        if call.budgeted:
            check_budget(deps, call.token_hash)
        answer = complete(deps, call, request)
        rendered = render(answer)
    except BaseException:
        idempotency.release(claimed)
        raise
    settings = deps.settings
    kept = idempotency.stage_answer(
        call.stage,
        claimed,
        status=RECORD_STATUS,
        body=rendered,
        max_document_bytes=settings.firestore_max_document_bytes,
        max_answer_bytes=settings.idempotency_max_answer_bytes,
        ttl_hours=settings.idempotency_ttl_hours,
    )
    try:
        call.stage.commit()
    except WriteConflict:  # our claim was taken over: charge without the record
        log.error("idempotency record of trace %s lost its claim", call.trace_id)
        if call.staged_cost:
            deps.tokens.charge(call.token_hash, call.staged_cost, via=deps.writes)
    if not kept:  # over idempotency_max_answer_bytes: answered and charged, not replayable
        log.warning(
            "answer of trace %s is over idempotency_max_answer_bytes (%d): not kept for replay",
            call.trace_id,
            settings.idempotency_max_answer_bytes,
        )
        idempotency.release(claimed)
    return Keyed(rendered, answer)

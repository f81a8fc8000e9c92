"""Push: rows from a production app become pending events of a PUSH dataset.

The path of one push, in round trips:

1. one batched read of the token and the leaderboard (with an ``Idempotency-Key``, also of
   the record an older deploy kept per leaderboard: ``_legacy_replay``; remove it once
   ``idempotency_ttl_hours`` have passed since then);
2. with an ``Idempotency-Key``, one ``create()`` of the idempotency record (the token's own:
   keys are per token);
3. one commit that reserves the rows in the daily and monthly windows (atomic increments; see
   ``shared.domain.quota``), plus one more only when some rows overshot and are given back;
4. one commit, atomic, of the pending batch(es), the totals, the trace and the idempotent
   answer. The answer is sent only after this commit: accepted rows are durable.

When pending rows reach the leaderboard's "consolidate every N events", a consolidation task is
enqueued under a name derived from the current dataset version, so concurrent pushes crossing
the threshold enqueue it once.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from shared.bootstrap import Deps
from shared.clock import utcnow
from shared.domain import quota
from shared.domain.rows import BodyShapeError, Row, RowRejection, extract_rows, normalise_rows
from shared.domain.tokens import Scope
from shared.errors import BadRequest, Conflict, PayloadTooLarge, Unavailable, ValidationFailed
from shared.services import idempotent
from shared.services.auth import Principal, authorize_leaderboard, principal_from, token_ref_hash
from shared.services.push_answer import PushReceipt, PushResult
from shared.storage import idempotency
from shared.storage.push_store import KeptAnswer, StoreFailed, pending_batches
from shared.storage.records import LeaderboardRecord
from shared.storage.unit_of_work import WriteConflict
from shared.tasks.messages import Consolidate, task_name
from shared.tasks.queue import ENQUEUE_ERRORS

log = logging.getLogger(__name__)

ANSWERED = 200  # the status of an accepted push, as its trace and its kept answer record it


@dataclass(frozen=True)
class PushRequest:
    principal: Principal
    leaderboard: LeaderboardRecord
    body: Any
    idempotency_key: str | None = None
    # The key's record from before keys were per token, read with the token (authorize_push).
    legacy_record: idempotency.Peeked | None = None


@dataclass(frozen=True)
class Authorized:
    principal: Principal
    leaderboard: LeaderboardRecord
    legacy_record: idempotency.Peeked | None = None


def authorize_push(
    deps: Deps, leaderboard_id: str, token: str | None, *, idempotency_key: str | None = None
) -> Authorized:
    """Who pushes, and to which PUSH leaderboard: one batched read of token and leaderboard
    (and of the key's pre-per-token record, which needs no token to find: no extra trip).

    Runs before the body is read, so an unauthenticated caller learns nothing from it."""
    reads = deps.push.read_for_push(
        token_ref_hash(token), leaderboard_id, legacy_key=idempotency_key
    )
    principal = principal_from(reads.token)
    scope = Scope.DATASET_PUSH if principal.kind == "dataset" else Scope.LEADERBOARDS_WRITE
    leaderboard = authorize_leaderboard(principal, leaderboard_id, reads.leaderboard, scope)
    if not leaderboard.is_push:
        raise Conflict(
            "this leaderboard reads a GET dataset; only PUSH datasets accept rows",
            code="not_a_push_dataset",
        )
    return Authorized(principal, leaderboard, reads.legacy_record)


def push(deps: Deps, request: PushRequest, *, started: float | None = None) -> PushResult:
    started = started if started is not None else time.perf_counter()
    principal, leaderboard = request.principal, request.leaderboard
    rows, rejections = _validate(deps, request.body)
    if request.idempotency_key is None:
        return _accept(deps, principal, leaderboard, rows, rejections, started=started)

    # Keys belong to the token that sent them (as inference's do): one app's token can
    # neither replay another's answers nor block its keys.
    ref = deps.push.idempotency_record(
        leaderboard.id, f"{principal.token_id}:{request.idempotency_key}"
    )
    body_hash = idempotent.request_hash(request.body)
    replayed = _legacy_replay(request.legacy_record, body_hash)
    if replayed is not None:
        return replayed
    settings = deps.settings
    while True:
        claim = idempotent.claim(
            ref,
            body_hash,
            lease_seconds=settings.idempotency_lease_seconds,
            wait_seconds=settings.idempotency_wait_seconds,
            ttl_hours=settings.idempotency_ttl_hours,
        )
        if isinstance(claim, idempotency.Replay):
            return PushResult(claim.body, replayed=True)
        try:
            return _accept(
                deps, principal, leaderboard, rows, rejections, started=started, owned=claim
            )
        except _OwnershipLost:
            continue  # another request took the key over; wait for its answer
        except BaseException:
            idempotency.release(claim)
            raise


def _legacy_replay(legacy: idempotency.Peeked | None, body_hash: str) -> PushResult | None:
    """The answer of a record written before keys were per token, if it is this request's.

    Those records (``sha256(key)`` per leaderboard) are no longer written; one that is done,
    unexpired and holds the same body still answers its retries, so a push retried across
    the deploy is not counted twice. Anything else there (another body, a claim in progress)
    is ignored: it cannot block the key. They expire within ``idempotency_ttl_hours``.
    """
    if legacy is None or legacy.request_hash != body_hash or legacy.replay is None:
        return None
    return PushResult(legacy.replay.body, replayed=True)


# -- steps ---------------------------------------------------------------------------------


def _validate(deps: Deps, body: Any) -> tuple[list[tuple[int, Row]], list[RowRejection]]:
    try:
        raw_rows = extract_rows(body)
    except BodyShapeError as exc:
        raise BadRequest(str(exc), code="invalid_body_shape") from exc
    limit = deps.settings.push_max_rows
    if len(raw_rows) > limit:
        raise PayloadTooLarge(
            f"{len(raw_rows)} rows in one push; send at most {limit} per request",
            code="too_many_rows",
            max_rows=limit,
        )
    if not raw_rows:
        raise ValidationFailed("the push holds no rows", code="no_rows")
    return normalise_rows(raw_rows, max_row_bytes=deps.settings.push_max_row_bytes)


class _OwnershipLost(Exception):
    """Our idempotency claim was taken over before our commit; nothing was written."""


def _accept(
    deps: Deps,
    principal: Principal,
    leaderboard: LeaderboardRecord,
    indexed_rows: list[tuple[int, Row]],
    rejections: list[RowRejection],
    *,
    started: float,
    owned: idempotency.Owned | None = None,
) -> PushResult:
    now = utcnow()
    rows = [row for _, row in indexed_rows]
    reservation = _reserve(deps, leaderboard, len(rows), now)
    kept, refused = indexed_rows[: reservation.fit], indexed_rows[reservation.fit :]
    receipt = PushReceipt(
        batch_id="b_" + uuid.uuid4().hex,
        leaderboard_id=leaderboard.id,
        accepted_ids=[row.id for _, row in kept],
        rejected=rejections,
        refused_indexes=[index for index, _ in refused],
        refusal=reservation.refusal,
        usage=reservation.usage,
    )
    error = receipt.error()
    if error is not None:
        # Nothing accepted: count what was turned away, answer the error, keep nothing.
        _commit(deps, principal, leaderboard, receipt, [], len(refused), started, None)
        raise error

    rows = [row for _, row in kept]
    try:
        totals = _commit(deps, principal, leaderboard, receipt, rows, len(refused), started, owned)
    except WriteConflict as exc:  # our idempotency record was taken over: nothing written
        reservation.give_back(deps, leaderboard.id)
        raise _OwnershipLost() from exc
    except StoreFailed as exc:
        reservation.give_back(deps, leaderboard.id)
        raise _store_failed() from exc

    # The answer was stored with the rows; anything learnt after the commit stays out of it,
    # so that a replay is byte-for-byte the first answer.
    _maybe_enqueue(deps, leaderboard, totals["pending"])
    return PushResult(receipt.to_json())


def _store_failed() -> Unavailable:
    return Unavailable("could not store the rows; nothing was kept, retry", code="store_failed")


@dataclass(frozen=True)
class _Reservation:
    fit: int
    refusal: quota.Refusal | None = None
    counters: tuple[str, ...] = ()  # window counter documents holding the reserved rows
    usage: dict[str, dict[str, Any]] = field(default_factory=dict)

    def give_back(self, deps: Deps, leaderboard_id: str) -> None:
        deps.push.give_back(leaderboard_id, {key: self.fit for key in self.counters})


def _reserve(
    deps: Deps, leaderboard: LeaderboardRecord, requested: int, now: datetime
) -> _Reservation:
    """Reserve ``requested`` rows in both windows; say how many fit and why not the rest."""
    config = leaderboard.dataset
    end_date = config.get("end_date")
    if end_date is not None and now >= end_date:
        message = f"this dataset stopped accepting rows at {end_date.astimezone(UTC).isoformat()}"
        return _Reservation(0, quota.Refusal("dataset_closed", message, requested))
    if requested == 0:
        return _Reservation(0)
    day, month = quota.day_key(now), quota.month_key(now)
    totals = deps.push.add_to_windows(leaderboard.id, {day: requested, month: requested})
    daily, monthly = config.get("daily_limit"), config.get("monthly_limit")
    fit_day = quota.fits(requested=requested, new_total=totals[day], limit=daily)
    fit_month = quota.fits(requested=requested, new_total=totals[month], limit=monthly)
    fit = min(fit_day, fit_month)
    overshoot = requested - fit
    deps.push.give_back(leaderboard.id, {day: overshoot, month: overshoot})
    usage = {
        "daily": quota.window_usage(totals[day] - overshoot, daily, quota.day_resets_at(now)),
        "monthly": quota.window_usage(
            totals[month] - overshoot, monthly, quota.month_resets_at(now)
        ),
    }
    refusal = None
    if overshoot:
        if fit_day <= fit_month:
            code, name, resets = "daily_limit_reached", "daily", quota.day_resets_at(now)
        else:
            code, name, resets = "monthly_limit_reached", "monthly", quota.month_resets_at(now)
        refusal = quota.Refusal(
            code,
            f"the {name} accepted-row limit of this dataset is reached; {overshoot} valid rows"
            f" were not accepted. The window resets at {resets.isoformat()}",
            overshoot,
            resets,
        )
    return _Reservation(fit, refusal, (day, month), usage)


def _commit(
    deps: Deps,
    principal: Principal,
    leaderboard: LeaderboardRecord,
    receipt: PushReceipt,
    rows: list[Row],
    refused: int,
    started: float,
    owned: idempotency.Owned | None,
) -> dict[str, int]:
    """One atomic commit: pending batches, totals, trace and (if keyed) the answer; with no
    rows, only the totals of what was turned away and the trace."""
    counts = {
        "accepted": len(rows),
        "rejected": len(receipt.rejected),
        "refused": refused,
        "pending": len(rows),
    }
    totals = {name: n for name, n in counts.items() if n}
    batches = pending_batches(rows, max_bytes=deps.settings.pending_batch_bytes) if rows else []
    trace = deps.traces.new(
        leaderboard.id,
        kind="push",
        workspace_id=leaderboard.workspace_id,
        token_id=principal.token_id,
        batch_id=receipt.batch_id,
        counts={k: v for k, v in counts.items() if k != "pending"},
        chunks=len(batches),  # the trace's field: how many pending batches
        duration_ms=round((time.perf_counter() - started) * 1000, 1),
        status=ANSWERED if rows else None,
        idempotent=owned is not None,
    )
    if not rows:
        deps.push.count_turned_away(leaderboard.id, totals=totals, trace=trace)
        return {}
    answer = KeptAnswer(owned, ANSWERED, receipt.to_json()) if owned is not None else None
    return deps.push.commit_push(
        leaderboard.id,
        batch_id=receipt.batch_id,
        batches=batches,
        token_id=principal.token_id,
        totals=totals,
        trace=trace,
        answer=answer,
    )


def _maybe_enqueue(deps: Deps, leaderboard: LeaderboardRecord, pending: int) -> bool:
    every = leaderboard.dataset.get("consolidate_every_events")
    if not every or pending < every:
        return False
    version = leaderboard.dataset_version.version if leaderboard.dataset_version else 0
    try:
        return deps.tasks.enqueue(
            Consolidate(leaderboard_id=leaderboard.id, reason="every_events"),
            name=task_name("consolidate", leaderboard.id, f"v{version}"),
        )
    except ENQUEUE_ERRORS:
        # The rows are stored; the scheduled job will consolidate them. Don't fail the push.
        log.warning("could not enqueue consolidation of %s", leaderboard.id, exc_info=True)
        return False

"""Firestore state of a PUSH dataset: window counters, totals and pending batches.

Layout under ``leaderboards/{id}``::

    counters/day-YYYYMMDD     {"n": rows accepted that UTC day}      } reserved with atomic
    counters/month-YYYYMM     {"n": rows accepted that UTC month}    } increments, never in a
    counters/totals           {"accepted", "rejected", "refused",    } transaction (see
                               "pending", "consolidated"}            } shared.domain.quota)
    pending/{batch_id}-{n}    one pending batch of an accepted push: zlib-compressed JSONL rows, row
                              count, server commit time, consolidated flag and version

A push costs two commits whatever its size: one reserves quota (two increments), the other
writes the pending batches, totals, trace and idempotent answer atomically
(:meth:`PushStore.commit_push`). A 100-row batch is one pending document, so the whole push is
a handful of writes. A consolidation round moves its rows from "pending" to "consolidated" in
one commit with the new version pointer, fenced by the consolidation lease
(:meth:`PushStore.commit_round`).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud import firestore

from shared.domain.jsonl import dumps_line, iter_lines
from shared.domain.rows import Row
from shared.storage import idempotency, leases
from shared.storage.accounts import TOKENS, TokenRepo
from shared.storage.ids import is_storable_id
from shared.storage.leaderboards import LeaderboardRepo
from shared.storage.records import LeaderboardRecord, TokenRecord
from shared.storage.unit_of_work import UnitOfWork

LEADERBOARDS = "leaderboards"
COUNTERS = "counters"
PENDING = "pending"
TOTALS = "totals"
TOTAL_FIELDS = ("accepted", "consolidated", "pending", "refused", "rejected")

Trace = tuple[firestore.DocumentReference, dict[str, Any]]  # what ``TraceRepo.new`` answers


class StoreFailed(Exception):
    """A push's commit failed (other than by losing its idempotency record): nothing was kept."""


@dataclass(frozen=True)
class PushReads:
    """What a push reads before its body: the token, the leaderboard and, with a key, the
    key's record from before keys were per token."""

    token: TokenRecord | None
    leaderboard: LeaderboardRecord | None
    legacy_record: idempotency.Peeked | None = None


@dataclass(frozen=True)
class KeptAnswer:
    """The answer stored with a keyed push's rows, in the commit that keeps them."""

    owned: idempotency.Owned
    status: int
    body: dict[str, Any]


@dataclass(frozen=True)
class PendingBatch:
    ref: firestore.DocumentReference
    count: int
    created_at: datetime | None


def encode_rows(rows: Iterable[Row]) -> bytes:
    return zlib.compress(b"".join(dumps_line(row.to_json()) for row in rows), level=6)


def decode_rows(blob: bytes) -> list[Row]:
    return [Row.from_json(data) for data in iter_lines(zlib.decompress(blob).splitlines())]


def pending_batches(rows: list[Row], *, max_bytes: int) -> list[list[Row]]:
    """Split rows into pending batches, each under ``max_bytes`` of uncompressed JSONL."""
    batches: list[list[Row]] = []
    current: list[Row] = []
    size = 0
    for row in rows:
        row_size = len(dumps_line(row.to_json()))
        if current and size + row_size > max_bytes:
            batches.append(current)
            current, size = [], 0
        current.append(row)
        size += row_size
    if current:
        batches.append(current)
    return batches


class PushStore:
    def __init__(self, db: firestore.Client) -> None:
        self._db = db

    def leaderboard_ref(self, leaderboard_id: str) -> firestore.DocumentReference:
        return self._db.collection(LEADERBOARDS).document(leaderboard_id)

    def counter_ref(self, leaderboard_id: str, key: str) -> firestore.DocumentReference:
        return self.leaderboard_ref(leaderboard_id).collection(COUNTERS).document(key)

    def pending_ref(self, leaderboard_id: str, doc_id: str) -> firestore.DocumentReference:
        return self.leaderboard_ref(leaderboard_id).collection(PENDING).document(doc_id)

    # -- quota -------------------------------------------------------------------------------

    def add_to_windows(self, leaderboard_id: str, amounts: dict[str, int]) -> dict[str, int]:
        """Atomically add to window counters; answer each counter's new total."""
        work = UnitOfWork(self._db)
        writes = {
            key: work.increment(self.counter_ref(leaderboard_id, key), {"n": n})
            for key, n in amounts.items()
        }
        committed = work.commit()
        return {key: committed.totals(index)["n"] for key, index in writes.items()}

    def give_back(self, leaderboard_id: str, amounts: dict[str, int]) -> None:
        amounts = {key: n for key, n in amounts.items() if n > 0}
        if amounts:
            self.add_to_windows(leaderboard_id, {key: -n for key, n in amounts.items()})

    def read_counters(self, leaderboard_id: str, keys: list[str]) -> dict[str, dict[str, Any]]:
        refs = [self.counter_ref(leaderboard_id, key) for key in keys]
        found = {snap.id: snap.to_dict() or {} for snap in self._db.get_all(refs) if snap.exists}
        return {key: found.get(key, {}) for key in keys}

    # -- one push ----------------------------------------------------------------------------

    def read_for_push(
        self, token_hash: str, leaderboard_id: str, *, legacy_key: str | None = None
    ) -> PushReads:
        """One batched read of the token, the leaderboard (when its id can name one) and,
        with ``legacy_key``, the key's record from before keys were per token."""
        token_ref = self._db.collection(TOKENS).document(token_hash)
        board_ref = self.leaderboard_ref(leaderboard_id) if is_storable_id(leaderboard_id) else None
        legacy_ref = (
            idempotency.record_ref(self._db, leaderboard_id, legacy_key)
            if board_ref is not None and legacy_key
            else None
        )
        refs = [ref for ref in (token_ref, board_ref, legacy_ref) if ref is not None]
        snaps = {snap.reference.path: snap for snap in self._db.get_all(refs)}
        return PushReads(
            token=TokenRepo.from_snapshot(snaps[token_ref.path]),
            leaderboard=LeaderboardRepo.from_snapshot(snaps[board_ref.path]) if board_ref else None,
            legacy_record=idempotency.peeked(snaps[legacy_ref.path]) if legacy_ref else None,
        )

    def idempotency_record(self, leaderboard_id: str, key: str) -> firestore.DocumentReference:
        """Where the answer to ``key`` is kept (``shared.storage.idempotency``)."""
        return idempotency.record_ref(self._db, leaderboard_id, key)

    def commit_push(
        self,
        leaderboard_id: str,
        *,
        batch_id: str,
        batches: list[list[Row]],
        token_id: str | None,
        totals: dict[str, int],
        trace: Trace,
        answer: KeptAnswer | None = None,
    ) -> dict[str, int]:
        """One atomic commit: the pending batches, the totals, the trace and (if keyed) the answer.

        Answers the new totals of the fields in ``totals``. Raises ``WriteConflict`` when the
        idempotency record was taken over (nothing written), :class:`StoreFailed` when the
        commit failed otherwise.
        """
        work = UnitOfWork(self._db)
        for n, rows in enumerate(batches):
            work.create(
                self.pending_ref(leaderboard_id, f"{batch_id}-{n:03d}"),
                {
                    "batch_id": batch_id,
                    "chunk": n,
                    "count": len(rows),
                    "rows": encode_rows(rows),
                    "token_id": token_id,
                    "consolidated": False,
                    "version": None,
                    "created_at": firestore.SERVER_TIMESTAMP,
                },
            )
        totals_write = self._stage_totals(work, leaderboard_id, totals, trace)
        if answer is not None:
            idempotency.stage_answer(work, answer.owned, status=answer.status, body=answer.body)
        try:
            committed = work.commit()
        except gexc.GoogleAPICallError as exc:
            raise StoreFailed(str(exc)) from exc
        return committed.totals(totals_write)

    def count_turned_away(
        self, leaderboard_id: str, *, totals: dict[str, int], trace: Trace
    ) -> None:
        """The totals and trace of a push that kept nothing, in one commit (a failure is the
        storage's own error: there is nothing to give back)."""
        work = UnitOfWork(self._db)
        self._stage_totals(work, leaderboard_id, totals, trace)
        work.commit()

    def _stage_totals(
        self, work: UnitOfWork, leaderboard_id: str, totals: dict[str, int], trace: Trace
    ) -> int:
        assert set(totals) <= set(TOTAL_FIELDS)
        index = work.increment(self.counter_ref(leaderboard_id, TOTALS), dict(totals))
        work.create(*trace)
        return index

    # -- consolidation reads -----------------------------------------------------------------

    def oldest_pending(self, leaderboard_id: str, *, limit: int) -> list[PendingBatch]:
        """The oldest unconsolidated pending batches (ids and counts only, not their rows)."""
        query = (
            self.leaderboard_ref(leaderboard_id)
            .collection(PENDING)
            .where(filter=firestore.FieldFilter("consolidated", "==", False))
            .order_by("created_at")
            .order_by("__name__")
            .select(["count", "created_at"])
            .limit(limit)
        )
        return [
            PendingBatch(
                ref=snap.reference, count=int(snap.get("count")), created_at=snap.get("created_at")
            )
            for snap in query.stream()
        ]

    def read_pending_newest_first(
        self, batches: list[PendingBatch], *, fetch_size: int = 20
    ) -> Iterator[Row]:
        """Rows of ``batches`` (given oldest first), newest row first, a few documents at a time."""
        newest_first = list(reversed(batches))
        for start in range(0, len(newest_first), fetch_size):
            refs = [batch.ref for batch in newest_first[start : start + fetch_size]]
            by_path = {snap.reference.path: snap for snap in self._db.get_all(refs)}
            for ref in refs:
                snap = by_path.get(ref.path)
                if snap is None or not snap.exists:
                    continue
                yield from reversed(decode_rows(snap.get("rows")))

    def pending_counts(self, leaderboard_id: str) -> dict[str, int]:
        """Exact pending and consolidated row counts by aggregation (a check on the totals)."""
        collection = self.leaderboard_ref(leaderboard_id).collection(PENDING)
        out: dict[str, int] = {}
        for name, flag in (("pending", False), ("consolidated", True)):
            query = collection.where(filter=firestore.FieldFilter("consolidated", "==", flag))
            result = query.sum("count").get()
            out[name] = int(result[0][0].value or 0)
        return out

    # -- consolidation ---------------------------------------------------------------------------

    def take_consolidation_lease(
        self, leaderboard_id: str, *, holder: str, ttl_seconds: float
    ) -> leases.Lease | None:
        """The leaderboard's consolidation lease, or None while another consolidation holds it."""
        ref = self.leaderboard_ref(leaderboard_id).collection("locks").document("consolidation")
        return leases.acquire(ref, holder=holder, ttl_seconds=ttl_seconds)

    def commit_round(
        self,
        leaderboard_id: str,
        *,
        lease: leases.Lease,
        ttl_seconds: float,
        leaderboard_fields: dict[str, Any],
        batches: list[PendingBatch],
        version: int,
        trace: Trace,
    ) -> None:
        """One consolidation round, atomic: lease fence, the leaderboard's ``leaderboard_fields``
        (its version pointer), "consolidated" on every pending batch, the totals moved, the trace.

        Raises :class:`WriteConflict` (nothing changed) when the lease was lost; on success the
        lease holds its new fencing token.
        """
        events = sum(batch.count for batch in batches)
        work = UnitOfWork(self._db)
        fence = lease.fence(work, ttl_seconds=ttl_seconds)
        work.update(self.leaderboard_ref(leaderboard_id), leaderboard_fields)
        for batch in batches:
            work.update(batch.ref, {"consolidated": True, "version": version})
        work.increment(
            self.counter_ref(leaderboard_id, TOTALS), {"pending": -events, "consolidated": events}
        )
        work.create(*trace)
        committed = work.commit()
        lease.update_time = committed.update_time(fence)

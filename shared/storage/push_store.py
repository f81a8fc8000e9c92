"""Firestore state of a PUSH dataset: window counters, totals and pending batches.

Layout under ``leaderboards/{id}``::

    counters/day-YYYYMMDD     {"n": rows accepted that UTC day}      } reserved with atomic
    counters/month-YYYYMM     {"n": rows accepted that UTC month}    } increments, never in a
    counters/totals           {"accepted", "rejected", "refused",    } transaction (see
                               "pending", "consolidated"}            } shared.domain.quota)
    pending/{batch_id}-{n}    one chunk of an accepted batch: zlib-compressed JSONL rows, row
                              count, server commit time, consolidated flag and version

A push costs two commits whatever its size: one reserves quota (two increments), the other
writes the pending chunks, totals, trace and idempotent answer atomically. A 100-row batch is
one pending document, so the whole push is a handful of writes.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from google.cloud import firestore

from shared.domain.jsonl import dumps_line, iter_lines
from shared.domain.rows import Row

LEADERBOARDS = "leaderboards"
COUNTERS = "counters"
PENDING = "pending"
TOTALS = "totals"
TOTAL_FIELDS = ("accepted", "consolidated", "pending", "refused", "rejected")


@dataclass(frozen=True)
class PendingChunk:
    ref: firestore.DocumentReference
    count: int
    created_at: datetime | None


def encode_rows(rows: Iterable[Row]) -> bytes:
    return zlib.compress(b"".join(dumps_line(row.to_json()) for row in rows), level=6)


def decode_rows(blob: bytes) -> list[Row]:
    return [Row.from_json(data) for data in iter_lines(zlib.decompress(blob).splitlines())]


def chunk_rows(rows: list[Row], *, max_bytes: int) -> list[list[Row]]:
    """Split rows so that each chunk's uncompressed JSONL stays under ``max_bytes``."""
    chunks: list[list[Row]] = []
    current: list[Row] = []
    size = 0
    for row in rows:
        row_size = len(dumps_line(row.to_json()))
        if current and size + row_size > max_bytes:
            chunks.append(current)
            current, size = [], 0
        current.append(row)
        size += row_size
    if current:
        chunks.append(current)
    return chunks


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
        batch = self._db.batch()
        keys = list(amounts)
        for key in keys:
            batch.set(
                self.counter_ref(leaderboard_id, key),
                {"n": firestore.Increment(amounts[key])},
                merge=True,
            )
        results = batch.commit()
        return {
            key: int(result.transform_results[0].integer_value)
            for key, result in zip(keys, results, strict=True)
        }

    def give_back(self, leaderboard_id: str, amounts: dict[str, int]) -> None:
        amounts = {key: n for key, n in amounts.items() if n > 0}
        if amounts:
            self.add_to_windows(leaderboard_id, {key: -n for key, n in amounts.items()})

    def read_counters(self, leaderboard_id: str, keys: list[str]) -> dict[str, dict[str, Any]]:
        refs = [self.counter_ref(leaderboard_id, key) for key in keys]
        found = {snap.id: snap.to_dict() or {} for snap in self._db.get_all(refs) if snap.exists}
        return {key: found.get(key, {}) for key in keys}

    # -- accepted batches ----------------------------------------------------------------------

    def stage_batch(
        self,
        batch: firestore.WriteBatch,
        leaderboard_id: str,
        *,
        batch_id: str,
        chunks: list[list[Row]],
        token_id: str | None,
        totals: dict[str, int],
    ) -> int:
        """Add the pending chunks and the totals increment to ``batch``.

        Answers the index, within the batch's write results, of the totals write, whose
        transform results carry the new totals in field-name order.
        """
        for n, rows in enumerate(chunks):
            batch.create(
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
        batch.set(
            self.counter_ref(leaderboard_id, TOTALS),
            {field: firestore.Increment(n) for field, n in sorted(totals.items())},
            merge=True,
        )
        return len(chunks)

    @staticmethod
    def totals_from_result(result: Any, fields: Iterable[str]) -> dict[str, int]:
        names = sorted(fields)
        return {
            name: int(value.integer_value)
            for name, value in zip(names, result.transform_results, strict=True)
        }

    # -- consolidation reads -----------------------------------------------------------------

    def oldest_pending(self, leaderboard_id: str, *, limit: int) -> list[PendingChunk]:
        """The oldest unconsolidated chunks (ids and counts only, not their rows)."""
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
            PendingChunk(
                ref=snap.reference, count=int(snap.get("count")), created_at=snap.get("created_at")
            )
            for snap in query.stream()
        ]

    def read_chunks_newest_first(
        self, chunks: list[PendingChunk], *, fetch_size: int = 20
    ) -> Iterator[Row]:
        """Rows of ``chunks`` (given oldest first), newest row first, a few documents at a time."""
        newest_first = list(reversed(chunks))
        for start in range(0, len(newest_first), fetch_size):
            refs = [chunk.ref for chunk in newest_first[start : start + fetch_size]]
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

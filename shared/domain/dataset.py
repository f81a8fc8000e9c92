"""The consolidation merge: pending rows + the previous dataset version → the next version.

A dataset version is a JSONL file of rows stored **newest first**. The next version is built from
two streams, both newest first:

1. the pending rows, offered with :meth:`DatasetMerge.offer_pending`, then
2. the previous version's rows, offered one by one with :meth:`DatasetMerge.offer_previous`.

The newest row of each id wins, and with a cap only the newest ``cap`` ids are kept. The output
file is :meth:`DatasetMerge.pending_rows` followed by every previous row that ``offer_previous``
returned, in order, which is again newest first. Memory holds the kept pending rows and the ids of
the kept previous rows, never a previous row itself and never a pending row that loses, so it is
O(rows kept) however many rows stream past. Once :attr:`DatasetMerge.full` is true, nothing more
can be kept and the caller may stop reading.

**Ordering contract.** Pushes store their rows oldest → newest by index within a pending batch,
and batches are created oldest → newest in time. The caller turns that into one newest-first
stream: batches newest first, and within each batch the rows from the last index to the first
(:func:`newest_first` does the inner part). The batch order must be total and stable, e.g. by
(created time, batch id), so that a repeated consolidation yields the same dataset.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from shared.domain.rows import Row


class DatasetMerge:
    """Streaming newest-wins merge with an optional size cap; see the module docstring."""

    def __init__(self, *, cap: int | None) -> None:
        if cap is not None and cap < 0:
            raise ValueError(f"cap must be None or ≥ 0, got {cap}")
        self._cap = cap
        self._pending: dict[str, Row] = {}  # insertion order is newest first
        self._previous_ids: set[str] = set()
        self._previous_started = False

    @property
    def kept_count(self) -> int:
        """Rows the new version has so far: kept pending rows plus previous rows returned."""
        return len(self._pending) + len(self._previous_ids)

    @property
    def full(self) -> bool:
        """True when the cap is reached; every further row would be ignored."""
        return self._cap is not None and self.kept_count >= self._cap

    def offer_pending(self, row: Row) -> None:
        """Offer the next pending row, newest first. Older rows of a kept id are ignored, and so
        are new ids once the cap is reached (they are older than every kept row)."""
        if self._previous_started:
            raise RuntimeError("offer every pending row before the first previous row")
        if row.id not in self._pending and not self.full:
            self._pending[row.id] = row

    def offer_previous(self, row: Row) -> Row | None:
        """Offer the next row of the previous version, in its stored order (newest first).

        Returns the row when it belongs in the new version (write it next), None when a newer row
        of its id is already kept or the cap is reached. Only the id is remembered.
        """
        self._previous_started = True
        if row.id in self._pending or row.id in self._previous_ids or self.full:
            return None
        self._previous_ids.add(row.id)
        return row

    def pending_row(self, row_id: str) -> Row | None:
        """The kept pending row of ``row_id``, if any (to tell a changed row from a re-push)."""
        return self._pending.get(row_id)

    def pending_rows(self) -> list[Row]:
        """The kept pending rows, newest first: the head of the new version."""
        return list(self._pending.values())


def newest_first(batch_rows: Sequence[Row]) -> Iterator[Row]:
    """One pending batch's rows (stored oldest → newest by index) in newest-first order."""
    return reversed(batch_rows)


def merge(
    pending_newest_first: Iterable[Row],
    previous_newest_first: Iterable[Row],
    *,
    cap: int | None,
) -> list[Row]:
    """The whole new version in memory, newest first; for tests and small datasets.

    Stops reading ``previous_newest_first`` as soon as the cap is reached.
    """
    merger = DatasetMerge(cap=cap)
    for row in pending_newest_first:
        merger.offer_pending(row)
    rows = merger.pending_rows()
    if merger.full:
        return rows
    for row in previous_newest_first:
        kept = merger.offer_previous(row)
        if kept is not None:
            rows.append(kept)
            if merger.full:
                break
    return rows

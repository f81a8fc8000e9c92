"""One atomic commit of several writes (a Firestore batch), for the repositories.

A repository stages the writes of one piece of work (a push's pending batches, totals, trace and
idempotent answer; a consolidation round; a review) and commits them together: all land or
none. A write conditioned on a document's ``update_time`` (``if_unchanged_since``: a fenced
lease, a claimed idempotency record, a review) fails the whole commit when the document changed
since; the commit then raises :class:`WriteConflict`, our own exception, so that the caller
decides what a lost race means without catching a Google type. Any other store error (an
aborted commit, an unavailable service) is raised as the client raised it: ``shared/web`` maps
those to 503 or drops the task.

Each staging method answers the index of its write; :class:`Committed` answers, by that index,
the write's update time and (for :meth:`UnitOfWork.increment`) the new values of its fields.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud import firestore


class WriteConflict(Exception):
    """A conditioned write found its document changed since (another writer got there first):
    nothing of the commit was written."""


class Committed:
    """What a commit answered, by the index each staging method returned."""

    def __init__(self, results: list[Any], increments: dict[int, list[str]]) -> None:
        self._results = results
        self._increments = increments

    def update_time(self, index: int) -> datetime:
        return self._results[index].update_time  # type: ignore[no-any-return]

    def totals(self, index: int) -> dict[str, int]:
        """The new values of the fields that :meth:`UnitOfWork.increment` ``index`` added to."""
        transforms = self._results[index].transform_results
        return {
            name: int(value.integer_value)
            for name, value in zip(self._increments[index], transforms, strict=True)
        }


class UnitOfWork:
    def __init__(self, db: firestore.Client) -> None:
        self._db = db
        self._batch = db.batch()
        self._count = 0
        self._increments: dict[int, list[str]] = {}

    def _staged(self) -> int:
        self._count += 1
        return self._count - 1

    def create(self, ref: firestore.DocumentReference, data: dict[str, Any]) -> int:
        self._batch.create(ref, data)
        return self._staged()

    def set(
        self, ref: firestore.DocumentReference, data: dict[str, Any], merge: bool = False
    ) -> int:
        self._batch.set(ref, data, merge=merge)
        return self._staged()

    def update(
        self,
        ref: firestore.DocumentReference,
        fields: dict[str, Any],
        *,
        if_unchanged_since: datetime | None = None,
    ) -> int:
        option = (
            self._db.write_option(last_update_time=if_unchanged_since)
            if if_unchanged_since is not None
            else None
        )
        self._batch.update(ref, fields, option=option)
        return self._staged()

    def increment(self, ref: firestore.DocumentReference, field_values: dict[str, float]) -> int:
        """Add to numeric fields (creating the document if needed); :meth:`Committed.totals`
        answers their new values."""
        names = sorted(field_values)
        self._batch.set(
            ref, {name: firestore.Increment(field_values[name]) for name in names}, merge=True
        )
        index = self._staged()
        self._increments[index] = names
        return index

    def delete(
        self, ref: firestore.DocumentReference, *, if_unchanged_since: datetime | None = None
    ) -> int:
        option = (
            self._db.write_option(last_update_time=if_unchanged_since)
            if if_unchanged_since is not None
            else None
        )
        self._batch.delete(ref, option=option)
        return self._staged()

    def commit(self) -> Committed:
        try:
            results = self._batch.commit()
        except gexc.FailedPrecondition as exc:
            raise WriteConflict(str(exc)) from exc
        return Committed(list(results), self._increments)

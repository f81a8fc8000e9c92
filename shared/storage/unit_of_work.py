"""One atomic commit of several writes, for services that must not speak Firestore.

A service stages writes (through repositories that know the documents) into a
:class:`UnitOfWork` and commits them together: all land, or none does. A conditional write
(``update``/``delete`` with ``if_unchanged_since``, a fenced lease, a claimed idempotency
record) that finds its document changed makes :meth:`UnitOfWork.commit` raise
:class:`WriteConflict`, our own exception, so that the caller decides what a lost race means
without catching a Google type. Any other store error is raised as the client raised it
(``shared/web`` maps those to 503 or drops the task).

``batch`` is the underlying write batch, for repositories that stage their own writes into it;
services use the methods.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from google.api_core import exceptions as gexc
from google.cloud import firestore


class WriteConflict(Exception):
    """A precondition of the commit failed (another writer got there first): nothing was written."""


class Increments(Protocol):
    """Somewhere an increment can be staged: a :class:`UnitOfWork`, or the write-behind queue."""

    def increment(self, ref: Any, field_name: str, amount: float) -> None: ...


class UnitOfWork:
    """Writes staged now, committed together by :meth:`commit`."""

    def __init__(self, db: firestore.Client) -> None:
        self._db = db
        self.batch = db.batch()

    def create(self, ref: Any, data: dict[str, Any]) -> None:
        """Create the document; the commit fails if it exists."""
        self.batch.create(ref, data)

    def set(self, ref: Any, data: dict[str, Any], *, merge: bool = False) -> None:
        self.batch.set(ref, data, merge=merge)

    def update(
        self, ref: Any, fields: dict[str, Any], *, if_unchanged_since: datetime | None = None
    ) -> None:
        """Update the existing document, only if unchanged since then when a time is given."""
        self.batch.update(ref, fields, option=self._option(if_unchanged_since))

    def increment(self, ref: Any, field_name: str, amount: float) -> None:
        """Add ``amount`` to ``field_name`` of the existing document, atomically."""
        self.batch.update(ref, {field_name: firestore.Increment(amount)})

    def delete(self, ref: Any, *, if_unchanged_since: datetime | None = None) -> None:
        self.batch.delete(ref, option=self._option(if_unchanged_since))

    def commit(self) -> list[Any]:
        """Commit every staged write; their results, in order (``update_time`` and transforms).

        :class:`WriteConflict` when a precondition failed (then nothing was written).
        """
        try:
            return list(self.batch.commit())
        except gexc.FailedPrecondition as exc:
            raise WriteConflict(str(exc)) from exc

    def _option(self, since: datetime | None) -> Any:
        return None if since is None else self._db.write_option(last_update_time=since)

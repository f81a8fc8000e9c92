"""Firestore repository of leaderboards (``leaderboards/{id}``).

The leaderboard document is read on every push, so it is written rarely: configuration changes
and the dataset-version pointer that consolidation flips. Counters and pending rows live in
its subcollections (see ``push_store``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud import firestore

from shared.storage.ids import is_storable_id
from shared.storage.pagination import fetch_page
from shared.storage.records import LeaderboardRecord

LEADERBOARDS = "leaderboards"
# A write of another document, made in the same commit as a leaderboard change.
BatchWrite = Callable[[firestore.WriteBatch], None]


class LeaderboardChanged(Exception):
    """The leaderboard document was written between the read and the commit: read again."""


@dataclass
class Change:
    """The leaderboard fields to update and the other writes that go with them, atomically."""

    fields: dict[str, Any]
    writes: list[BatchWrite] = field(default_factory=list)


class LeaderboardRepo:
    def __init__(self, db: firestore.Client) -> None:
        self._db = db

    def ref(self, leaderboard_id: str) -> firestore.DocumentReference:
        return self._db.collection(LEADERBOARDS).document(leaderboard_id)

    def create(self, record: LeaderboardRecord) -> None:
        self.ref(record.id).create(record.model_dump())

    @staticmethod
    def from_snapshot(snap: firestore.DocumentSnapshot) -> LeaderboardRecord | None:
        if not snap.exists:
            return None
        return LeaderboardRecord.model_validate(
            (snap.to_dict() or {}) | {"revision": snap.update_time}
        )

    def get(self, leaderboard_id: str) -> LeaderboardRecord | None:
        if not is_storable_id(leaderboard_id):
            return None
        return self.from_snapshot(self.ref(leaderboard_id).get())

    def list_page(
        self, *, workspace_id: str, limit: int, cursor: str | None
    ) -> tuple[list[LeaderboardRecord], str | None]:
        query = self._db.collection(LEADERBOARDS).where(
            filter=firestore.FieldFilter("workspace_id", "==", workspace_id)
        )
        page = fetch_page(query, limit=limit, cursor=cursor)
        return [LeaderboardRecord.model_validate(item) for item in page.items], page.next_cursor

    def due_for_consolidation(
        self, now: datetime, *, limit: int = 500
    ) -> list[tuple[str, datetime]]:
        """PUSH leaderboards whose "consolidate every N hours" deadline has passed."""
        query = (
            self._db.collection(LEADERBOARDS)
            .where(filter=firestore.FieldFilter("consolidation_due_at", "<=", now))
            .select(["consolidation_due_at"])
            .limit(limit)
        )
        return [(snap.id, snap.get("consolidation_due_at")) for snap in query.stream()]

    def update(self, leaderboard_id: str, fields: dict[str, Any]) -> None:
        self.ref(leaderboard_id).update(fields)

    def commit_if_unchanged(self, record: LeaderboardRecord, change: Change) -> None:
        """Commit ``change`` only if the document is still as ``record`` was read.

        Raises :class:`LeaderboardChanged` when anything wrote it in between (a run that
        started, another change): the caller reads again and decides again.
        """
        if record.revision is None:
            raise LeaderboardChanged(record.id)  # not read from the store: read it
        batch = self._db.batch()
        unchanged = self._db.write_option(last_update_time=record.revision)
        batch.update(self.ref(record.id), change.fields, option=unchanged)
        for write in change.writes:
            write(batch)
        try:
            batch.commit()
        except gexc.FailedPrecondition as exc:
            raise LeaderboardChanged(record.id) from exc

    def delete_everything(self, leaderboard_id: str) -> None:
        """The leaderboard, all its subcollections, and its dataset tokens."""
        tokens = self._db.collection("tokens").where(
            filter=firestore.FieldFilter("leaderboard_id", "==", leaderboard_id)
        )
        for snap in tokens.stream():
            snap.reference.delete()
        self._db.recursive_delete(self.ref(leaderboard_id))

    def due_for_runs(self, now: datetime, *, limit: int = 500) -> list[tuple[str, datetime]]:
        """Leaderboards whose schedule says a run is due."""
        query = (
            self._db.collection(LEADERBOARDS)
            .where(filter=firestore.FieldFilter("next_run_at", "<=", now))
            .select(["next_run_at"])
            .limit(limit)
        )
        return [(snap.id, snap.get("next_run_at")) for snap in query.stream()]

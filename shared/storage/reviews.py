"""Firestore state of human reviews: ``leaderboards/{id}/runs/{run_id}/reviews/{model}-{row}``.

The items are created when a human-evaluated run finishes its model calls
(``RunRepo.add_review_items``); here they are listed, reviewed and read back for the ranking. A
review replaces the item's fields conditioned on the item's ``update_time`` (two reviewers at
the same moment: one wins, the other is told) and, the first time an item is reviewed, counts
it in the run's ``reviews_done`` in the same commit.
"""

from __future__ import annotations

from typing import Any

from google.cloud import firestore

from shared.storage.leaderboards import LEADERBOARDS
from shared.storage.pagination import Page, fetch_page
from shared.storage.unit_of_work import UnitOfWork


class ReviewRepo:
    def __init__(self, db: firestore.Client) -> None:
        self._db = db

    def _run(self, leaderboard_id: str, run_id: str) -> firestore.DocumentReference:
        return (
            self._db.collection(LEADERBOARDS)
            .document(leaderboard_id)
            .collection("runs")
            .document(run_id)
        )

    def _items(self, leaderboard_id: str, run_id: str) -> firestore.CollectionReference:
        return self._run(leaderboard_id, run_id).collection("reviews")

    def list_page(
        self,
        leaderboard_id: str,
        run_id: str,
        *,
        status: str | None,
        limit: int,
        cursor: str | None,
    ) -> Page:
        """One page of the run's items, all or those ``pending`` / ``reviewed``."""
        query: Any = self._items(leaderboard_id, run_id)
        if status is not None:
            query = query.where(filter=firestore.FieldFilter("status", "==", status))
        return fetch_page(query, limit=limit, cursor=cursor)

    def submit(
        self, leaderboard_id: str, run_id: str, item_id: str, fields: dict[str, Any]
    ) -> dict[str, Any] | None:
        """Review the item with ``fields``; answer the item as it now stands, or None when there
        is no such item. Raises ``WriteConflict`` when it was reviewed at the same moment."""
        ref = self._items(leaderboard_id, run_id).document(item_id)
        snap = ref.get()
        if not snap.exists:
            return None
        work = UnitOfWork(self._db)
        work.update(ref, fields, if_unchanged_since=snap.update_time)
        if snap.get("status") == "pending":  # its first review
            work.update(self._run(leaderboard_id, run_id), {"reviews_done": firestore.Increment(1)})
        work.commit()
        return (snap.to_dict() or {}) | fields

    def scores(self, leaderboard_id: str, run_id: str) -> list[dict[str, Any]]:
        """``model_id``, ``row_id`` and ``score`` of every reviewed item."""
        query = (
            self._items(leaderboard_id, run_id)
            .where(filter=firestore.FieldFilter("status", "==", "reviewed"))
            .select(["model_id", "row_id", "score"])
        )
        return [snap.to_dict() or {} for snap in query.stream()]

"""Firestore repository of candidate models.

``leaderboards/{id}/models/{model_id}``: a candidate model attached to a leaderboard, its
endpoint config without secrets (a token is referenced by ``secret_ref``, stored encrypted in
the workspace's secrets), how it was added and why, published and measured performance
(:class:`~shared.storage.records.CandidateModel`; documents become records here and only here).
Adding and removing one are writes committed with a change of the leaderboard document
(``services.run_guard``): never while a run is active, never half-seen by a run starting.
"""

from __future__ import annotations

from typing import Any

from google.cloud import firestore

from shared.domain.entities import CandidateModel
from shared.storage.ids import is_storable_id
from shared.storage.leaderboards import BatchWrite


class CandidateRepo:
    def __init__(self, db: firestore.Client) -> None:
        self._db = db

    def _collection(self, leaderboard_id: str) -> firestore.CollectionReference:
        return self._db.collection("leaderboards").document(leaderboard_id).collection("models")

    def add(self, leaderboard_id: str, candidate: CandidateModel) -> BatchWrite:
        """The write that adds ``candidate`` (fails the commit if its id exists)."""
        ref = self._collection(leaderboard_id).document(candidate.id)
        document = candidate_document(candidate)
        return lambda batch: batch.create(ref, document)

    def find(self, leaderboard_id: str, model_id: str) -> CandidateModel | None:
        found = self.get(leaderboard_id, model_id)
        return CandidateModel.model_validate(found) if found is not None else None

    def find_all(self, leaderboard_id: str) -> list[CandidateModel]:
        """The leaderboard's candidates, oldest first."""
        return [CandidateModel.model_validate(found) for found in self.all(leaderboard_id)]

    # The stored documents as they are (tests inspect them); services use the records above.
    def get(self, leaderboard_id: str, model_id: str) -> dict[str, Any] | None:
        if not is_storable_id(model_id):
            return None
        snap = self._collection(leaderboard_id).document(model_id).get()
        return snap.to_dict() if snap.exists else None

    def all(self, leaderboard_id: str) -> list[dict[str, Any]]:
        query = self._collection(leaderboard_id).order_by("added_at")
        return [snap.to_dict() or {} for snap in query.stream()]

    def delete(self, leaderboard_id: str, model_id: str) -> BatchWrite:
        """The write that removes a candidate."""
        ref = self._collection(leaderboard_id).document(model_id)
        return lambda batch: batch.delete(ref)

    def update(self, leaderboard_id: str, model_id: str, fields: dict[str, Any]) -> None:
        self._collection(leaderboard_id).document(model_id).update(fields)


def candidate_document(candidate: CandidateModel) -> dict[str, Any]:
    """The stored form of ``candidate``: ``measured`` only once a run measured it."""
    return candidate.model_dump(exclude={"measured"} if candidate.measured is None else None)

"""Firestore repositories of candidate models and Dr.Gero workspace models.

``leaderboards/{id}/models/{model_id}``: a candidate model attached to a leaderboard, its
endpoint config without secrets (a token is referenced by ``secret_ref``, stored encrypted in
the workspace's secrets), how it was added and why, published and measured performance.
Adding and removing one are writes committed with a change of the leaderboard document
(``services.run_guard``): never while a run is active, never half-seen by a run starting.
``workspaces/{id}/models/{model_id}``: Dr.Gero models, assignable to any leaderboard.
``workspaces/{id}/model_stats/{key}``: latencies we measured in runs, by endpoint key, which
auto-select prefers over published figures.
"""

from __future__ import annotations

import hashlib
from typing import Any

from google.cloud import firestore

from shared.storage.ids import is_storable_id
from shared.storage.leaderboards import BatchWrite
from shared.storage.pagination import Page, fetch_page


class CandidateRepo:
    def __init__(self, db: firestore.Client) -> None:
        self._db = db

    def _collection(self, leaderboard_id: str) -> firestore.CollectionReference:
        return self._db.collection("leaderboards").document(leaderboard_id).collection("models")

    def add(self, leaderboard_id: str, model: dict[str, Any]) -> BatchWrite:
        """The write that adds ``model`` (fails the commit if its id exists)."""
        ref = self._collection(leaderboard_id).document(model["id"])
        return lambda batch: batch.create(ref, model)

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


class WorkspaceModelRepo:
    def __init__(self, db: firestore.Client) -> None:
        self._db = db

    def _collection(self, workspace_id: str) -> firestore.CollectionReference:
        return self._db.collection("workspaces").document(workspace_id).collection("models")

    def create(self, workspace_id: str, model: dict[str, Any]) -> None:
        self._collection(workspace_id).document(model["id"]).create(model)

    def get(self, workspace_id: str, model_id: str) -> dict[str, Any] | None:
        if not is_storable_id(model_id):
            return None
        snap = self._collection(workspace_id).document(model_id).get()
        return snap.to_dict() if snap.exists else None

    def list_page(self, workspace_id: str, *, limit: int, cursor: str | None) -> Page:
        return fetch_page(self._collection(workspace_id), limit=limit, cursor=cursor)

    def update(self, workspace_id: str, model_id: str, fields: dict[str, Any]) -> None:
        self._collection(workspace_id).document(model_id).update(fields)

    def delete(self, workspace_id: str, model_id: str) -> None:
        self._collection(workspace_id).document(model_id).delete()

    def measured(self, workspace_id: str, keys: list[str]) -> dict[str, dict[str, Any]]:
        stats = self._db.collection("workspaces").document(workspace_id).collection("model_stats")
        refs = [stats.document(_stat_id(key)) for key in keys]
        found = {snap.id: snap.to_dict() or {} for snap in self._db.get_all(refs) if snap.exists}
        return {key: found[_stat_id(key)] for key in keys if _stat_id(key) in found}

    def record_measured(self, workspace_id: str, key: str, stats: dict[str, Any]) -> None:
        ref = (
            self._db.collection("workspaces")
            .document(workspace_id)
            .collection("model_stats")
            .document(_stat_id(key))
        )
        ref.set({"key": key, **stats})


def _stat_id(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:40]

"""Firestore repository of Dr.Gero models and the latencies measured in runs.

``workspaces/{id}/models/{model_id}``: Dr.Gero models, assignable to any leaderboard.
``workspaces/{id}/model_stats/{key}``: latencies we measured in runs, by endpoint key, which
auto-select prefers over published figures.
"""

from __future__ import annotations

import hashlib
from typing import Any

from google.cloud import firestore

from shared.storage.ids import is_storable_id
from shared.storage.pagination import Page, fetch_page


class DrGeroModelRepo:
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

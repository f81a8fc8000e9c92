"""Traces: JSON records of pushes, consolidations, runs, inference calls and manual events.

Stored per leaderboard in ``leaderboards/{id}/traces/{trace_id}`` so that listing one
leaderboard's traces is a single-collection query. A push, consolidation or run trace is
written in the same commit as the work it describes, so it exists exactly when the work
happened; inference traces are written just after the answer (``shared/storage/writebehind``);
manual events are recorded by the API caller (``create_once``).
"""

from __future__ import annotations

import uuid
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud import firestore

from shared.clock import iso, utcnow
from shared.storage.ids import is_storable_id
from shared.storage.pagination import Page, fetch_page

TRACES = "traces"
TRACE_KINDS = ("push", "consolidation", "run", "inference", "manual")


class TraceRepo:
    def __init__(self, db: firestore.Client) -> None:
        self._db = db

    def _collection(self, leaderboard_id: str) -> firestore.CollectionReference:
        return self._db.collection("leaderboards").document(leaderboard_id).collection(TRACES)

    def new(
        self, leaderboard_id: str, *, kind: str, trace_id: str | None = None, **fields: Any
    ) -> tuple[firestore.DocumentReference, dict[str, Any]]:
        """A fresh trace document and its body, for the caller to add to its commit.

        ``trace_id`` (from :func:`new_trace_id`) when the id must be known before the trace is
        written: inference names it in a stream's headers, before the answer exists.
        """
        trace_id = trace_id or new_trace_id()
        body = {
            "id": trace_id,
            "kind": kind,
            "leaderboard_id": leaderboard_id,
            "created_at": utcnow(),
            **fields,
        }
        return self._collection(leaderboard_id).document(trace_id), body

    def create_once(self, ref: firestore.DocumentReference, body: dict[str, Any]) -> bool:
        """Write ``body`` unless a trace is already there; whether this call wrote it."""
        try:
            ref.create(body)
        except gexc.AlreadyExists:
            return False
        return True

    def get(self, leaderboard_id: str, trace_id: str) -> dict[str, Any] | None:
        if not is_storable_id(trace_id):
            return None
        snap = self._collection(leaderboard_id).document(trace_id).get()
        return snap.to_dict() if snap.exists else None

    def list_page(
        self, leaderboard_id: str, *, kind: str | None, limit: int, cursor: str | None
    ) -> Page:
        query: Any = self._collection(leaderboard_id)
        if kind is not None:
            query = query.where(filter=firestore.FieldFilter("kind", "==", kind))
        return fetch_page(query, limit=limit, cursor=cursor)


def new_trace_id() -> str:
    return "tr_" + uuid.uuid4().hex


def public_trace(body: dict[str, Any]) -> dict[str, Any]:
    return {key: iso(value) if key.endswith("_at") else value for key, value in body.items()}

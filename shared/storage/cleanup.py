"""What the storage cleanup reads of Firestore, and where it keeps its place in the bucket.

``_cleanup/{scope}``: the name of the last object a call examined (``after``), so the next
call (the next firing of the scheduled job) lists from there; deleted when a pass reaches the
end of the bucket (or of the leaderboard, for a pass scoped to one).

The state of a page's leaderboards and runs is read in batched reads (``get_all``) plus one
query per leaderboard whose dataset objects are in the page (its queued and running runs).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from google.cloud import firestore

from shared.domain.cleanup import BoardState, CurrentVersion, RunState
from shared.domain.run_status import ACTIVE
from shared.storage.leaderboards import LEADERBOARDS

CURSORS = "_cleanup"


class CleanupRepo:
    def __init__(self, db: firestore.Client) -> None:
        self._db = db

    # -- where the walk is ---------------------------------------------------------------------

    def cursor(self, scope: str) -> str | None:
        snap = self._db.collection(CURSORS).document(scope).get()
        return snap.get("after") if snap.exists else None

    def save_cursor(self, scope: str, after: str | None, *, now: datetime) -> None:
        ref = self._db.collection(CURSORS).document(scope)
        if after is None:
            ref.delete()
        else:
            ref.set({"after": after, "updated_at": now})

    # -- what keeps objects alive --------------------------------------------------------------

    def boards(
        self, leaderboard_ids: Iterable[str], *, with_runs: Iterable[str], now: datetime
    ) -> dict[str, BoardState]:
        """Each leaderboard's state; the pins of active runs only for ``with_runs``."""
        ids = sorted(set(leaderboard_ids))
        if not ids:
            return {}
        boards = self._db.collection(LEADERBOARDS)
        refs = [boards.document(i) for i in ids]
        leases = [ref.collection("locks").document("consolidation") for ref in refs]
        snaps = {snap.reference.path: snap for snap in self._db.get_all(refs + leases)}
        pinning = set(with_runs)
        states = {}
        for ref, lease in zip(refs, leases, strict=True):
            board = snaps.get(ref.path)
            if board is None or not board.exists:
                states[ref.id] = BoardState(exists=False)
                continue
            held = snaps.get(lease.path)
            until = (held.to_dict() or {}).get("lease_until") if held is not None else None
            states[ref.id] = BoardState(
                exists=True,
                current=_current(board.to_dict() or {}),
                pinned=self._pinned(ref) if ref.id in pinning else frozenset(),
                consolidating=until is not None and until > now,
            )
        return states

    def runs(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], RunState | None]:
        """Each (leaderboard, run)'s state; None for a run that does not exist."""
        keys = sorted(set(keys))
        if not keys:
            return {}
        boards = self._db.collection(LEADERBOARDS)
        refs = {
            boards.document(board).collection("runs").document(run).path: (board, run)
            for board, run in keys
        }
        states: dict[tuple[str, str], RunState | None] = dict.fromkeys(keys)
        for snap in self._db.get_all([self._db.document(path) for path in refs]):
            if snap.exists:
                run = snap.to_dict() or {}
                states[refs[snap.reference.path]] = RunState(
                    active=run.get("status") in ACTIVE, finished_at=run.get("finished_at")
                )
        return states

    def _pinned(self, board: firestore.DocumentReference) -> frozenset[str]:
        """Objects that this leaderboard's queued and running runs pin (``dataset.uri``)."""
        query = (
            board.collection("runs")
            .where(filter=firestore.FieldFilter("status", "in", list(ACTIVE)))
            .select(["dataset"])
        )
        pinned = set()
        for snap in query.stream():
            dataset = (snap.to_dict() or {}).get("dataset") or {}
            name = _object_name(dataset.get("uri"))
            if name:
                pinned.add(name)
        return frozenset(pinned)


def _current(board: dict[str, Any]) -> CurrentVersion | None:
    version = board.get("dataset_version")
    if not version:
        return None
    return CurrentVersion(
        version=int(version["version"]),
        object_name=str(version["object_name"]),
        consolidated_at=version["consolidated_at"],
    )


def _object_name(uri: Any) -> str | None:
    """``datasets/...`` of ``gs://{bucket}/datasets/...`` (what ``DatasetStore.uri`` makes)."""
    if not isinstance(uri, str) or not uri.startswith("gs://"):
        return None
    parts = uri.split("/", 3)
    return parts[3] if len(parts) == 4 else None

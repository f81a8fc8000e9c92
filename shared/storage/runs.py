"""Firestore state of runs.

``leaderboards/{id}/runs/{run_id}``        the run: status, snapshots, estimate, progress
``leaderboards/{id}/runs/{run_id}/shards/{model}-{k}``   one per finished shard (first writer wins)
``leaderboards/{id}/runs/{run_id}/reviews/{model}-{row}``  human-review items
``leaderboards/{id}/locks/run``            held by the active run: a second run gets 409

Progress is counted with atomic increments in the same commit that creates a shard's marker, so
a shard delivered twice is counted once (the second commit fails on the existing marker) and
the worker that brings ``shards_done`` to ``shards_total`` knows it is the last one. A marker
also holds its rows' scores, only the fields a ranking needs (``SCORE_FIELDS``): finalize and
review refreshes read those, never the outputs in the results objects.

A run ends in one commit (:meth:`RunRepo.complete`): the run completed with its ranking, the
ranking published on the leaderboard, the run lock released and the run's trace created. Before
it, finalize can repeat any step; after it, there is nothing left to do.

A run document becomes a :class:`~shared.storage.records.Run` here (:meth:`RunRepo.find`) and
a ``Run`` a document (:func:`run_document`); services use the record.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud import firestore

from shared.domain.entities import Run
from shared.domain.run_status import RunStatus
from shared.storage.datasets import DatasetStore
from shared.storage.ids import is_storable_id
from shared.storage.leaderboards import LeaderboardChanged
from shared.storage.limits import cut_by_size, document_size, fit_document
from shared.storage.pagination import Page, fetch_page

# What a ranking needs of one row (``error`` is the error's code); kept in the shard's marker.
SCORE_FIELDS = ("row_id", "score", "error", "latency_ms", "cost_usd", "judge_cost_usd")
# Fields a run document holds only once they are set (a human run's review counts).
_SET_LATER = ("reviews_total", "reviews_done")


class ObjectExists(Exception):
    """A run object created once (a row's saved result, a shard's results) exists already:
    a duplicate delivery of the same task created it first."""


def create_once(datasets: DatasetStore, name: str, rows: Iterable[dict[str, Any]]) -> None:
    """Create the run object ``name`` from ``rows``; :class:`ObjectExists` if it exists."""
    try:
        datasets.write_jsonl(name, rows)
    except gexc.PreconditionFailed as exc:
        raise ObjectExists(name) from exc


def run_document(run: Run) -> dict[str, Any]:
    """The stored form of ``run``."""
    return run.model_dump(exclude={name for name in _SET_LATER if getattr(run, name) is None})


class RunRepo:
    def __init__(
        self,
        db: firestore.Client,
        *,
        max_document_bytes: int = 1_000_000,
        max_commit_bytes: int = 3 * 1024 * 1024,
        max_commit_writes: int = 450,
    ) -> None:
        self._db = db
        self._max_document_bytes = max_document_bytes
        self._max_commit_bytes = max_commit_bytes
        self._max_commit_writes = max_commit_writes

    def _board(self, leaderboard_id: str) -> firestore.DocumentReference:
        return self._db.collection("leaderboards").document(leaderboard_id)

    def ref(self, leaderboard_id: str, run_id: str) -> firestore.DocumentReference:
        return self._board(leaderboard_id).collection("runs").document(run_id)

    def lock_ref(self, leaderboard_id: str) -> firestore.DocumentReference:
        return self._board(leaderboard_id).collection("locks").document("run")

    # -- lifecycle -------------------------------------------------------------------------------

    def create_with_lock(self, run: Run, *, board_revision: datetime) -> bool:
        """Create the run and take the leaderboard's run lock atomically; False if taken.

        ``board_revision`` is the leaderboard document's update time when the run's snapshot
        was read: if anything wrote it since (a candidate added or removed, the configuration
        changed: each of those writes it), nothing is created and :class:`LeaderboardChanged`
        says to read the snapshot again. A change that commits after this run is refused
        (``active_run_id`` is set by this same commit), so a change is either refused or in the
        snapshot, never half-seen.
        """
        batch = self._db.batch()
        batch.create(
            self.lock_ref(run.leaderboard_id), {"run_id": run.id, "created_at": run.created_at}
        )
        batch.create(self.ref(run.leaderboard_id, run.id), run_document(run))
        batch.update(
            self._board(run.leaderboard_id),
            {"active_run_id": run.id},
            option=self._db.write_option(last_update_time=board_revision),
        )
        try:
            batch.commit()
        except gexc.AlreadyExists:
            return False
        except gexc.FailedPrecondition as exc:
            raise LeaderboardChanged(run.leaderboard_id) from exc
        return True

    def active_lock(self, leaderboard_id: str) -> str | None:
        snap = self.lock_ref(leaderboard_id).get()
        return snap.get("run_id") if snap.exists else None

    def release_lock(self, leaderboard_id: str, run_id: str) -> None:
        """Drop the run lock and the active-run pointer if they still belong to ``run_id``."""
        lock = self.lock_ref(leaderboard_id).get()
        if lock.exists and lock.get("run_id") == run_id:
            batch = self._db.batch()
            batch.delete(
                self.lock_ref(leaderboard_id),
                option=self._db.write_option(last_update_time=lock.update_time),
            )
            batch.update(self._board(leaderboard_id), {"active_run_id": None})
            with contextlib.suppress(gexc.FailedPrecondition, gexc.NotFound):
                batch.commit()

    def find(self, leaderboard_id: str, run_id: str) -> Run | None:
        found = self.get(leaderboard_id, run_id)
        return Run.model_validate(found) if found is not None else None

    def find_page(
        self, leaderboard_id: str, *, limit: int, cursor: str | None
    ) -> tuple[list[Run], str | None]:
        """A page of the leaderboard's runs and the cursor of the next one."""
        page = self.list_page(leaderboard_id, limit=limit, cursor=cursor)
        return [Run.model_validate(item) for item in page.items], page.next_cursor

    def get(self, leaderboard_id: str, run_id: str) -> dict[str, Any] | None:
        """The stored document as it is (tests inspect it); services use :meth:`find`."""
        if not is_storable_id(run_id):
            return None
        snap = self.ref(leaderboard_id, run_id).get()
        return snap.to_dict() if snap.exists else None

    def update(self, leaderboard_id: str, run_id: str, fields: dict[str, Any]) -> None:
        self.ref(leaderboard_id, run_id).update(fields)

    def transition(
        self,
        leaderboard_id: str,
        run_id: str,
        *,
        allowed: tuple[str, ...],
        fields: dict[str, Any],
        also: tuple[tuple[firestore.DocumentReference, dict[str, Any]], ...] = (),
    ) -> bool:
        """Apply ``fields`` only if the run's status is one of ``allowed`` (no lost updates).

        ``also``: updates of other documents committed atomically with it (a finished run and
        the leaderboard's ranking are seen together, or neither).
        """
        ref = self.ref(leaderboard_id, run_id)
        for _ in range(5):
            snap = ref.get()
            if not snap.exists or snap.get("status") not in allowed:
                return False
            batch = self._db.batch()
            unchanged = self._db.write_option(last_update_time=snap.update_time)
            batch.update(ref, fields, option=unchanged)
            for other, other_fields in also:
                batch.update(other, other_fields)
            try:
                batch.commit()
                return True
            except gexc.FailedPrecondition:
                continue  # progress increments raced us; read again
        return False

    def list_page(self, leaderboard_id: str, *, limit: int, cursor: str | None) -> Page:
        return fetch_page(
            self._board(leaderboard_id).collection("runs"), limit=limit, cursor=cursor
        )

    # -- shards ----------------------------------------------------------------------------------

    def complete_shard(
        self,
        leaderboard_id: str,
        run_id: str,
        *,
        model_id: str,
        shard: int,
        counts: dict[str, float],
        scores: list[dict[str, Any]] | None = None,
    ) -> int | None:
        """Record a finished shard once; answer the new ``shards_done``, or None if a duplicate.

        ``scores``: the shard's rows, ``SCORE_FIELDS`` only.
        """
        marker = (
            self.ref(leaderboard_id, run_id).collection("shards").document(f"{model_id}-{shard}")
        )
        increments = {"shards_done": firestore.Increment(1)}
        for name, value in counts.items():
            increments[f"progress.{model_id}.{name}"] = firestore.Increment(value)
        batch = self._db.batch()
        body = {"model_id": model_id, "shard": shard, **counts}
        if scores is not None:
            body["scores"] = scores
        batch.create(marker, body)
        batch.update(self.ref(leaderboard_id, run_id), increments)
        try:
            results = batch.commit()
        except gexc.AlreadyExists:
            return None
        # Transform results come in field-path order; "progress..." sorts before "shards_done".
        return int(results[1].transform_results[-1].integer_value)

    def shard_scores(self, leaderboard_id: str, run_id: str) -> list[dict[str, Any]]:
        """Every counted shard's marker: ``model_id``, ``shard`` and ``scores`` (if recorded)."""
        shards = self.ref(leaderboard_id, run_id).collection("shards")
        return [
            snap.to_dict() or {}
            for snap in shards.select(["model_id", "shard", "scores"]).stream()
            if snap.id != "_finalized"  # a marker of runs finalized before this layout
        ]

    def complete(
        self,
        leaderboard_id: str,
        run_id: str,
        *,
        fields: dict[str, Any],
        leaderboard_fields: dict[str, Any] | None,
        trace: tuple[firestore.DocumentReference, dict[str, Any]],
    ) -> bool:
        """End a running run in one commit; False if it is no longer running (done already).

        Together: ``fields`` on the run, ``leaderboard_fields`` (the published ranking and
        selection) on the leaderboard, the run lock released if it is still this run's, and
        the run's trace. Exactly once: the commit requires the run unchanged since it was
        read as running.
        """
        ref, lock_ref, board = (
            self.ref(leaderboard_id, run_id),
            self.lock_ref(leaderboard_id),
            self._board(leaderboard_id),
        )
        board_exists = True
        for _ in range(8):
            snap = ref.get()
            if not snap.exists or snap.get("status") != RunStatus.RUNNING:
                return False
            lock = lock_ref.get()
            batch = self._db.batch()
            unchanged = self._db.write_option(last_update_time=snap.update_time)
            batch.update(ref, fields, option=unchanged)
            on_board = dict(leaderboard_fields or {})
            if lock.exists and lock.get("run_id") == run_id:
                held = self._db.write_option(last_update_time=lock.update_time)
                batch.delete(lock_ref, option=held)
                on_board["active_run_id"] = None
            if on_board and board_exists:
                batch.update(board, on_board)
            batch.create(*trace)
            try:
                batch.commit()
                return True
            except gexc.FailedPrecondition:
                continue  # progress increments or the lock raced us; read again
            except gexc.NotFound:
                board_exists = False  # the leaderboard was deleted meanwhile
            except gexc.AlreadyExists:
                return False  # the run's trace exists: an earlier commit ended it
        return False

    # -- watchdog --------------------------------------------------------------------------------

    def overdue(self, now: datetime, *, limit: int = 200) -> list[Run]:
        """Active runs past their deadline (the watchdog's)."""
        query = (
            self._db.collection_group("runs")
            .where(filter=firestore.FieldFilter("active", "==", True))
            .where(filter=firestore.FieldFilter("deadline_at", "<=", now))
            .limit(limit)
        )
        return [Run.model_validate(snap.to_dict()) for snap in query.stream()]

    # -- human reviews ---------------------------------------------------------------------------

    def reviews(self, leaderboard_id: str, run_id: str) -> firestore.CollectionReference:
        return self.ref(leaderboard_id, run_id).collection("reviews")

    def add_review_items(
        self, leaderboard_id: str, run_id: str, items: list[dict[str, Any]]
    ) -> None:
        """Store review items (ids fixed by the caller: a repeat overwrites, never duplicates).

        An item over the document limit has its largest fields cut with a marker (the full
        output stays in the run's results object); commits are cut by bytes and count.
        """
        collection = self.reviews(leaderboard_id, run_id)
        documents = []
        for item in items:
            ref = collection.document(item["id"])
            documents.append((ref, fit_document(ref.path, item, self._max_document_bytes)))
        for group in cut_by_size(
            documents,
            lambda doc: document_size(doc[0].path, doc[1]),
            max_count=self._max_commit_writes,
            max_bytes=self._max_commit_bytes,
        ):
            batch = self._db.batch()
            for ref, item in group:
                batch.set(ref, item)
            batch.commit()

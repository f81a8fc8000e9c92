"""Consolidation: fold pending rows into a new dataset version.

One consolidation, under the leaderboard's consolidation lease (so two never run at once):

    repeat while rows are pending:
        pick the oldest pending batches (at most ``consolidation_round_docs``)
        merge them, newest first, over the current version (newest wins per row id; with
        auto-limit keep the newest ``max_samples``)               shared.domain.dataset
        write the result as a new JSONL object                     never overwrites
        one atomic commit: lease fence, version pointer, "consolidated" on every pending batch,
        totals, trace

Killed anywhere before the commit, it leaves the previous version in place and the pending batches
pending (the uploaded object is an unreferenced orphan); the next consolidation redoes the round
with the same inputs and writes the same rows. A holder that stalled past its lease cannot
commit, because the commit is conditioned on the lease document it holds.

Memory: the merge keeps at most the rows it will write from pending batches plus the ids of the
previous version; pending batches are fetched a few at a time and the previous version is streamed.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from shared.bootstrap import Deps
from shared.clock import utcnow
from shared.domain.dataset import DatasetMerge
from shared.domain.rows import Row
from shared.errors import Conflict, NotFound
from shared.storage import leases
from shared.storage.records import DatasetVersion, LeaderboardRecord
from shared.storage.unit_of_work import WriteConflict

log = logging.getLogger(__name__)

# Called with a stage name at each step; tests use it to kill a consolidation mid-way.
Checkpoint = Callable[[str], None]


@dataclass(frozen=True)
class ConsolidationResult:
    leaderboard_id: str
    rounds: int
    events: int
    version: DatasetVersion | None
    changed_rows: int = 0  # rows new or updated by this consolidation
    run_id: str | None = None  # the dataset-improvement run it started, if any

    def to_json(self) -> dict[str, Any]:
        return {
            "leaderboard_id": self.leaderboard_id,
            "status": "consolidated" if self.rounds else "nothing_pending",
            "rounds": self.rounds,
            "events_consolidated": self.events,
            "version": self.version.model_dump(mode="json") if self.version else None,
            "changed_rows": self.changed_rows,
            "improvement_run_id": self.run_id,
        }


class ConsolidationBusy(Conflict):
    default_code = "consolidation_in_progress"


def consolidate(
    deps: Deps,
    leaderboard_id: str,
    *,
    reason: str,
    actor_token_id: str | None = None,
    checkpoint: Checkpoint | None = None,
) -> ConsolidationResult:
    mark = checkpoint or (lambda stage: None)
    lease = deps.push.take_consolidation_lease(
        leaderboard_id,
        holder=uuid.uuid4().hex,
        ttl_seconds=deps.settings.consolidation_lease_seconds,
    )
    if lease is None:
        raise ConsolidationBusy(
            "a consolidation of this dataset is already running; it will include the pending rows"
            " it found, and a later one the rest",
            retry_after_seconds=5,
        )
    mark("leased")
    rounds = events = changed = 0
    version: DatasetVersion | None = None
    try:
        while True:
            leaderboard = deps.leaderboards.get(leaderboard_id)
            if leaderboard is None:
                raise NotFound(
                    f"leaderboard {leaderboard_id} not found", code="leaderboard_not_found"
                )
            done = _round(deps, leaderboard, lease, reason, actor_token_id, mark)
            if done is None:
                if rounds == 0:
                    _push_back_due_time(deps, leaderboard)
                break
            rounds += 1
            events += done.events
            changed += done.changed_rows
            version = done.version
            if done.batches < deps.settings.consolidation_round_docs:
                break
    finally:
        leases.release(lease)
    run_id = _maybe_improvement_run(deps, leaderboard_id, changed, version)
    return ConsolidationResult(leaderboard_id, rounds, events, version, changed, run_id)


def _maybe_improvement_run(
    deps: Deps, leaderboard_id: str, changed: int, version: DatasetVersion | None
) -> str | None:
    """Start a run when this consolidation changed enough of the dataset (if configured)."""
    from shared.errors import DrGeroError
    from shared.services.runs import start

    leaderboard = deps.leaderboards.get(leaderboard_id)
    if leaderboard is None or version is None or not version.rows:
        return None
    threshold = leaderboard.dataset.get("improvement_run_threshold")
    if threshold is None or changed / version.rows < threshold:
        return None
    try:
        return start(deps, leaderboard, source="dataset_improvement").id
    except DrGeroError as exc:  # fewer than two models, a run already active, ...
        log.info("no dataset-improvement run for %s: %s", leaderboard_id, exc.code)
        return None


@dataclass(frozen=True)
class _Round:
    events: int  # pending rows folded in
    version: DatasetVersion
    batches: int  # pending batches folded in
    changed_rows: int  # rows of the new version that are new or updated


def _round(
    deps: Deps,
    leaderboard: LeaderboardRecord,
    lease: leases.Lease,
    reason: str,
    actor_token_id: str | None,
    mark: Checkpoint,
) -> _Round | None:
    """One round, or None when nothing is pending."""
    started = time.perf_counter()
    batches = deps.push.oldest_pending(leaderboard.id, limit=deps.settings.consolidation_round_docs)
    if not batches:
        return None
    config = leaderboard.dataset
    merge = DatasetMerge(cap=config.get("max_samples") if config.get("auto_limit") else None)
    for row in deps.push.read_pending_newest_first(batches):
        merge.offer_pending(row)
    mark("merged")

    previous = leaderboard.dataset_version
    number = (previous.version if previous else 0) + 1
    unchanged: list[int] = [0]
    written = deps.datasets.write_version(
        leaderboard.id, number, _merged_rows(deps, merge, previous, unchanged)
    )
    mark("uploaded")

    now = utcnow()
    version = DatasetVersion(
        version=number,
        object_name=written.object_name,
        generation=written.generation,
        rows=written.rows,
        bytes=written.bytes,
        sha256=written.sha256,
        consolidated_at=now,
    )
    events = sum(batch.count for batch in batches)
    trace = deps.traces.new(
        leaderboard.id,
        kind="consolidation",
        workspace_id=leaderboard.workspace_id,
        token_id=actor_token_id,
        reason=reason,
        counts={"events": events, "chunks": len(batches), "rows": written.rows},  # trace fields
        version=number,
        previous_version=previous.version if previous else None,
        uri=deps.datasets.uri(written.object_name),
        bytes=written.bytes,
        sha256=written.sha256,
        duration_ms=round((time.perf_counter() - started) * 1000, 1),
    )
    try:
        deps.push.commit_round(
            leaderboard.id,
            lease=lease,
            ttl_seconds=deps.settings.consolidation_lease_seconds,
            leaderboard_fields={
                "dataset_version": version.model_dump(),
                "consolidation_due_at": _next_due(leaderboard),
            },
            batches=batches,
            version=number,
            trace=trace,
        )
    except WriteConflict as exc:
        raise ConsolidationBusy(
            "this consolidation lost its lease (it ran past the lease time); nothing was changed"
        ) from exc
    mark("committed")
    return _Round(events, version, len(batches), len(merge.pending_rows()) - unchanged[0])


def _merged_rows(
    deps: Deps, merge: DatasetMerge, previous: DatasetVersion | None, unchanged: list[int]
) -> Iterator[dict[str, Any]]:
    """The new version's rows; counts in ``unchanged`` the pending rows equal to their old one."""
    for row in merge.pending_rows():
        yield row.to_json()
    if previous is None:
        return
    for data in deps.datasets.read_rows(previous.object_name, previous.generation):
        row = Row.from_json(data)
        newer = merge.pending_row(row.id)
        if newer is not None and newer.to_json() == row.to_json():
            unchanged[0] += 1
        kept = merge.offer_previous(row)
        if kept is not None:
            yield kept.to_json()


def _next_due(leaderboard: LeaderboardRecord) -> Any:
    hours = leaderboard.dataset.get("consolidate_every_hours")
    return utcnow() + timedelta(hours=hours) if hours else None


def _push_back_due_time(deps: Deps, leaderboard: LeaderboardRecord) -> None:
    """Nothing was pending: the next time-based consolidation is one period from now."""
    due = leaderboard.consolidation_due_at
    if due is not None and due <= utcnow():
        deps.leaderboards.update(leaderboard.id, {"consolidation_due_at": _next_due(leaderboard)})

"""Changes to what a run snapshots: refused while a run is active, and never half-seen by one.

Every change to a leaderboard's snapshot parts (``shared.domain.snapshot``: system prompt,
dataset configuration, evaluation, inference settings, candidate models) goes through
:func:`change_leaderboard`. It reads the leaderboard, refuses when a run is active (409
``run_in_progress``), and commits the change together with a write of the leaderboard document,
on condition that the document is still as read. Starting a run writes that same document on the
same condition (``RunRepo.create_with_lock``), so the two are ordered: a change that commits
first is in the run's snapshot; one that comes second finds the run and is refused.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from shared.bootstrap import Deps
from shared.clock import jsonable
from shared.domain.entities import CandidateModel
from shared.domain.leaderboards import InferenceConfig
from shared.domain.prompts import PROMPT_VERSION
from shared.domain.snapshot import candidates_digest, config_parts, stale_parts
from shared.errors import Conflict, NotFound, Unavailable
from shared.storage.leaderboards import Change, LeaderboardChanged
from shared.storage.records import LeaderboardRecord

T = TypeVar("T")

# Commits that meet another write of the leaderboard document (a run starting, a consolidation
# flipping the dataset version) read again; this many tries, then 503 ``leaderboard_busy``.
ATTEMPTS = 12
BACKOFF_SECONDS = 0.01  # the first retry waits up to this long, each next one up to twice more
MAX_BACKOFF_SECONDS = 0.5


def backoff(attempt: int) -> None:
    """A short random wait before reading again: concurrent changes of one leaderboard (a burst
    of candidate adds) spread out instead of meeting again at once."""
    time.sleep(random.uniform(0, min(MAX_BACKOFF_SECONDS, BACKOFF_SECONDS * 2**attempt)))


def refuse_during_run(leaderboard: LeaderboardRecord, action: str) -> None:
    """409 ``run_in_progress`` when a run of ``leaderboard`` is queued or running."""
    run_id = leaderboard.active_run_id
    if run_id is None:
        return
    base = f"/v1/leaderboard/{leaderboard.id}/runs/{run_id}"
    raise Conflict(
        f"run {run_id} is active: {action} would change what it ranks. Wait for it to finish"
        f" (GET {base}) or cancel it (POST {base}/cancel), then try again",
        code="run_in_progress",
        active_run_id=run_id,
        run_url=base,
    )


def change_leaderboard(
    deps: Deps,
    leaderboard: LeaderboardRecord,
    build: Callable[[LeaderboardRecord], Change],
) -> LeaderboardRecord:
    """Commit ``build(leaderboard)`` only on the leaderboard ``build`` saw; the leaderboard as
    it is after the change.

    ``build`` decides on the record it is given (and raises to refuse, e.g. with
    :func:`refuse_during_run`); it is called again, on a fresh read, when the document changed
    in between.
    """

    def commit(record: LeaderboardRecord) -> LeaderboardRecord:
        change = build(record)
        deps.leaderboards.commit_if_unchanged(record, change)
        return record.model_copy(update=change.fields)

    return on_leaderboard_as_read(deps, leaderboard, commit)


def on_leaderboard_as_read(
    deps: Deps, leaderboard: LeaderboardRecord, act: Callable[[LeaderboardRecord], T]
) -> T:
    """``act(record)``, and again on a fresh read of the leaderboard while it raises
    :class:`LeaderboardChanged` (its commit met another write of the document)."""
    record: LeaderboardRecord | None = leaderboard
    for attempt in range(ATTEMPTS):
        if record is None or record.revision is None:
            record = deps.leaderboards.get(leaderboard.id)
            if record is None:
                raise NotFound(
                    f"leaderboard {leaderboard.id} not found", code="leaderboard_not_found"
                )
        try:
            return act(record)
        except LeaderboardChanged:
            record = None
            backoff(attempt)
    raise Unavailable(
        "the leaderboard kept changing while this change was applied; try again",
        code="leaderboard_busy",
    )


def leaderboard_snapshot(leaderboard: LeaderboardRecord) -> dict[str, Any]:
    """What a run keeps of its leaderboard's configuration (its ``leaderboard_config``)."""
    return {
        "name": leaderboard.name,
        "system_prompt": leaderboard.system_prompt,
        "prompt_version": PROMPT_VERSION,
        "dataset": jsonable(leaderboard.dataset),
        "evaluation": leaderboard.evaluation,
        "inference": leaderboard.inference or InferenceConfig().model_dump(),
    }


def snapshot_parts(snapshot: dict[str, Any], candidates: str) -> dict[str, str]:
    """The digests of a leaderboard configuration: a run's snapshot, or the current one."""
    return config_parts(
        system_prompt=snapshot["system_prompt"],
        prompt_version=snapshot["prompt_version"],
        dataset=snapshot["dataset"],
        evaluation=snapshot["evaluation"],
        inference=snapshot["inference"],
        candidates=candidates,
    )


def digest_of(candidates: Iterable[CandidateModel]) -> str:
    """The digest of a set of candidates (``shared.domain.snapshot.candidates_digest``)."""
    return candidates_digest({"id": c.id, "config": c.config} for c in candidates)


def current_parts(deps: Deps, leaderboard: LeaderboardRecord) -> dict[str, str]:
    """The digests of the leaderboard's configuration now."""
    candidates = leaderboard.candidates_digest
    if candidates is None:  # stored before the digest was kept on the leaderboard
        candidates = digest_of(deps.candidates.find_all(leaderboard.id))
    return snapshot_parts(leaderboard_snapshot(leaderboard), candidates)


def ranking_freshness(
    ranking: dict[str, Any] | None, current: dict[str, str]
) -> dict[str, Any] | None:
    """Whether ``ranking`` was computed under the current configuration, and if not, what
    changed since (``stale_parts``); None without a ranking."""
    if not ranking:
        return None
    changed = stale_parts(ranking.get("config_parts"), current)
    return {
        "config_hash": ranking.get("config_hash"),
        "stale": bool(changed),
        "stale_parts": changed,
    }

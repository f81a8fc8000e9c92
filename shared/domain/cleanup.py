"""Which Cloud Storage objects the storage cleanup deletes: the rules, without I/O.

The bucket holds (``shared.storage.datasets``, ``run_prepare``, ``run_worker``)::

    datasets/{leaderboard}/v{n:06d}-{nonce}.jsonl   dataset versions, and orphans of crashed
                                                    consolidations (same shape, never committed)
    runs/{leaderboard}/{run}/shards/...             the copy of the dataset a run pinned
    runs/{leaderboard}/{run}/results/...            a run's results, per model and shard
    runs/{leaderboard}/{run}/rows/...               rows saved mid-shard (a counted shard drops
                                                    its own; a cancelled, failed or crashed
                                                    one leaves them)

A lifecycle rule sees only an object's name and age; what keeps a version alive (the pointer on
the leaderboard, the runs that pin it, a consolidation holding the lease) lives in Firestore,
so the cleanup is a job that reads both and applies these rules. None of them ever deletes an
object younger than the grace period, whatever else holds.

- A leaderboard that no longer exists: every object under its two prefixes goes (its delete
  died part-way, or a consolidation or shard still running wrote after it).
- A dataset object is kept while it is the leaderboard's current version, while a queued or
  running run pins it (a run's ``dataset.uri``), and, above the current version number, while
  the consolidation lease is held (an upload whose commit is still to come). An object with the
  current number that is not the current object is an orphan. Below it, the ``keep_versions``
  numbers just under the current one are kept; an older one goes once it was superseded more
  than the grace period ago, so a reader that took the pointer just before a consolidation
  moved it (a run copying it, a download streaming it) finishes first.
- ``rows/`` objects go once their run ended (completed, failed, cancelled) more than the
  grace period ago, or when their run does not exist. A run's shards and results are kept.

Version ``m`` is written only by a consolidation that read version ``m - 1`` as current, so any
object numbered ``n + 2`` or more was created after version ``n + 1`` was committed, which is
when version ``n`` stopped being current: the earliest of those creation times (and the current
version's ``consolidated_at``) bounds the supersession from above. Any subset gives a later
bound, so a page that sees only some of them errs towards keeping.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

# Ids this service hands out (``shared.storage.ids.ID_PATTERN``): anything else is not ours.
STORED_ID = r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}"
_ID = STORED_ID
_VERSION = re.compile(rf"datasets/(?P<board>{_ID})/v(?P<number>\d+)-[0-9a-f]+\.jsonl")
_DATASETS = re.compile(rf"datasets/(?P<board>{_ID})/.+")
_RUNS = re.compile(rf"runs/(?P<board>{_ID})/(?P<run>{_ID})/(?P<part>[^/]+)/.+")
_RUNS_ANY = re.compile(rf"runs/(?P<board>{_ID})/.+")


@dataclass(frozen=True)
class StoredObject:
    """One object of the bucket, as a listing shows it."""

    name: str
    generation: int
    created: datetime
    size: int = 0


@dataclass(frozen=True)
class ObjectPath:
    """What an object name says: its leaderboard, and a version number or a run's part."""

    leaderboard_id: str
    version: int | None = None  # datasets/.../v{n}-{nonce}.jsonl
    run_id: str | None = None  # runs/{lb}/{run}/{part}/...
    part: str | None = None  # "rows", "shards", "results"


def parse(name: str) -> ObjectPath | None:
    """The parts of ``name``, or None for a name none of our writers makes."""
    if match := _VERSION.fullmatch(name):
        return ObjectPath(match["board"], version=int(match["number"]))
    if match := _DATASETS.fullmatch(name):
        return ObjectPath(match["board"])
    if match := _RUNS.fullmatch(name):
        return ObjectPath(match["board"], run_id=match["run"], part=match["part"])
    if match := _RUNS_ANY.fullmatch(name):
        return ObjectPath(match["board"])
    return None


@dataclass(frozen=True)
class CurrentVersion:
    version: int
    object_name: str
    consolidated_at: datetime


@dataclass(frozen=True)
class BoardState:
    """What Firestore says of one leaderboard, read after the page was listed."""

    exists: bool
    current: CurrentVersion | None = None
    pinned: frozenset[str] = field(default_factory=frozenset)  # objects active runs pin
    consolidating: bool = False  # its consolidation lease is held now


@dataclass(frozen=True)
class RunState:
    active: bool  # queued or running
    finished_at: datetime | None = None


@dataclass(frozen=True)
class Policy:
    now: datetime
    grace: timedelta
    keep_versions: int  # versions kept just below the current one


@dataclass(frozen=True)
class Needs:
    """The Firestore state the rules need for one page of objects."""

    leaderboards: frozenset[str]
    runs: frozenset[tuple[str, str]]  # (leaderboard, run) of rows objects


def needs(page: Iterable[StoredObject]) -> Needs:
    boards: set[str] = set()
    runs: set[tuple[str, str]] = set()
    for item in page:
        path = parse(item.name)
        if path is None:
            continue
        boards.add(path.leaderboard_id)
        if path.part == "rows" and path.run_id is not None:
            runs.add((path.leaderboard_id, path.run_id))
    return Needs(frozenset(boards), frozenset(runs))


def doomed(
    page: list[StoredObject],
    boards: Mapping[str, BoardState],
    runs: Mapping[tuple[str, str], RunState | None],
    policy: Policy,
) -> list[StoredObject]:
    """The objects of ``page`` to delete (``boards`` and ``runs`` as :func:`needs` asks)."""
    paths = {item.name: parse(item.name) for item in page}
    created_by_version: dict[str, list[tuple[int, datetime]]] = {}
    for item in page:
        path = paths[item.name]
        if path is not None and path.version is not None:
            created_by_version.setdefault(path.leaderboard_id, []).append(
                (path.version, item.created)
            )
    chosen = []
    for item in page:
        path = paths[item.name]
        if path is None or policy.now - item.created < policy.grace:
            continue
        board = boards.get(path.leaderboard_id)
        if board is None:
            continue  # not read: keep
        if not board.exists:
            chosen.append(item)
        elif path.part == "rows" and path.run_id is not None:
            if _rows_expired(runs.get((path.leaderboard_id, path.run_id)), policy):
                chosen.append(item)
        elif path.version is not None and _version_expired(
            item, path.version, board, created_by_version.get(path.leaderboard_id, []), policy
        ):
            chosen.append(item)
    return chosen


def _rows_expired(run: RunState | None, policy: Policy) -> bool:
    if run is None:
        return True
    if run.active:
        return False
    return run.finished_at is None or policy.now - run.finished_at >= policy.grace


def _version_expired(
    item: StoredObject,
    number: int,
    board: BoardState,
    created: list[tuple[int, datetime]],
    policy: Policy,
) -> bool:
    current = board.current
    if item.name in board.pinned:
        return False
    if current is None or number > current.version:
        return not board.consolidating  # an upload whose commit may still come
    if item.name == current.object_name:
        return False
    if number == current.version:
        return True  # an orphan: another object of this number is the current one
    if number >= current.version - policy.keep_versions:
        return False
    bounds = [when for other, when in created if other >= number + 2]
    superseded_by = min([current.consolidated_at, *bounds])
    return policy.now - superseded_by >= policy.grace

"""The storage cleanup's rules: which objects go, which stay, and why (no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from shared.domain.cleanup import (
    BoardState,
    CurrentVersion,
    Needs,
    ObjectPath,
    Policy,
    RunState,
    StoredObject,
    doomed,
    needs,
    parse,
)
from shared.settings import Settings

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
GRACE = timedelta(hours=24)
POLICY = Policy(now=NOW, grace=GRACE, keep_versions=2)
OLD = NOW - timedelta(days=10)


def version(n: int, *, created: datetime = OLD, nonce: str = "abcd1234") -> StoredObject:
    return StoredObject(f"datasets/lb1/v{n:06d}-{nonce}.jsonl", generation=n, created=created)


def board(
    current: int | None, *, at: datetime = OLD, pinned: tuple[str, ...] = (), leased: bool = False
) -> BoardState:
    return BoardState(
        exists=True,
        current=(
            CurrentVersion(current, version(current).name, consolidated_at=at) if current else None
        ),
        pinned=frozenset(pinned),
        consolidating=leased,
    )


def names(items: list[StoredObject]) -> list[str]:
    return [item.name for item in items]


def test_names_parse_into_their_leaderboard_version_and_run_part():
    assert parse("datasets/lb1/v000012-0a1b2c3d.jsonl").version == 12
    rows = parse("runs/lb1/run_9/rows/m-1/00003/00007.jsonl")
    assert rows is not None and (rows.run_id, rows.part) == ("run_9", "rows")
    assert parse("datasets/lb1/notes.txt").version is None  # ours by place, not by shape
    assert parse("elsewhere/x.jsonl") is None
    assert parse("datasets/../x") is None


def test_current_k_newest_and_pinned_versions_stay_older_ones_go():
    page = [version(n) for n in range(1, 8)]  # current 7, keep 5 and 6
    pinned = version(2).name
    chosen = doomed(page, {"lb1": board(7, pinned=(pinned,))}, {}, POLICY)
    assert names(chosen) == names([version(1), version(3), version(4)])


def test_nothing_younger_than_the_grace_goes():
    young = NOW - GRACE + timedelta(minutes=1)
    page = [version(1, created=young), version(9, created=young)]
    assert doomed(page, {"lb1": board(5)}, {}, POLICY) == []
    gone = BoardState(exists=False)
    assert doomed(page, {"lb1": gone}, {}, POLICY) == []


def test_a_version_superseded_less_than_the_grace_ago_stays():
    """v1 is old, but it was current until v2 was committed an hour ago: a reader may still
    stream it."""
    recent = NOW - timedelta(hours=1)
    page = [version(1), version(2, created=recent), version(3, created=recent)]
    assert doomed(page, {"lb1": board(3, at=recent)}, {}, Policy(NOW, GRACE, 0)) == []
    # v3 was created long ago, so v1 stopped being current before it (v2 came first).
    page = [version(1), version(2, created=recent), version(3)]
    chosen = doomed(page, {"lb1": board(4, at=recent)}, {}, Policy(NOW, GRACE, 0))
    assert names(chosen) == [version(1).name]


def test_orphans_go_once_old_unless_a_consolidation_may_still_commit_them():
    orphan_same = version(5, nonce="deadbeef")  # current number, not the current object
    orphan_next = version(6, nonce="deadbeef")  # above current: a crashed or running upload
    page = [version(5), orphan_same, orphan_next]
    assert names(doomed(page, {"lb1": board(5)}, {}, POLICY)) == names([orphan_same, orphan_next])
    leased = doomed(page, {"lb1": board(5, leased=True)}, {}, POLICY)
    assert names(leased) == [orphan_same.name]
    # Never consolidated: every version object is an orphan (or in flight, under the lease).
    assert doomed([orphan_next], {"lb1": board(None)}, {}, POLICY) == [orphan_next]
    assert doomed([orphan_next], {"lb1": board(None, leased=True)}, {}, POLICY) == []


def test_everything_of_a_deleted_leaderboard_goes_but_unknown_names_stay():
    page = [
        version(1),
        StoredObject("runs/lb1/r1/results/m/00000.jsonl", 1, OLD),
        StoredObject("datasets/lb1/other.bin", 1, OLD),
        StoredObject("elsewhere/lb1.jsonl", 1, OLD),
    ]
    chosen = doomed(page, {"lb1": BoardState(exists=False)}, {}, POLICY)
    assert names(chosen) == names(page[:3])
    assert names(doomed(page, {"lb1": board(1)}, {}, POLICY)) == []


def test_rows_go_once_their_run_ended_long_ago_or_does_not_exist():
    def rows(run: str) -> StoredObject:
        return StoredObject(f"runs/lb1/{run}/rows/m/00000/00001.jsonl", 1, OLD)

    page = [rows("active"), rows("ended"), rows("recent"), rows("missing")]
    page.append(StoredObject("runs/lb1/ended/shards/00000.jsonl", 1, OLD))
    runs = {
        ("lb1", "active"): RunState(active=True),
        ("lb1", "ended"): RunState(active=False, finished_at=NOW - timedelta(days=2)),
        ("lb1", "recent"): RunState(active=False, finished_at=NOW - timedelta(hours=2)),
        ("lb1", "missing"): None,
    }
    assert needs(page).runs == frozenset(runs)
    chosen = doomed(page, {"lb1": board(1)}, runs, POLICY)
    assert names(chosen) == names([rows("ended"), rows("missing")])


def test_an_object_whose_state_was_not_read_stays():
    assert doomed([version(1)], {}, {}, POLICY) == []


def test_the_grace_cannot_be_shorter_than_what_may_still_read_an_object():
    with pytest.raises(ValidationError, match="DRGERO_CLEANUP_GRACE_SECONDS"):
        Settings(cleanup_grace_seconds=3600, consolidation_lease_seconds=7200)
    with pytest.raises(ValidationError, match="DRGERO_CLEANUP_GRACE_SECONDS"):
        Settings(cleanup_grace_seconds=3600, download_url_ttl_seconds=86400)
    with pytest.raises(ValidationError):
        Settings(cleanup_grace_seconds=60)  # under the one-hour floor
    assert Settings().cleanup_grace_seconds == 24 * 3600


def test_a_run_object_of_no_known_part_still_belongs_to_its_leaderboard():
    assert parse("runs/lb1/loose.json") == ObjectPath("lb1")
    assert parse("runs/lb1/r1/results") == ObjectPath("lb1")  # no object under the part


def test_needs_asks_for_every_leaderboard_and_only_the_runs_of_rows():
    page = [
        StoredObject("elsewhere/x.jsonl", 1, OLD),  # not ours: skipped, the rest still read
        version(1),
        StoredObject("datasets/lb2/notes.txt", 1, OLD),
        StoredObject("runs/lb3/r1/results/m/00000.jsonl", 1, OLD),
        StoredObject("runs/lb3/r2/rows/m/00000/00001.jsonl", 1, OLD),
    ]
    assert needs(page) == Needs(frozenset({"lb1", "lb2", "lb3"}), frozenset({("lb3", "r2")}))


def test_an_object_exactly_the_grace_period_old_may_go():
    at_grace = NOW - GRACE
    assert doomed([version(1, created=at_grace)], {"lb1": BoardState(exists=False)}, {}, POLICY)
    rows = StoredObject("runs/lb1/r1/rows/m/00000/00001.jsonl", 1, OLD)
    ended = {("lb1", "r1"): RunState(active=False, finished_at=at_grace)}
    assert doomed([rows], {"lb1": board(1)}, ended, POLICY) == [rows]
    # v1 was superseded when v2 was committed, exactly the grace period ago.
    page = [version(1), version(2, created=at_grace)]
    assert doomed(page, {"lb1": board(2, at=at_grace)}, {}, Policy(NOW, GRACE, 0)) == [version(1)]


def test_objects_kept_early_in_a_page_do_not_stop_the_rest_from_going():
    young = version(1, created=NOW)
    unread = StoredObject("datasets/lb2/v000001-abcd1234.jsonl", 1, OLD)
    unknown = StoredObject("elsewhere/x.jsonl", 1, OLD)
    gone = StoredObject("runs/lb1/r1/results/m/00000.jsonl", 1, OLD)
    page = [young, unread, unknown, gone]
    assert doomed(page, {"lb1": BoardState(exists=False)}, {}, POLICY) == [gone]

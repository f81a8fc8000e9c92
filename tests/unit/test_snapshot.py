"""What a run snapshots: digests, staleness, and which changes conflict with an active run."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

import pytest

from shared.domain import snapshot
from shared.domain.snapshot import (
    LEADERBOARD_PARTS,
    PARTS,
    STORED_DATASET_FIELDS,
    candidates_digest,
    changed_run_parts,
    config_hash,
    config_parts,
    dataset_config,
    digest,
    stale_parts,
)

A = {"id": "m_a", "label": "A", "config": {"platform": "openrouter", "model_id": "x/a"}}
CUSTOM = {"platform": "custom", "endpoint": "https://e", "secret_ref": "s1"}
B = {"id": "m_b", "label": "B", "config": CUSTOM}


def _parts(**changes):
    base = {
        "system_prompt": "Answer: {input}",
        "prompt_version": "task-prompt-v1",
        "dataset": {"mode": "push", "daily_limit": 10},
        "evaluation": {"type": "exact"},
        "inference": {"fallbacks": 2},
        "candidates": candidates_digest([A, B]),
    }
    return config_parts(**(base | changes))


def test_digest_is_the_sha256_of_the_canonical_json_cut_to_16_hex():
    value = {"b": [1, "é"], "a": None}
    expected = hashlib.sha256(
        json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    ).hexdigest()[:16]
    assert digest(value) == expected
    assert digest({"a": None, "b": [1, "é"]}) == expected  # key order does not matter
    assert digest([1, 2]) != digest([2, 1])  # list order does


def test_a_datetime_digests_as_its_iso_string():
    moment = datetime(2026, 12, 1, 9, 30, 0, 123456, tzinfo=UTC)
    assert digest({"end": moment}) == digest({"end": "2026-12-01T09:30:00.123456+00:00"})


def test_the_candidates_digest_ignores_order_labels_and_token_references():
    assert candidates_digest([A, B]) == candidates_digest([B, A])
    relabelled = A | {"label": "another label", "measured": {"latency_p50_ms": 3}}
    assert candidates_digest([relabelled, B]) == candidates_digest([A, B])
    rotated = B | {"config": B["config"] | {"secret_ref": "s2"}}
    assert candidates_digest([A, rotated]) == candidates_digest([A, B])
    no_token = B | {"config": {k: v for k, v in B["config"].items() if k != "secret_ref"}}
    assert candidates_digest([A, no_token]) == candidates_digest([A, B])


def test_the_candidates_digest_changes_with_the_set_ids_and_endpoints():
    both = candidates_digest([A, B])
    assert candidates_digest([A]) != both
    assert candidates_digest([]) != candidates_digest([A])
    assert candidates_digest([A | {"id": "m_c"}, B]) != both
    moved = B | {"config": B["config"] | {"endpoint": "https://other"}}
    assert candidates_digest([A, moved]) != both
    # Two models whose (id, config) pairs are swapped are another set.
    swapped = [A | {"config": B["config"]}, B | {"config": A["config"]}]
    assert candidates_digest(swapped) != both
    assert candidates_digest([A, B]) == digest(
        [["m_a", {"model_id": "x/a", "platform": "openrouter"}],
         ["m_b", {"endpoint": "https://e", "platform": "custom"}]]
    )  # fmt: skip


def test_config_parts_has_one_digest_per_part():
    parts = _parts()
    assert list(parts) == list(PARTS)
    assert parts["system_prompt"] == digest("Answer: {input}")
    assert parts["prompt_version"] == digest("task-prompt-v1")
    assert parts["dataset"] == digest({"mode": "push", "daily_limit": 10})
    assert parts["evaluation"] == digest({"type": "exact"})
    assert parts["inference"] == digest({"fallbacks": 2})
    assert parts["candidates"] == candidates_digest([A, B])


@pytest.mark.parametrize(
    ("part", "value"),
    [
        ("system_prompt", "Other: {input}"),
        ("prompt_version", "task-prompt-v2"),
        ("dataset", {"mode": "push", "daily_limit": 11}),
        ("evaluation", {"type": "exact", "match": "contains"}),
        ("inference", {"fallbacks": 0}),
        ("candidates", candidates_digest([A])),
    ],
)
def test_each_part_changes_only_its_own_digest_and_the_hash(part, value):
    before, after = _parts(), _parts(**{part: value})
    assert [p for p in PARTS if before[p] != after[p]] == [part]
    assert config_hash(after) != config_hash(before)
    assert stale_parts(before, after) == [part]


def test_the_dataset_digest_leaves_out_what_we_store_beside_the_config():
    assert STORED_DATASET_FIELDS == ("validation", "rows_seen")
    stored = {"mode": "get", "url": "https://d", "validation": {"valid_rows": 3}, "rows_seen": 9}
    assert dataset_config(stored) == {"mode": "get", "url": "https://d"}
    bare = {"mode": "get", "url": "https://d"}
    assert _parts(dataset=stored)["dataset"] == _parts(dataset=bare)["dataset"]


def test_the_hash_is_the_digest_of_the_parts_in_their_order():
    parts = _parts()
    assert config_hash(parts) == digest({part: parts[part] for part in PARTS})
    assert config_hash(dict(reversed(list(parts.items())))) == config_hash(parts)
    assert config_hash({}) == digest({part: None for part in PARTS})


def test_stale_parts_lists_what_changed_in_the_documented_order():
    before = _parts()
    after = _parts(system_prompt="new", candidates="other")
    assert stale_parts(before, after) == ["system_prompt", "candidates"]
    assert stale_parts(before, dict(before)) == []
    assert stale_parts(None, before) == list(PARTS)  # stored before digests: unknown
    assert stale_parts({}, before) == list(PARTS)


def test_changed_run_parts_names_the_snapshot_fields_that_would_change():
    current = {
        "name": "n",
        "system_prompt": "p",
        "dataset": {"mode": "push", "daily_limit": 10, "rows_seen": 5},
        "evaluation": {"type": "exact"},
        "inference": {"fallbacks": 2},
        "schedule": None,
    }
    assert LEADERBOARD_PARTS == ("system_prompt", "dataset", "evaluation", "inference")
    assert changed_run_parts(current, {"name": "other", "schedule": {"cron": "* * * * *"}}) == []
    assert changed_run_parts(current, {"system_prompt": "p"}) == []  # the same value
    assert changed_run_parts(current, {"system_prompt": "q"}) == ["system_prompt"]
    assert changed_run_parts(current, {"inference": {"fallbacks": 0}}) == ["inference"]
    assert changed_run_parts(current, {"evaluation": {"type": "judge"}}) == ["evaluation"]
    everything = {"system_prompt": "q", "dataset": {"mode": "push"}, "evaluation": {},
                  "inference": {}}  # fmt: skip
    assert changed_run_parts(current, everything) == list(LEADERBOARD_PARTS)
    # What we store beside a dataset config is not a change of it (rows_seen moves on runs).
    assert changed_run_parts(current, {"dataset": {"mode": "push", "daily_limit": 10}}) == []
    validated = {"dataset": {"mode": "push", "daily_limit": 10, "validation": {"rows": 1}}}
    assert changed_run_parts(current, validated) == []  # on either side
    more = {"dataset": {"mode": "push", "daily_limit": 11}}
    assert changed_run_parts(current, more) == ["dataset"]


def test_changed_run_parts_compares_datetimes_with_their_iso_form():
    moment = datetime(2027, 1, 1, tzinfo=UTC)
    current = {"dataset": {"mode": "push", "end_date": moment}}
    same = {"dataset": {"mode": "push", "end_date": "2027-01-01T00:00:00+00:00"}}
    assert changed_run_parts(current, same) == []
    # A field that is absent now counts as null.
    assert changed_run_parts({}, {"inference": None}) == []
    assert changed_run_parts({}, {"inference": {}}) == ["inference"]


def test_a_non_object_dataset_is_compared_as_it_is():
    assert snapshot._comparable("dataset", None) == "null"
    assert snapshot._comparable("evaluation", {"rows_seen": 1}) == '{"rows_seen":1}'


# -- the selection follows the best-ranked model that is still a candidate ----------------------


def _ranking(*models, leader="m_a"):
    return {
        "leader": leader,
        "run_id": "run_1",
        "models": [{"model_id": m, "eligible": eligible} for m, eligible in models],
    }


def test_the_leader_is_selected_while_it_is_a_candidate():
    from shared.services.selection import best_candidate

    ranking = _ranking(("m_a", True), ("m_b", True))
    assert best_candidate(ranking, {"m_a", "m_b"}) == "m_a"
    assert best_candidate(ranking, {"m_b"}) == "m_b"
    assert best_candidate(ranking, set()) is None


def test_a_removed_leader_gives_way_to_the_next_eligible_candidate_in_rank_order():
    from shared.services.selection import best_candidate

    ranking = _ranking(("m_a", True), ("m_x", False), ("m_b", True), ("m_c", True))
    assert best_candidate(ranking, {"m_x", "m_b", "m_c"}) == "m_b"  # m_x is not eligible
    assert best_candidate(ranking, {"m_c", "m_b"}) == "m_b"  # rank order, not set order
    assert best_candidate(ranking, {"m_x"}) is None
    assert best_candidate(_ranking(("m_a", True), leader=None), {"m_a"}) is None


def test_after_run_keeps_a_pin_and_moves_a_ranking_winner_to_a_candidate():
    from shared.services.selection import after_run
    from shared.storage.records import LeaderboardRecord

    now = datetime(2026, 12, 1, tzinfo=UTC)
    board = LeaderboardRecord(
        id="lb", workspace_id="w", name="n", system_prompt="p", dataset={"mode": "push"},
        evaluation={"type": "exact"}, created_at=now, updated_at=now,
    )  # fmt: skip
    ranking = _ranking(("m_a", True), ("m_b", True))
    moved = after_run(board, ranking, {"m_b"})
    assert moved is not None
    assert (moved["strategy"], moved["model_id"], moved["run_id"]) == (
        "ranking_winner",
        "m_b",
        "run_1",
    )
    pinned = board.model_copy(update={"selection": {"strategy": "manual", "model_id": "m_a"}})
    assert after_run(pinned, ranking, {"m_b"}) is None
    assert after_run(board, ranking, set()) is None  # nobody to select: keep what it has

"""The consolidation merge (newest wins, size cap, bounded memory) and the JSONL dataset files."""

from __future__ import annotations

import gzip
import io
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.domain.dataset import DatasetMerge, merge, newest_first
from shared.domain.jsonl import JsonlError, dumps_line, iter_lines, json_type_name
from shared.domain.rows import Row


def row(row_id: str, version: str = "") -> Row:
    return Row(id=row_id, input=f"{row_id}{version}")


def ids(rows: list[Row]) -> list[str]:
    return [r.id for r in rows]


# --- merge -----------------------------------------------------------------------------------


def test_newest_pending_row_wins_per_id() -> None:
    result = merge([row("a", "3"), row("b", "2"), row("a", "1")], [], cap=None)
    assert [r.input for r in result] == ["a3", "b2"]


def test_pending_rows_override_previous_rows() -> None:
    result = merge([row("b", "new")], [row("a", "old"), row("b", "old"), row("c", "old")], cap=None)
    assert [r.input for r in result] == ["bnew", "aold", "cold"]


def test_no_cap_keeps_everything_newest_first() -> None:
    result = merge([row("p1"), row("p2")], [row("v1"), row("v2"), row("v3")], cap=None)
    assert ids(result) == ["p1", "p2", "v1", "v2", "v3"]


def test_cap_reached_during_pending_drops_older_pending_and_all_previous() -> None:
    previous = [row("v1"), row("v2")]
    result = merge([row("a"), row("b"), row("a", "old"), row("c"), row("d")], previous, cap=3)
    assert ids(result) == ["a", "b", "c"]
    assert result[0].input == "a"


def test_cap_reached_during_previous_keeps_the_newest_previous_rows() -> None:
    result = merge([row("a")], [row("v1"), row("a", "old"), row("v2"), row("v3")], cap=3)
    assert ids(result) == ["a", "v1", "v2"]
    assert result[0].input == "a"


def test_cap_zero_keeps_nothing() -> None:
    assert merge([row("a")], [row("b")], cap=0) == []


def test_cap_larger_than_everything() -> None:
    assert ids(merge([row("a")], [row("b")], cap=100)) == ["a", "b"]


def test_empty_inputs() -> None:
    assert merge([], [], cap=None) == []
    assert ids(merge([], [row("v")], cap=None)) == ["v"]
    assert ids(merge([row("p")], [], cap=1)) == ["p"]


def test_duplicate_ids_in_previous_keep_the_first_newest() -> None:
    result = merge([], [row("v", "new"), row("v", "old")], cap=None)
    assert [r.input for r in result] == ["vnew"]


def test_merge_stops_reading_previous_once_full() -> None:
    consumed: list[str] = []

    def previous() -> Iterator[Row]:
        for name in ["v1", "v2", "v3", "v4"]:
            consumed.append(name)
            yield row(name)

    assert ids(merge([row("p")], previous(), cap=2)) == ["p", "v1"]
    assert consumed == ["v1"]


def test_negative_cap_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="cap"):
        DatasetMerge(cap=-1)


# --- DatasetMerge streaming API --------------------------------------------------------------


def test_streaming_api_writes_pending_then_returned_previous_rows() -> None:
    merger = DatasetMerge(cap=4)
    for r in [row("a", "2"), row("b"), row("a", "1")]:
        merger.offer_pending(r)
    assert [r.input for r in merger.pending_rows()] == ["a2", "b"]
    assert merger.kept_count == 2
    assert not merger.full
    assert merger.offer_previous(row("b", "old")) is None
    kept = merger.offer_previous(row("c"))
    assert kept == row("c")
    assert merger.offer_previous(row("c", "dup")) is None
    assert merger.offer_previous(row("d")) == row("d")
    assert merger.kept_count == 4
    assert merger.full
    assert merger.offer_previous(row("e")) is None
    assert merger.kept_count == 4


def test_full_during_pending() -> None:
    merger = DatasetMerge(cap=2)
    for name in ["a", "b", "c"]:
        merger.offer_pending(row(name))
    assert merger.full
    assert ids(merger.pending_rows()) == ["a", "b"]
    assert merger.offer_previous(row("v")) is None


def test_pending_after_previous_is_refused() -> None:
    merger = DatasetMerge(cap=None)
    merger.offer_previous(row("v"))
    with pytest.raises(RuntimeError, match="pending"):
        merger.offer_pending(row("p"))


def test_no_cap_is_never_full() -> None:
    merger = DatasetMerge(cap=None)
    for i in range(1000):
        merger.offer_pending(row(str(i)))
    assert not merger.full
    assert merger.kept_count == 1000


def test_memory_stays_bounded_by_kept_rows_with_many_duplicates() -> None:
    merger = DatasetMerge(cap=None)
    for i in range(100_000):
        merger.offer_pending(row(f"id{i % 5}", str(i)))
    assert merger.kept_count == 5
    assert len(merger._pending) == 5
    # the first offered occurrence of each id is the newest and is the one kept
    assert [r.input for r in merger.pending_rows()] == [f"id{i}{i}" for i in range(5)]


def test_memory_stays_bounded_by_cap_with_many_distinct_rows() -> None:
    merger = DatasetMerge(cap=10)
    for i in range(100_000):
        merger.offer_pending(row(f"p{i}"))
    for i in range(100_000):
        assert merger.offer_previous(row(f"v{i}")) is None
    assert merger.kept_count == 10
    assert len(merger._pending) == 10
    assert len(merger._previous_ids) == 0


def test_previous_rows_are_not_retained() -> None:
    merger = DatasetMerge(cap=None)
    for i in range(1000):
        merger.offer_previous(row(f"v{i}"))
    assert merger.pending_rows() == []
    assert all(isinstance(x, str) for x in merger._previous_ids)


def test_pending_row_is_the_kept_newest_pending_row_of_an_id() -> None:
    # Consolidation asks it for each previous row, to tell a changed row from a re-push.
    merger = DatasetMerge(cap=2)
    for r in [row("a", "new"), row("b"), row("a", "old"), row("c")]:
        merger.offer_pending(r)
    assert merger.pending_row("a") == row("a", "new")
    assert merger.pending_row("b") == row("b")
    assert merger.pending_row("c") is None  # offered after the cap was reached: not kept
    assert merger.pending_row("v") is None
    assert merger.offer_previous(row("a", "previous")) is None
    assert merger.pending_row("a") == row("a", "new")


def test_pending_row_never_answers_for_a_previous_row() -> None:
    merger = DatasetMerge(cap=None)
    merger.offer_pending(row("p"))
    assert merger.offer_previous(row("v")) == row("v")
    assert merger.pending_row("v") is None
    assert merger.pending_row("p") == row("p")


def test_a_cap_of_one_keeps_exactly_one_row() -> None:
    assert ids(merge([row("a"), row("b")], [row("v")], cap=1)) == ["a"]
    assert ids(merge([], [row("v1"), row("v2")], cap=1)) == ["v1"]
    merger = DatasetMerge(cap=1)
    assert not merger.full
    merger.offer_pending(row("a"))
    assert merger.full


# --- ordering contract: batches and indices --------------------------------------------------


def test_newest_first_reverses_one_batch() -> None:
    batch = [row("a", "0"), row("b", "1"), row("a", "2")]
    assert [r.input for r in newest_first(batch)] == ["a2", "b1", "a0"]


def test_later_index_and_later_batch_win() -> None:
    # Two pushes, each oldest -> newest by index; the second push is the newer one.
    first_push = [row("a", "1.0"), row("b", "1.1"), row("a", "1.2")]
    second_push = [row("b", "2.0"), row("c", "2.1")]
    batches_newest_first = [second_push, first_push]
    pending = (r for batch in batches_newest_first for r in newest_first(batch))
    result = merge(pending, [row("a", "v"), row("d", "v")], cap=None)
    assert [r.input for r in result] == ["c2.1", "b2.0", "a1.2", "dv"]


def test_cap_keeps_the_newest_across_batches() -> None:
    old_push = [row("x"), row("y")]
    new_push = [row("m"), row("n")]
    pending = (r for batch in [new_push, old_push] for r in newest_first(batch))
    assert ids(merge(pending, [], cap=3)) == ["n", "m", "y"]


# --- property: the streaming merge equals the obvious definition -----------------------------

id_strategy = st.sampled_from([f"id{i}" for i in range(12)])


@given(
    pending=st.lists(id_strategy, max_size=40),
    previous=st.lists(id_strategy, max_size=40, unique=True),
    cap=st.none() | st.integers(min_value=0, max_value=15),
)
def test_merge_property(pending: list[str], previous: list[str], cap: int | None) -> None:
    pending_rows = [Row(id=i, input=f"pending {n}") for n, i in enumerate(pending)]
    previous_rows = [Row(id=i, input=f"previous {n}") for n, i in enumerate(previous)]
    result = merge(pending_rows, previous_rows, cap=cap)

    assert len(set(ids(result))) == len(result)
    if cap is not None:
        assert len(result) <= cap
    everything = pending_rows + previous_rows  # newest first overall
    newest: dict[str, Row] = {}
    for r in everything:
        newest.setdefault(r.id, r)
    for r in result:
        assert r is newest[r.id]
    # exactly the newest `cap` distinct ids, in newest-first order
    expected = list(newest.values())
    assert result == (expected if cap is None else expected[:cap])


# --- JSONL dataset files ---------------------------------------------------------------------


def test_dumps_line_is_canonical_utf8_with_newline() -> None:
    assert dumps_line({"b": "é", "a": None}) == '{"a":null,"b":"é"}\n'.encode()


def test_dumps_line_refuses_nan() -> None:
    with pytest.raises(ValueError, match="JSON"):
        dumps_line({"x": float("inf")})


def test_rows_round_trip_through_a_gzipped_jsonl_file() -> None:
    rows = [
        Row(id="1", input="q", expected="a", rubric=None, messages=None, metadata={"tags": ["t"]}),
        Row(id="c_2", input="é", messages=[{"role": "user", "content": "é"}]),
    ]
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb") as out:
        for r in rows:
            out.write(dumps_line(r.to_json()))
    buffer.seek(0)
    with gzip.GzipFile(fileobj=buffer, mode="rb") as lines:
        assert [Row.from_json(d) for d in iter_lines(lines)] == rows


def test_iter_lines_reads_text_streams_and_skips_blank_lines() -> None:
    text = io.StringIO('\ufeff{"a":1}\n\n   \n{"b":2}\r\n{"c":3}')
    assert list(iter_lines(text)) == [{"a": 1}, {"b": 2}, {"c": 3}]


def test_iter_lines_reads_binary_streams_with_a_bom() -> None:
    data = io.BytesIO(b'\xef\xbb\xbf{"a":1}\n\n{"b":"\xc3\xa9"}\n')
    assert list(iter_lines(data)) == [{"a": 1}, {"b": "é"}]


@pytest.mark.parametrize(
    ("lines", "number", "words"),
    [
        ([b'{"a":1}\n', b"{oops\n"], 2, "not valid JSON"),
        ([b"\n", b"[1,2]\n"], 2, "JSON array, not an object"),
        ([b'"text"\n'], 1, "JSON string, not an object"),
        ([b'{"a":1}\n', b'{"a":1}\n', b"\xff\xfe\n"], 3, "not valid UTF-8"),
    ],
)
def test_iter_lines_errors_name_the_line(lines: list[bytes], number: int, words: str) -> None:
    with pytest.raises(JsonlError, match=words) as caught:
        list(iter_lines(lines))
    assert caught.value.line == number
    assert f"line {number}" in str(caught.value)


@pytest.mark.parametrize(
    ("value", "name"),
    [
        (None, "null"),
        (True, "boolean"),
        (False, "boolean"),
        (0, "number"),
        (2.5, "number"),
        ("", "string"),
        ([], "array"),
        ({}, "object"),
        (b"x", "bytes"),  # not a parsed JSON value: its Python type, never "null"
    ],
)
def test_json_type_name_is_the_json_name_of_a_parsed_value(value: object, name: str) -> None:
    assert json_type_name(value) == name

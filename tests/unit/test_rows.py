"""Pushed rows → normalised rows: body shapes, every field rule, every rejection."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.domain.chat_messages import render_messages
from shared.domain.jsonl import canonical_bytes, canonical_json
from shared.domain.rows import (
    BodyShapeError,
    Row,
    RowRejection,
    content_id,
    extract_rows,
    normalise_rows,
)

LIMIT = 10_000


def accept(raw: dict[str, Any], *, max_row_bytes: int = LIMIT) -> Row:
    accepted, rejected = normalise_rows([raw], max_row_bytes=max_row_bytes)
    assert rejected == [], rejected
    [(index, row)] = accepted
    assert index == 0
    return row


def reject(raw: Any, *, max_row_bytes: int = LIMIT) -> RowRejection:
    accepted, rejected = normalise_rows([raw], max_row_bytes=max_row_bytes)
    assert accepted == []
    [rejection] = rejected
    assert rejection.index == 0
    assert isinstance(rejection.message, str) and rejection.message  # every rejection says why
    return rejection


# --- body shapes -----------------------------------------------------------------------------


def test_single_row_object_is_one_row() -> None:
    body = {"input": "hi"}
    assert extract_rows(body) == [body]


def test_array_is_the_rows() -> None:
    body = [{"input": "a"}, {"input": "b"}]
    assert extract_rows(body) == body


def test_empty_array_is_allowed() -> None:
    assert extract_rows([]) == []


@pytest.mark.parametrize("key", ["rows", "events", "samples"])
def test_object_wrapping_one_array(key: str) -> None:
    rows = [{"input": "a"}, 3]
    assert extract_rows({key: rows, "source": "app"}) == rows


@pytest.mark.parametrize("key", ["rows", "events", "samples"])
def test_object_wrapping_an_empty_array(key: str) -> None:
    assert extract_rows({key: []}) == []


def test_two_wrapping_arrays_are_a_shape_error() -> None:
    with pytest.raises(BodyShapeError, match="exactly one of"):
        extract_rows({"rows": [], "events": [{"input": "x"}]})


def test_wrapping_key_without_an_array_is_a_plain_row() -> None:
    body = {"input": "hi", "rows": "not a list"}
    assert extract_rows(body) == [body]


@pytest.mark.parametrize("body", ["text", 3, 2.5, True, None])
def test_scalar_body_is_a_shape_error(body: Any) -> None:
    with pytest.raises(BodyShapeError, match="row object, an array of rows"):
        extract_rows(body)


def test_body_shape_error_is_a_value_error() -> None:
    assert issubclass(BodyShapeError, ValueError)


# --- content ids and canonical JSON ----------------------------------------------------------


def test_content_id_is_pinned() -> None:
    # Computed once; if this changes, every stored dataset's dedupe breaks.
    assert content_id("hello") == "c_fa9262e355d37fa4ebf358ee06ba4c6b"
    assert content_id("") == "c_b6fd0bf9187858a73fab0734474ff0f0"
    assert content_id("héllo ✓") == "c_9b377529ed40166498cf9114767c1701"


def test_content_id_shape() -> None:
    cid = content_id("anything")
    assert cid.startswith("c_")
    assert len(cid) == 34
    int(cid[2:], 16)


def test_canonical_json_is_compact_sorted_and_utf8() -> None:
    assert canonical_json({"b": 1, "a": [1, {"d": "é", "c": None}]}) == (
        '{"a":[1,{"c":null,"d":"é"}],"b":1}'
    )


def test_canonical_json_refuses_nan() -> None:
    with pytest.raises(ValueError, match="JSON"):
        canonical_json({"x": float("nan")})


# --- input -----------------------------------------------------------------------------------


@pytest.mark.parametrize("alias", ["input", "prompt", "question", "query"])
def test_each_input_alias(alias: str) -> None:
    row = accept({alias: "What is 2+2?"})
    assert row.input == "What is 2+2?"
    assert alias not in row.metadata


def test_input_alias_precedence_keeps_the_others_in_metadata() -> None:
    row = accept({"query": "q", "question": "qq", "prompt": "p", "input": "i"})
    assert row.input == "i"
    assert row.metadata == {"query": "q", "question": "qq", "prompt": "p"}


@pytest.mark.parametrize(
    ("raw", "chosen"),
    [
        ({"prompt": "p", "question": "q"}, "p"),
        ({"question": "q", "query": "x"}, "q"),
        ({"input": None, "prompt": "p"}, "p"),
        ({"input": "", "prompt": "p"}, "p"),
        ({"input": "  \n\t", "question": "q"}, "q"),
    ],
)
def test_input_skips_null_and_blank(raw: dict[str, Any], chosen: str) -> None:
    assert accept(raw).input == chosen


def test_unchosen_blank_and_null_aliases_are_kept_in_metadata() -> None:
    row = accept({"input": None, "prompt": " ", "query": "q"})
    assert row.metadata == {"input": None, "prompt": " "}


def test_input_string_is_kept_exactly() -> None:
    assert accept({"input": "  padded\n"}).input == "  padded\n"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (42, "42"),
        (-3, "-3"),
        (2.5, "2.5"),
        (0, "0"),
        (True, "true"),
        (False, "false"),
        ({"b": 2, "a": [1, "x"]}, '{"a":[1,"x"],"b":2}'),
        ([3, {"z": 1, "y": "é"}], '[3,{"y":"é","z":1}]'),
        ({}, "{}"),
        ([], "[]"),
    ],
)
def test_input_coercion(value: Any, text: str) -> None:
    assert accept({"input": value}).input == text


def test_no_input_at_all_is_missing_input() -> None:
    rejection = reject({"output": "an answer"})
    assert rejection.code == "missing_input"
    assert rejection.message == (
        "row has no input: give one of input, prompt, question, query or messages"
    )


def test_empty_row_is_missing_input() -> None:
    assert reject({}).code == "missing_input"


def test_blank_input_only_is_missing_input_and_says_so() -> None:
    rejection = reject({"input": "   ", "prompt": None})
    assert rejection.code == "missing_input"
    assert "input, prompt: empty or null" in rejection.message


# --- expected --------------------------------------------------------------------------------


@pytest.mark.parametrize("alias", ["output", "response", "completion", "answer", "expected"])
def test_each_expected_alias(alias: str) -> None:
    row = accept({"input": "q", alias: "A"})
    assert row.expected == "A"
    assert alias not in row.metadata


def test_expected_alias_precedence_keeps_the_others_in_metadata() -> None:
    row = accept(
        {
            "input": "q",
            "expected": "e",
            "answer": "a",
            "completion": "c",
            "response": "r",
            "output": "o",
        }
    )
    assert row.expected == "o"
    assert row.metadata == {"expected": "e", "answer": "a", "completion": "c", "response": "r"}


def test_expected_skips_null() -> None:
    row = accept({"input": "q", "output": None, "answer": "a"})
    assert row.expected == "a"
    assert row.metadata == {"output": None}


def test_expected_empty_string_is_an_answer() -> None:
    row = accept({"input": "q", "output": "", "answer": "a"})
    assert row.expected == ""
    assert row.metadata == {"answer": "a"}


def test_expected_absent_or_null_is_none() -> None:
    assert accept({"input": "q"}).expected is None
    assert accept({"input": "q", "expected": None}).expected is None


@pytest.mark.parametrize(
    ("value", "text"),
    [(7, "7"), (0.1, "0.1"), (True, "true"), (False, "false"), ({"k": [1]}, '{"k":[1]}')],
)
def test_expected_coercion(value: Any, text: str) -> None:
    assert accept({"input": "q", "output": value}).expected == text


# --- rubric ----------------------------------------------------------------------------------


def test_rubric_string_and_null() -> None:
    assert accept({"input": "q", "rubric": "be kind"}).rubric == "be kind"
    assert accept({"input": "q", "rubric": None}).rubric is None
    assert accept({"input": "q"}).rubric is None


@pytest.mark.parametrize("value", [1, True, ["x"], {"a": 1}])
def test_rubric_of_another_type_is_rejected(value: Any) -> None:
    rejection = reject({"input": "q", "rubric": value})
    assert rejection.code == "invalid_field"
    assert rejection.field == "rubric"
    assert "rubric" in rejection.message
    assert "string or null" in rejection.message


# --- ids -------------------------------------------------------------------------------------


@pytest.mark.parametrize("alias", ["id", "example_id", "trace_id"])
def test_each_id_alias(alias: str) -> None:
    row = accept({"input": "q", alias: "row-1"})
    assert row.id == "row-1"
    assert alias not in row.metadata


def test_id_alias_precedence_keeps_the_others_in_metadata() -> None:
    row = accept({"input": "q", "trace_id": "t", "example_id": "e", "id": "i"})
    assert row.id == "i"
    assert row.metadata == {"trace_id": "t", "example_id": "e"}


def test_id_skips_null() -> None:
    row = accept({"input": "q", "id": None, "trace_id": "t"})
    assert row.id == "t"


def test_integer_ids_become_text() -> None:
    assert accept({"input": "q", "id": 12}).id == "12"
    assert accept({"input": "q", "example_id": -4}).id == "-4"
    assert accept({"input": "q", "trace_id": 0}).id == "0"


def test_id_string_kept_exactly_and_up_to_256_characters() -> None:
    assert accept({"input": "q", "id": " a b "}).id == " a b "
    assert accept({"input": "q", "id": "x" * 256}).id == "x" * 256


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (True, "boolean"),
        (1.5, "number"),
        (["a"], "array"),
        ({"a": 1}, "object"),
        ("", "is empty"),
        ("   ", "is empty"),
        ("x" * 257, "257 characters"),
    ],
)
def test_invalid_ids(value: Any, problem: str) -> None:
    rejection = reject({"input": "q", "example_id": value})
    assert rejection.code == "invalid_id"
    assert rejection.field == "example_id"
    assert problem in rejection.message
    assert "example_id" in rejection.message


def test_row_without_id_gets_the_content_id_of_its_input() -> None:
    row = accept({"prompt": "hello"})
    assert row.id == content_id("hello") == "c_fa9262e355d37fa4ebf358ee06ba4c6b"


def test_identical_inputs_share_a_content_id_whatever_else_differs() -> None:
    a = accept({"input": "same", "output": "one", "tags": "x"})
    b = accept({"question": "same", "answer": "two"})
    assert a.id == b.id


def test_content_id_uses_the_coerced_input() -> None:
    assert accept({"input": {"b": 1, "a": 2}}).id == content_id('{"a":2,"b":1}')


# --- metadata --------------------------------------------------------------------------------


def test_unknown_fields_are_kept_in_metadata() -> None:
    row = accept({"input": "q", "score": 0.9, "nested": {"a": [1]}, "flag": None})
    assert row.metadata == {"score": 0.9, "nested": {"a": [1]}, "flag": None}


def test_explicit_metadata_is_merged() -> None:
    row = accept({"input": "q", "metadata": {"source": "app", "v": 2}, "extra": True})
    assert row.metadata == {"source": "app", "v": 2, "extra": True}


def test_explicit_metadata_wins_over_top_level_fields() -> None:
    row = accept({"input": "q", "source": "top", "model": "m1", "metadata": {"source": "meta"}})
    assert row.metadata == {"source": "meta", "model": "m1"}


def test_explicit_metadata_wins_over_unchosen_aliases() -> None:
    row = accept({"input": "q", "prompt": "top", "metadata": {"prompt": "meta"}})
    assert row.metadata == {"prompt": "meta"}


def test_null_metadata_is_no_metadata() -> None:
    assert accept({"input": "q", "metadata": None}).metadata == {}


@pytest.mark.parametrize("value", ["x", 1, [1], True])
def test_metadata_not_an_object_is_rejected(value: Any) -> None:
    rejection = reject({"input": "q", "metadata": value})
    assert rejection.code == "invalid_field"
    assert rejection.field == "metadata"
    assert "object" in rejection.message


def test_structural_fields_are_not_copied_into_metadata() -> None:
    row = accept(
        {
            "input": "q",
            "output": "a",
            "id": "1",
            "rubric": "r",
            "messages": [{"role": "user", "content": "m"}],
            "metadata": {"k": 1},
        }
    )
    assert row.metadata == {"k": 1}


# --- known metadata fields -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value", "stored"),
    [
        ("tags", ["a", "b"], ["a", "b"]),
        ("tags", [], []),
        ("tags", "solo", ["solo"]),
        ("user_id", "u1", "u1"),
        ("user_id", 17, "17"),
        ("session_id", "s", "s"),
        ("session_id", 5, "5"),
        ("conversation_id", "c", "c"),
        ("conversation_id", 0, "0"),
        ("latency_ms", 0, 0),
        ("latency_ms", 812.5, 812.5),
        ("cost_usd", 0.0003, 0.0003),
        ("cost_usd", 2, 2),
        ("model", "gpt-x", "gpt-x"),
        ("provider", "openrouter", "openrouter"),
    ],
)
def test_known_metadata_fields(name: str, value: Any, stored: Any) -> None:
    assert accept({"input": "q", name: value}).metadata == {name: stored}
    assert accept({"input": "q", "metadata": {name: value}}).metadata == {name: stored}


@pytest.mark.parametrize(
    "name",
    [
        "tags",
        "user_id",
        "session_id",
        "conversation_id",
        "latency_ms",
        "cost_usd",
        "model",
        "provider",
    ],
)
def test_known_metadata_fields_may_be_null(name: str) -> None:
    assert accept({"input": "q", name: None}).metadata == {name: None}


@pytest.mark.parametrize(
    ("name", "value", "expected_type"),
    [
        ("tags", 3, "a string or an array of strings"),
        ("tags", ["a", 1], "a string or an array of strings"),
        ("tags", {"a": 1}, "a string or an array of strings"),
        ("user_id", True, "a string or an integer"),
        ("user_id", 1.5, "a string or an integer"),
        ("session_id", ["s"], "a string or an integer"),
        ("conversation_id", {"id": 1}, "a string or an integer"),
        ("latency_ms", "12", "a number ≥ 0"),
        ("latency_ms", True, "a number ≥ 0"),
        ("latency_ms", -1, "≥ 0"),
        ("cost_usd", -0.01, "≥ 0"),
        ("cost_usd", False, "a number ≥ 0"),
        ("model", 4, "a string"),
        ("provider", ["p"], "a string"),
    ],
)
def test_known_metadata_field_of_wrong_type(name: str, value: Any, expected_type: str) -> None:
    rejection = reject({"input": "q", name: value})
    assert rejection.code == "invalid_field"
    assert rejection.field == name
    assert name in rejection.message
    assert expected_type in rejection.message


def test_known_field_inside_metadata_is_named_with_its_path() -> None:
    rejection = reject({"input": "q", "tags": ["ok"], "metadata": {"tags": 5}})
    assert rejection.code == "invalid_field"
    assert rejection.field == "metadata.tags"
    assert "metadata.tags" in rejection.message


def test_valid_metadata_known_field_overrides_invalid_top_level_one() -> None:
    row = accept({"input": "q", "latency_ms": "slow", "metadata": {"latency_ms": 40}})
    assert row.metadata == {"latency_ms": 40}


# --- rejections: whole row -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        ("text", "string"),
        (1, "number"),
        (None, "null"),
        ([{"input": "x"}], "array"),
        (False, "boolean"),
    ],
)
def test_row_not_object(raw: Any, kind: str) -> None:
    rejection = reject(raw)
    assert rejection.code == "row_not_object"
    assert kind in rejection.message


def test_row_too_large_gives_size_and_limit() -> None:
    raw = {"input": "x" * 100}
    size = len(canonical_json(raw).encode())
    assert accept(raw, max_row_bytes=size).input == "x" * 100
    rejection = reject(raw, max_row_bytes=size - 1)
    assert rejection.code == "row_too_large"
    assert str(size) in rejection.message
    assert str(size - 1) in rejection.message


def test_row_size_counts_utf8_bytes() -> None:
    raw = {"input": "é" * 10}
    size = len(canonical_json(raw).encode())
    assert size == len(canonical_json(raw)) + 10
    assert reject(raw, max_row_bytes=size - 1).code == "row_too_large"


def test_too_large_is_checked_before_field_rules() -> None:
    assert reject({"id": True}, max_row_bytes=5).code == "row_too_large"


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_numbers_are_rejected(value: float) -> None:
    rejection = reject({"input": "q", "latency_ms": value})
    assert rejection.code == "invalid_field"
    assert rejection.field == "latency_ms"


def test_unpaired_surrogate_is_rejected() -> None:
    rejection = reject(json.loads('{"input": "bad \\ud800 text"}'))
    assert rejection.code == "invalid_field"
    assert rejection.field == "input"


@pytest.mark.parametrize(
    "raw",
    [
        '{"input": "q", "bad \\ud800 key": 1}',
        '{"input": "q", "\\udfff": "\\ud800"}',
        '{"\\ud800": [1], "input": "q", "tags": "t"}',
    ],
)
def test_an_unpaired_surrogate_in_a_key_is_rejected_and_the_rejection_can_be_sent(
    raw: str,
) -> None:
    # The key itself cannot be written as JSON, so the rejection must not name it: its field
    # and message go into the push answer, the trace and the idempotent replay.
    rejection = reject(json.loads(raw))
    assert rejection.code == "invalid_field"
    assert rejection.field is None
    canonical_bytes({"field": rejection.field, "message": rejection.message})


def test_a_bad_value_is_named_even_when_a_key_is_also_bad() -> None:
    rejection = reject({"input": "q", "\ud800": 1, "latency_ms": float("nan")})
    assert rejection.code == "invalid_field"
    assert rejection.field == "latency_ms"


def test_a_bad_value_deep_inside_a_field_names_that_field() -> None:
    rejection = reject({"input": "q", "metadata": {"a": [1, {"\ud800": 2}]}})
    assert rejection.code == "invalid_field"
    assert rejection.field == "metadata"


def test_indices_are_kept_for_accepted_and_rejected_rows() -> None:
    raws: list[Any] = [{"input": "a"}, "x", {"output": "no input"}, {"prompt": "b"}, {"id": [1]}]
    accepted, rejected = normalise_rows(raws, max_row_bytes=LIMIT)
    assert [(i, row.input) for i, row in accepted] == [(0, "a"), (3, "b")]
    assert [(r.index, r.code) for r in rejected] == [
        (1, "row_not_object"),
        (2, "missing_input"),
        (4, "invalid_id"),
    ]


def test_no_rows_no_results() -> None:
    assert normalise_rows([], max_row_bytes=LIMIT) == ([], [])


# --- messages --------------------------------------------------------------------------------


def test_messages_with_string_content_become_the_input() -> None:
    messages = [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Hi?"},
    ]
    row = accept({"messages": messages, "output": "Hello."})
    assert row.input == "system: You are terse.\n\nuser: Hi?"
    assert row.messages == messages
    assert row.expected == "Hello."
    assert row.id == content_id(row.input)


def test_content_parts_text_image_audio_and_other() -> None:
    content = [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "https://x/y.png"}},
        {"type": "input_audio", "input_audio": {"data": "..", "format": "wav"}},
        {"type": "file", "file": {"file_id": "f"}},
        {"type": "text", "text": "Thanks"},
    ]
    assert render_messages([{"role": "user", "content": content}]) == (
        "user: What is this?\n[image]\n[audio]\n[file]\nThanks"
    )


def test_null_and_empty_content_messages_are_left_out() -> None:
    messages: list[dict[str, Any]] = [
        {"role": "user", "content": "Q"},
        {"role": "assistant", "content": None},
        {"role": "assistant"},
        {"role": "assistant", "content": "  "},
        {"role": "assistant", "content": []},
        {"role": "user", "content": "again"},
    ]
    assert render_messages(messages) == "user: Q\n\nuser: again"


def test_tool_calls_render_as_calls() -> None:
    messages: list[dict[str, Any]] = [
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
    ]
    assert render_messages(messages) == (
        'user: Weather in Paris?\n\nassistant: [tool call get_weather({"city":"Paris"})]'
        "\n\ntool: 18C"
    )


def test_tool_calls_with_text_several_calls_and_object_arguments() -> None:
    message = {
        "role": "assistant",
        "content": "Checking.",
        "tool_calls": [
            {"function": {"name": "a", "arguments": {"y": 1, "x": 2}}},
            {"function": {"name": "b"}},
        ],
    }
    assert (
        render_messages([message])
        == 'assistant: Checking.\n[tool call a({"x":2,"y":1})]\n[tool call b()]'
    )


def test_legacy_function_call_renders_as_a_call() -> None:
    message = {
        "role": "assistant",
        "content": None,
        "function_call": {"name": "f", "arguments": "1"},
    }
    assert render_messages([message]) == "assistant: [tool call f(1)]"


def test_input_wins_over_messages_and_messages_are_kept() -> None:
    messages = [{"role": "user", "content": "from messages"}]
    row = accept({"input": "from input", "messages": messages})
    assert row.input == "from input"
    assert row.messages == messages


def test_null_messages_are_no_messages() -> None:
    row = accept({"input": "q", "messages": None})
    assert row.messages is None
    assert "messages" not in row.metadata
    assert reject({"messages": None}).code == "missing_input"


def test_messages_without_text_are_missing_input() -> None:
    rejection = reject({"messages": [{"role": "assistant", "content": None}]})
    assert rejection.code == "missing_input"
    assert "messages" in rejection.message


@pytest.mark.parametrize(
    ("messages", "words"),
    [
        ([], "non-empty array"),
        ("hello", "non-empty array"),
        ({"role": "user", "content": "x"}, "non-empty array"),
        ([{"role": "user", "content": "ok"}, "text"], "messages[1] must be an object"),
        ([{"content": "x"}], "messages[0].role must be a non-empty string"),
        ([{"role": 3, "content": "x"}], "messages[0].role"),
        ([{"role": "", "content": "x"}], "messages[0].role"),
        (
            [{"role": "user", "content": 5}],
            "messages[0].content must be a string, null or an array",
        ),
        ([{"role": "user", "content": {"text": "x"}}], "messages[0].content must be"),
        ([{"role": "user", "content": ["x"]}], "messages[0].content[0] must be a content part"),
        ([{"role": "user", "content": [{"text": "x"}]}], "messages[0].content[0] must be"),
        (
            [{"role": "user", "content": [{"type": "text", "text": 3}]}],
            "messages[0].content[0].text must be a string",
        ),
        ([{"role": "assistant", "tool_calls": {}}], "messages[0].tool_calls must be an array"),
        (
            [{"role": "assistant", "tool_calls": [{"function": {"arguments": "{}"}}]}],
            "messages[0].tool_calls[0].function must be an object with a string 'name'",
        ),
        (
            [{"role": "assistant", "tool_calls": ["call"]}],
            "messages[0].tool_calls[0].function",
        ),
        ([{"role": "assistant", "function_call": "f"}], "messages[0].function_call"),
    ],
)
def test_invalid_messages(messages: Any, words: str) -> None:
    rejection = reject({"messages": messages})
    assert rejection.code == "invalid_messages"
    assert rejection.field == "messages"
    assert words in rejection.message
    with pytest.raises(ValueError, match="messages"):
        render_messages(messages)


@pytest.mark.parametrize("kind", [5, True, ["text"], {"t": 1}, "", None])
def test_a_content_part_type_must_be_a_non_empty_string(kind: Any) -> None:
    # Not rendered as "[5]": a part we cannot name is an invalid message, not text.
    messages = [{"role": "user", "content": [{"type": kind, "text": "x"}]}]
    rejection = reject({"messages": messages})
    assert rejection.code == "invalid_messages"
    assert rejection.field == "messages"
    assert reject({"input": "q", "messages": messages}).code == "invalid_messages"


def test_invalid_messages_reject_the_row_even_with_an_input() -> None:
    rejection = reject({"input": "q", "messages": [{"role": "user", "content": 5}]})
    assert rejection.code == "invalid_messages"


# --- Row JSON --------------------------------------------------------------------------------


def test_to_json_omits_absent_messages_and_keeps_nulls() -> None:
    row = Row(id="1", input="q", expected=None, rubric=None, messages=None, metadata={"a": 1})
    assert row.to_json() == {
        "id": "1",
        "input": "q",
        "expected": None,
        "rubric": None,
        "metadata": {"a": 1},
    }


def test_to_json_from_json_round_trip() -> None:
    row = accept(
        {
            "messages": [{"role": "user", "content": "hi"}],
            "answer": "yo",
            "rubric": "short",
            "tags": "t",
            "trace_id": 9,
        }
    )
    data = json.loads(canonical_json(row.to_json()))
    assert data["messages"] == [{"role": "user", "content": "hi"}]
    assert Row.from_json(data) == row


def test_from_json_defaults_and_errors() -> None:
    assert Row.from_json({"id": "1", "input": "q"}) == Row(id="1", input="q")
    bad: Any
    for bad in (
        [],
        {"input": "q"},
        {"id": 1, "input": "q"},
        {"id": "1", "input": None},
        {"id": "1", "input": "q", "expected": 3},
        {"id": "1", "input": "q", "rubric": []},
        {"id": "1", "input": "q", "messages": "x"},
        {"id": "1", "input": "q", "metadata": None},
    ):
        with pytest.raises(ValueError, match="dataset row"):
            Row.from_json(bad)  # type: ignore[arg-type]


def test_row_is_frozen() -> None:
    row = Row(id="1", input="q")
    with pytest.raises(AttributeError):
        row.input = "changed"  # type: ignore[misc]


# --- properties ------------------------------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=10,
)
field_names = st.sampled_from(
    [
        *("input", "prompt", "query", "output", "id", "trace_id", "rubric", "metadata"),
        *("messages", "tags", "latency_ms", "user_id", "model", "other"),
    ]
)
parts = st.fixed_dictionaries({"type": st.just("text"), "text": st.text(max_size=5)}) | st.builds(
    lambda kind: {"type": kind}, st.sampled_from(["image_url", "input_audio", "file"])
)
messages = st.lists(
    st.fixed_dictionaries(
        {
            "role": st.sampled_from(["system", "user", "assistant"]),
            "content": st.none() | st.text(max_size=6) | st.lists(parts, max_size=3),
        }
    ),
    min_size=1,
    max_size=3,
)
raw_rows = st.lists(
    json_values | st.dictionaries(field_names, json_values | messages, max_size=6), max_size=8
)


@given(raw_rows, st.integers(min_value=1, max_value=400))
def test_normalise_never_raises_and_accounts_for_every_row(rows: list[Any], limit: int) -> None:
    accepted, rejected = normalise_rows(rows, max_row_bytes=limit)
    indices = sorted([i for i, _ in accepted] + [r.index for r in rejected])
    assert indices == list(range(len(rows)))
    for _, row in accepted:
        assert row.input.strip()
        assert 0 < len(row.id) <= 256
        assert Row.from_json(json.loads(canonical_json(row.to_json()))) == row
    for rejection in rejected:
        assert rejection.message


unknown_names = st.text(min_size=1, max_size=8).filter(
    lambda name: (
        name
        not in {"input", "prompt", "question", "query", "messages", "output", "response"}
        | {"completion", "answer", "expected", "rubric", "id", "example_id", "trace_id", "metadata"}
        | {"tags", "user_id", "session_id", "conversation_id", "latency_ms", "cost_usd", "model"}
        | {"provider"}
    )
)


@given(
    st.text(min_size=1).filter(str.strip),
    st.dictionaries(unknown_names, json_values, max_size=5),
    messages | st.none(),
)
def test_rows_with_input_keep_every_unknown_field(
    text: str, extra: dict[str, Any], chat: list[dict[str, Any]] | None
) -> None:
    row = accept({"input": text, "messages": chat, **extra}, max_row_bytes=10**6)
    assert row.input == text
    assert row.id == content_id(text)
    assert row.messages == chat
    assert row.metadata == extra

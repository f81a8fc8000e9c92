"""What ``POST /v1/leaderboard/{id}/dataset/push`` accepts, and how rows land in the dataset.

Rows are checked one by one: a bad row is rejected with its index, a code and a sentence, and
the good rows of the same push are accepted. Where the normalised row matters, the test
consolidates and reads the JSONL back through ``GET .../dataset/download``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.errors import assert_error, strict_json

MAX_BODY = 5 * 1024 * 1024
CONTENT_ID = re.compile(r"^c_[0-9a-f]{32}$")

# The product doc's curl example, byte for byte (``-d '...'``).
CURL_BODY = """{
"input": "What did the user ask?",
"output": "The answer your current LLM returned"
}"""


@pytest.fixture
def api(workspace):
    return workspace.api


@pytest.fixture
def lb(api) -> str:
    # No automatic consolidation: the tests consolidate when they want to look at the dataset.
    return api.create_push_leaderboard(
        daily_limit=100_000, monthly_limit=1_000_000, consolidate_every_events=None
    )


def push_ok(api, lb: str, body: Any, **kw: Any) -> dict[str, Any]:
    r = api.push(lb, body, **kw)
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["leaderboard_id"] == lb
    assert answer["batch_id"]
    return answer


def raw_push(api, lb: str, content: Any, content_type: str | None = "application/json", **kw):
    headers = {"Content-Type": content_type} if content_type else {}
    return api.post(f"/v1/leaderboard/{lb}/dataset/push", content=content, headers=headers, **kw)


def dataset(api, lb: str) -> dict[str, dict[str, Any]]:
    """Consolidate, download the JSONL, and return its rows by id."""
    c = api.post(f"/v1/leaderboard/{lb}/dataset/consolidate")
    assert c.status_code == 200, c.text
    d = api.get(f"/v1/leaderboard/{lb}/dataset/download")
    assert d.status_code == 200, d.text
    assert d.headers["content-type"].startswith("application/jsonl")
    rows = [json.loads(line) for line in d.text.splitlines() if line.strip()]
    by_id = {row["id"]: row for row in rows}
    assert len(by_id) == len(rows), "duplicate ids in the dataset"
    assert c.json()["version"]["rows"] == len(rows)
    return by_id


def pending(api, lb: str) -> int:
    r = api.get(f"/v1/leaderboard/{lb}/dataset/status")
    assert r.status_code == 200, r.text
    return int(r.json()["counts"]["pending"])


# -- the documented example and body shapes --------------------------------------------------


def test_curl_example_verbatim(workspace, lb):
    assert workspace.token.startswith("drgero_")
    r = httpx.post(
        f"{workspace.api.http.base_url}/v1/leaderboard/{lb}/dataset/push",
        headers={"Authorization": f"Bearer {workspace.token}", "Content-Type": "application/json"},
        content=CURL_BODY.encode(),
    )
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["accepted"] == 1
    assert answer["received"] == 1
    assert answer["rejected"] == []
    assert len(answer["accepted_ids"]) == 1
    assert CONTENT_ID.match(answer["accepted_ids"][0])

    rows = dataset(workspace.api, lb)
    row = rows[answer["accepted_ids"][0]]
    assert row["input"] == "What did the user ask?"
    assert row["expected"] == "The answer your current LLM returned"
    assert row["rubric"] is None
    assert row["metadata"] == {}


@pytest.mark.parametrize(
    ("shape", "expected"),
    [
        ("object", 1),
        ("array", 3),
        ("rows", 3),
        ("events", 3),
        ("samples", 3),
    ],
)
def test_body_shapes(api, lb, shape, expected):
    rows = [{"id": f"{shape}-{i}", "input": f"{shape} question {i}"} for i in range(3)]
    body: Any = {
        "object": rows[0],
        "array": rows,
        "rows": {"rows": rows},
        "events": {"events": rows},
        "samples": {"samples": rows},
    }[shape]
    answer = push_ok(api, lb, body)
    assert answer["received"] == expected
    assert answer["accepted"] == expected
    assert answer["accepted_ids"] == [r["id"] for r in rows[:expected]]
    assert answer["rejected"] == []
    assert pending(api, lb) == expected


@pytest.mark.parametrize("keys", [("rows", "events"), ("events", "samples"), ("rows", "samples")])
def test_two_array_keys_is_400(api, lb, keys):
    body = {key: [{"input": "a"}] for key in keys}
    error = assert_error(api.push(lb, body), 400, "invalid_body_shape")
    for key in keys:
        assert key in error["message"]
    assert pending(api, lb) == 0


@pytest.mark.parametrize("raw", [b'"just text"', b"42", b"true", b"null"])
def test_scalar_body_is_400(api, lb, raw):
    error = assert_error(raw_push(api, lb, raw), 400, "invalid_body_shape")
    assert "rows" in error["message"]


# -- aliases --------------------------------------------------------------------------------


def test_every_input_alias(api, lb):
    rows = [
        {"id": "via-input", "input": "from input"},
        {"id": "via-prompt", "prompt": "from prompt"},
        {"id": "via-question", "question": "from question"},
        {"id": "via-query", "query": "from query"},
    ]
    answer = push_ok(api, lb, rows)
    assert answer["accepted"] == 4
    got = dataset(api, lb)
    for alias in ("input", "prompt", "question", "query"):
        row = got[f"via-{alias}"]
        assert row["input"] == f"from {alias}"
        assert alias not in row["metadata"], "the chosen alias is not repeated in metadata"


def test_input_alias_precedence_keeps_the_others_in_metadata(api, lb):
    push_ok(
        api,
        lb,
        [
            {"id": "a", "query": "q", "prompt": "p", "input": "i"},
            {"id": "b", "query": "q", "question": "qq"},
            {"id": "c", "input": "   ", "prompt": "p2"},  # blank input counts as absent
        ],
    )
    got = dataset(api, lb)
    assert got["a"]["input"] == "i"
    assert got["a"]["metadata"] == {"prompt": "p", "query": "q"}
    assert got["b"]["input"] == "qq"
    assert got["b"]["metadata"] == {"query": "q"}
    assert got["c"]["input"] == "p2"


def test_non_string_input_becomes_text(api, lb):
    push_ok(
        api,
        lb,
        [
            {"id": "n", "input": 42},
            {"id": "o", "input": {"b": 1, "a": [1, 2]}},
            {"id": "t", "input": True},
        ],
    )
    got = dataset(api, lb)
    assert got["n"]["input"] == "42"
    assert json.loads(got["o"]["input"]) == {"a": [1, 2], "b": 1}
    assert got["t"]["input"] == "true"


def test_every_expected_alias(api, lb):
    aliases = ("output", "response", "completion", "answer", "expected")
    rows = [{"id": f"via-{a}", "input": f"q {a}", a: f"from {a}"} for a in aliases]
    rows.append({"id": "none", "input": "no answer"})
    rows.append({"id": "empty", "input": "empty answer", "output": ""})
    push_ok(api, lb, rows)
    got = dataset(api, lb)
    for alias in aliases:
        assert got[f"via-{alias}"]["expected"] == f"from {alias}"
        assert got[f"via-{alias}"]["metadata"] == {}
    assert got["none"]["expected"] is None
    assert got["empty"]["expected"] == ""


def test_expected_alias_precedence(api, lb):
    push_ok(api, lb, {"id": "x", "input": "q", "expected": "e", "output": "o", "answer": "a"})
    row = dataset(api, lb)["x"]
    assert row["expected"] == "o"
    assert row["metadata"] == {"expected": "e", "answer": "a"}


@pytest.mark.parametrize("alias", ["id", "example_id", "trace_id"])
def test_every_id_alias(api, lb, alias):
    answer = push_ok(api, lb, {alias: f"my-{alias}", "input": "q"})
    assert answer["accepted_ids"] == [f"my-{alias}"]
    row = dataset(api, lb)[f"my-{alias}"]
    assert row["input"] == "q"
    assert alias not in row["metadata"]


def test_id_alias_precedence(api, lb):
    answer = push_ok(api, lb, {"trace_id": "t", "example_id": "e", "id": "i", "input": "q"})
    assert answer["accepted_ids"] == ["i"]
    assert dataset(api, lb)["i"]["metadata"] == {"example_id": "e", "trace_id": "t"}


def test_numeric_id(api, lb):
    answer = push_ok(api, lb, [{"id": 12345, "input": "a"}, {"example_id": 0, "input": "b"}])
    assert answer["accepted_ids"] == ["12345", "0"]
    got = dataset(api, lb)
    assert got["12345"]["input"] == "a"
    assert got["0"]["input"] == "b"


@pytest.mark.parametrize("bad", [1.5, True, "", "   ", ["x"], {"k": 1}, "x" * 257])
def test_invalid_id_is_rejected(api, lb, bad):
    answer = push_ok(api, lb, [{"id": bad, "input": "q"}, {"id": "fine", "input": "q"}])
    assert answer["accepted_ids"] == ["fine"]
    assert len(answer["rejected"]) == 1
    rejection = answer["rejected"][0]
    assert rejection["index"] == 0
    assert rejection["code"] == "invalid_id"
    assert rejection["field"] == "id"
    assert "id" in rejection["message"]


# -- messages -------------------------------------------------------------------------------


def test_messages_become_the_input(api, lb):
    messages = [
        {"role": "system", "content": "You are a support agent."},
        {"role": "user", "content": [{"type": "text", "text": "My order is late."},
                                     {"type": "image_url", "image_url": {"url": "http://x/i.png"}}]},
        {"role": "assistant", "content": None,
         "tool_calls": [{"id": "c1", "type": "function",
                         "function": {"name": "lookup_order", "arguments": "{\"id\": 7}"}}]},
        {"role": "tool", "content": ""},
    ]  # fmt: skip
    answer = push_ok(api, lb, {"id": "chat", "messages": messages, "output": "Sorry!"})
    assert answer["accepted"] == 1
    row = dataset(api, lb)["chat"]
    assert row["input"] == (
        "system: You are a support agent.\n\n"
        "user: My order is late.\n[image]\n\n"
        'assistant: [tool call lookup_order({"id": 7})]'
    )
    assert row["messages"] == messages
    assert row["expected"] == "Sorry!"
    assert "messages" not in row["metadata"]


def test_input_wins_over_messages_which_are_kept(api, lb):
    messages = [{"role": "user", "content": "hi"}]
    push_ok(api, lb, {"id": "both", "input": "explicit", "messages": messages})
    row = dataset(api, lb)["both"]
    assert row["input"] == "explicit"
    assert row["messages"] == messages


def test_messages_without_id_get_a_content_id_of_the_rendered_text(api, lb):
    a = push_ok(api, lb, {"messages": [{"role": "user", "content": "same"}]})
    b = push_ok(api, lb, {"messages": [{"role": "user", "content": "same"}], "tags": "t"})
    assert CONTENT_ID.match(a["accepted_ids"][0])
    assert a["accepted_ids"] == b["accepted_ids"]


@pytest.mark.parametrize(
    ("messages", "where"),
    [
        ([], "messages"),
        ("hello", "messages"),
        ([{"content": "no role"}], "messages[0].role"),
        ([{"role": "user", "content": 5}], "messages[0].content"),
        ([{"role": "user", "content": "ok"}, "text"], "messages[1]"),
        ([{"role": "user", "content": [{"type": "text"}]}], "messages[0].content[0].text"),
    ],
)
def test_invalid_messages_are_rejected(api, lb, messages, where):
    answer = push_ok(api, lb, [{"input": "ok"}, {"messages": messages}])
    assert answer["accepted"] == 1
    rejection = answer["rejected"][0]
    assert rejection["index"] == 1
    assert rejection["code"] == "invalid_messages"
    assert rejection["field"] == "messages"
    assert where in rejection["message"]


def test_messages_without_text_are_missing_input(api, lb):
    r = api.push(lb, {"messages": [{"role": "user", "content": ""}]})
    error = assert_error(r, 422, "no_valid_rows")
    assert error["rejected"][0]["code"] == "missing_input"


# -- rubric, metadata and known metadata fields ---------------------------------------------


def test_full_row_lands_in_the_dataset(api, lb):
    row = {
        "id": "full",
        "input": "How do I reset my password?",
        "output": "Click 'forgot password'.",
        "rubric": "Mentions the reset link.",
        "metadata": {"source": "helpdesk", "priority": 2},
        "tags": ["billing", "urgent"],
        "user_id": 42,
        "session_id": "s-1",
        "conversation_id": 7,
        "latency_ms": 812,
        "cost_usd": 0.0021,
        "model": "openai/gpt-4o-mini",
        "provider": "openrouter",
        "sentiment": {"score": -0.4},
        "locale": "fr-FR",
    }
    answer = push_ok(api, lb, row)
    assert answer["accepted_ids"] == ["full"]
    got = dataset(api, lb)["full"]
    assert got["input"] == row["input"]
    assert got["expected"] == row["output"]
    assert got["rubric"] == row["rubric"]
    assert got["metadata"] == {
        "source": "helpdesk",
        "priority": 2,
        "tags": ["billing", "urgent"],
        "user_id": "42",
        "session_id": "s-1",
        "conversation_id": "7",
        "latency_ms": 812,
        "cost_usd": 0.0021,
        "model": "openai/gpt-4o-mini",
        "provider": "openrouter",
        "sentiment": {"score": -0.4},
        "locale": "fr-FR",
    }
    for name in ("id", "input", "output", "rubric", "metadata"):
        assert name not in got["metadata"]


def test_single_tag_becomes_a_list_and_metadata_object_wins(api, lb):
    push_ok(
        api,
        lb,
        {"id": "m", "input": "q", "tags": "vip", "model": "top", "metadata": {"model": "inner"}},
    )
    got = dataset(api, lb)["m"]
    assert got["metadata"] == {"tags": ["vip"], "model": "inner"}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("rubric", 5),
        ("metadata", "not an object"),
        ("metadata", [1, 2]),
        ("tags", [1, 2]),
        ("user_id", {"id": 1}),
        ("latency_ms", -1),
        ("cost_usd", "cheap"),
        ("model", 3),
        ("provider", ["a"]),
    ],
)
def test_invalid_field_is_rejected_with_its_name(api, lb, field, value):
    answer = push_ok(api, lb, [{"input": "fine"}, {"input": "bad", field: value}])
    assert answer["accepted"] == 1
    assert answer["rejected"] == [
        {
            "index": 1,
            "code": "invalid_field",
            "message": answer["rejected"][0]["message"],
            "field": field,
        }
    ]
    assert field in answer["rejected"][0]["message"]


def test_invalid_field_inside_metadata_is_named_with_its_path(api, lb):
    answer = push_ok(api, lb, [{"input": "a"}, {"input": "b", "metadata": {"latency_ms": -3}}])
    assert answer["rejected"][0]["field"] == "metadata.latency_ms"


# -- per-row validation ---------------------------------------------------------------------


def test_mixed_valid_and_invalid_rows(api, lb):
    rows = [
        {"id": "ok-0", "input": "first"},
        "not an object",
        {"output": "an answer without a question"},
        {"id": ["x"], "input": "bad id"},
        {"id": "ok-4", "prompt": "second", "answer": "yes"},
        {"input": None, "prompt": "", "output": "x"},
        42,
        {"id": "ok-7", "question": "third"},
    ]
    answer = push_ok(api, lb, rows)
    assert answer["received"] == 8
    assert answer["accepted"] == 3
    assert answer["accepted_ids"] == ["ok-0", "ok-4", "ok-7"]
    by_index = {r["index"]: r for r in answer["rejected"]}
    assert sorted(by_index) == [1, 2, 3, 5, 6]
    assert {i: r["code"] for i, r in by_index.items()} == {
        1: "row_not_object",
        2: "missing_input",
        3: "invalid_id",
        5: "missing_input",
        6: "row_not_object",
    }
    for rejection in answer["rejected"]:
        assert rejection["message"].strip()
    assert "input" in by_index[2]["message"] and "messages" in by_index[2]["message"]
    assert "string" in by_index[1]["message"]
    assert pending(api, lb) == 3
    got = dataset(api, lb)
    assert set(got) == {"ok-0", "ok-4", "ok-7"}
    assert got["ok-4"]["input"] == "second"
    assert got["ok-4"]["expected"] == "yes"


def test_missing_input(api, lb):
    answer = push_ok(api, lb, [{"input": "ok"}, {"output": "o", "rubric": "r", "id": "x"}])
    assert answer["rejected"] == [
        {
            "index": 1,
            "code": "missing_input",
            "message": answer["rejected"][0]["message"],
        }
    ]
    assert "query" in answer["rejected"][0]["message"]


def test_all_rows_invalid_is_422_with_the_rejections(api, lb):
    r = api.push(lb, [{"output": "no input"}, "text", {"input": "   "}])
    error = assert_error(r, 422, "no_valid_rows")
    assert [(x["index"], x["code"]) for x in error["rejected"]] == [
        (0, "missing_input"),
        (1, "row_not_object"),
        (2, "missing_input"),
    ]
    for rejection in error["rejected"]:
        assert rejection["message"]
    assert "3" in error["message"]
    assert pending(api, lb) == 0


def test_single_invalid_row_is_422(api, lb):
    error = assert_error(api.push(lb, {"answer": "x"}), 422, "no_valid_rows")
    assert error["rejected"][0]["index"] == 0
    assert error["rejected"][0]["code"] == "missing_input"


@pytest.mark.parametrize("body", [[], {"rows": []}, {"events": []}, {"samples": []}])
def test_empty_push_is_422_no_rows(api, lb, body):
    error = assert_error(api.push(lb, body), 422, "no_rows")
    assert "no rows" in error["message"]
    assert pending(api, lb) == 0


def test_row_too_large_is_rejected_alone(api, lb):
    big = {"id": "big", "input": "x" * (300 * 1024)}
    answer = push_ok(api, lb, [big, {"id": "small", "input": "y"}])
    assert answer["accepted_ids"] == ["small"]
    assert answer["rejected"][0]["index"] == 0
    assert answer["rejected"][0]["code"] == "row_too_large"


# -- limits on the request ------------------------------------------------------------------


def test_max_rows_is_accepted(api, lb):
    rows = [{"id": f"r{i}", "input": f"q{i}"} for i in range(1000)]
    answer = push_ok(api, lb, {"rows": rows})
    assert answer["accepted"] == 1000
    assert pending(api, lb) == 1000


def test_too_many_rows_is_413(api, lb):
    rows = [{"input": f"q{i}"} for i in range(1001)]
    error = assert_error(api.push(lb, rows), 413, "too_many_rows")
    assert error["max_rows"] == 1000
    assert "1001" in error["message"]
    assert pending(api, lb) == 0


def _oversized_body() -> bytes:
    body = json.dumps({"input": "x" * (MAX_BODY + 10)}).encode()
    assert len(body) > MAX_BODY
    return body


def test_body_over_5_mib_with_content_length_is_413(api, lb):
    body = _oversized_body()
    r = raw_push(api, lb, body)
    error = assert_error(r, 413, "payload_too_large")
    assert error["max_bytes"] == MAX_BODY
    assert str(len(body)) in error["message"]
    assert pending(api, lb) == 0


def test_body_over_5_mib_chunked_is_413(api, lb):
    body = _oversized_body()

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 64 * 1024):
            yield body[start : start + 64 * 1024]

    request = api.http.build_request(
        "POST",
        f"/v1/leaderboard/{lb}/dataset/push",
        content=chunks(),
        headers={"Content-Type": "application/json"},
    )
    assert "content-length" not in request.headers
    assert request.headers["transfer-encoding"] == "chunked"
    r = api.http.send(request)
    error = assert_error(r, 413, "payload_too_large")
    assert error["max_bytes"] == MAX_BODY
    assert pending(api, lb) == 0


def test_chunked_body_under_the_limit_is_accepted(api, lb):
    body = json.dumps([{"id": "ch", "input": "chunked"}]).encode()

    def chunks() -> Iterator[bytes]:
        yield body[:5]
        yield body[5:]

    r = api.post(
        f"/v1/leaderboard/{lb}/dataset/push",
        content=chunks(),
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["accepted_ids"] == ["ch"]


def test_body_just_under_the_limit_is_not_413(api, lb):
    rows = [{"input": f"{i}-" + "y" * 5200} for i in range(1000)]
    body = json.dumps(rows).encode()
    assert MAX_BODY - 200_000 < len(body) <= MAX_BODY
    r = raw_push(api, lb, body)
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 1000


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_non_json_content_type_is_415(api, lb, content_type):
    r = raw_push(api, lb, CURL_BODY.encode(), content_type=content_type)
    error = assert_error(r, 415, "unsupported_media_type")
    assert "application/json" in error["message"]
    assert pending(api, lb) == 0


def test_json_with_charset_is_accepted(api, lb):
    r = raw_push(api, lb, CURL_BODY.encode(), content_type="application/json; charset=utf-8")
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 1


@pytest.mark.parametrize("raw", [b'{"input": "x",}', b"{input: 1}", b'[{"input": "a"}', b"\xff"])
def test_malformed_json_is_400(api, lb, raw):
    error = assert_error(raw_push(api, lb, raw), 400, "invalid_json")
    assert error["message"]
    assert pending(api, lb) == 0


def test_empty_body_is_400(api, lb):
    assert_error(raw_push(api, lb, b""), 400, "empty_body")


# -- content ids ----------------------------------------------------------------------------


def test_rows_without_id_get_a_stable_content_id(api, lb):
    first = push_ok(api, lb, {"input": "Where is my parcel?", "output": "old answer"})
    second = push_ok(api, lb, [{"input": "Where is my parcel?", "output": "new answer"}])
    other = push_ok(api, lb, {"input": "Where is my parcel? "})
    (a,), (b,), (c,) = first["accepted_ids"], second["accepted_ids"], other["accepted_ids"]
    assert CONTENT_ID.match(a)
    assert a == b, "identical input, identical id, across pushes"
    assert c != a, "different input, different id"
    # identical input is one dataset row; the newest push wins
    got = dataset(api, lb)
    assert set(got) == {a, c}
    assert got[a]["expected"] == "new answer"


def test_content_id_is_the_same_in_another_leaderboard(api, lb):
    other = api.create_push_leaderboard(consolidate_every_events=None)
    a = push_ok(api, lb, {"question": "same text"})["accepted_ids"][0]
    b = push_ok(api, other, {"prompt": "same text", "metadata": {"x": 1}})["accepted_ids"][0]
    assert a == b


def test_explicit_ids_dedupe_newest_wins(api, lb):
    push_ok(api, lb, {"id": "k", "input": "v1"})
    push_ok(api, lb, {"id": "k", "input": "v2"})
    got = dataset(api, lb)
    assert list(got) == ["k"]
    assert got["k"]["input"] == "v2"


# -- where the push goes --------------------------------------------------------------------


def test_push_to_unknown_leaderboard_is_404(api):
    error = assert_error(
        api.push("00000000-0000-0000-0000-000000000000", {"input": "x"}),
        404,
        "leaderboard_not_found",
    )
    assert "00000000-0000-0000-0000-000000000000" in error["message"]


@pytest.mark.parametrize("ident", ["__reserved__"])
def test_push_to_impossible_leaderboard_id_is_404(api, ident):
    # Not "storage unavailable" (503): clients retry a 503, and this id will never exist.
    r = api.post(f"/v1/leaderboard/{ident}/dataset/push", json={"input": "x"})
    assert_error(r, 404, "leaderboard_not_found")


def test_dataset_token_push_to_impossible_leaderboard_id_is_403(api, lb):
    hpd = api.as_token(api.dataset_token(lb))
    r = hpd.post("/v1/leaderboard/__reserved__/dataset/push", json={"input": "x"})
    assert_error(r, 403, "wrong_leaderboard")


@pytest.mark.parametrize(
    "raw",
    [
        b'[{"input": "a"}, {"input": "b", "latency_ms": NaN}]',
        b'[{"input": "a"}, {"input": "b", "cost_usd": Infinity}]',
        b'[{"input": "a"}, {"input": "\\ud800"}]',
        # A key JSON cannot carry: the rejection must not name it (the answer could not be
        # sent: it was a 500).
        b'[{"input": "a"}, {"input": "b", "metadata": {"\\ud800": 1}}]',
        b'[{"input": "a"}, {"input": "b", "\\udfff": "\\ud800"}]',
    ],
)
def test_values_json_cannot_store_are_rejected_per_row(api, lb, raw):
    answer = strict_json(raw_push(api, lb, raw).text)
    assert answer["accepted"] == 1
    assert answer["rejected"][0]["index"] == 1
    assert answer["rejected"][0]["code"] == "invalid_field"

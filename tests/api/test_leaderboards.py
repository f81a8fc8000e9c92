"""Leaderboards: create, get, list, and request validation (422/400/415/404/405)."""

from __future__ import annotations

import copy
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.errors import assert_error, strict_json

EXAMPLE = {
    "name": "support answers",
    "system_prompt": "Answer the customer's question.\n\n{input}",
    "dataset": {
        "mode": "push",
        "auto_limit": True,
        "max_samples": 5000,
        "daily_limit": 1000,
        "monthly_limit": 20000,
        "consolidate_every_events": 100,
        "consolidate_every_hours": 24,
        "end_date": None,
    },
    "evaluation": {"type": "exact"},
}

DEFAULT_DATASET = {
    "mode": "push",
    "auto_limit": True,
    "max_samples": 5000,
    "daily_limit": 1000,
    "monthly_limit": 20000,
    "consolidate_every_events": 100,
    "consolidate_every_hours": 24,
    "end_date": None,
}


def example(**dataset: Any) -> dict[str, Any]:
    body = copy.deepcopy(EXAMPLE)
    body["dataset"].update(dataset)
    return body


def create(api, body: Any) -> httpx.Response:
    return api.post("/v1/leaderboards", json=body)


def assert_422(response: httpx.Response, *names: str) -> dict[str, Any]:
    """A 422 whose message names every one of ``names`` and lists the failing fields."""
    error = assert_error(response, 422)
    for name in names:
        assert name in error["message"], (name, error)
    return error


def count_leaderboards(api) -> int:
    return len(api.get("/v1/leaderboards", params={"limit": 200}).json()["items"])


# -- create / get / list ---------------------------------------------------------------------


def test_create_with_the_brief_example(workspace):
    r = create(workspace.api, EXAMPLE)
    assert r.status_code == 201, r.text
    body = r.json()
    uuid.UUID(body["id"])
    assert body["workspace_id"] == workspace.id
    assert body["name"] == EXAMPLE["name"]
    assert body["system_prompt"] == EXAMPLE["system_prompt"]
    for key, value in EXAMPLE["dataset"].items():
        assert body["dataset"][key] == value, key
    assert body["dataset"]["push_url"].endswith(f"/v1/leaderboard/{body['id']}/dataset/push")
    assert body["dataset"]["status_url"].endswith(f"/v1/leaderboard/{body['id']}/dataset/status")
    assert body["dataset"]["current"] is None  # nothing consolidated yet
    assert body["evaluation"]["type"] == "exact"
    assert body["traces_url"].endswith(f"/v1/leaderboard/{body['id']}/traces")
    created = datetime.fromisoformat(body["created_at"])
    assert created.tzinfo is not None
    assert abs(datetime.now(UTC) - created) < timedelta(minutes=1)
    assert "Location" not in r.headers or r.headers["Location"].endswith(body["id"])


def test_defaults_filled_when_omitted(workspace):
    r = create(
        workspace.api, {"name": "n", "system_prompt": "p {input}", "dataset": {"mode": "push"}}
    )
    assert r.status_code == 201, r.text
    body = r.json()
    dataset = {k: v for k, v in body["dataset"].items() if k in DEFAULT_DATASET}
    assert dataset == DEFAULT_DATASET
    assert body["evaluation"]["type"] == "exact"
    assert body["evaluation"]["normalize"] == ["trim"]  # exact match defaults, spelled out
    assert body["schedule"] is None


def test_nullable_limits_and_judge_settings_are_kept(workspace):
    body = {
        "name": "judge me",
        "system_prompt": "{input}",
        "dataset": {
            "mode": "push",
            "auto_limit": False,
            "max_samples": None,
            "daily_limit": None,
            "monthly_limit": None,
            "consolidate_every_events": None,
            "consolidate_every_hours": None,
        },
        "evaluation": {"type": "judge", "rubric": "be kind", "model": "openai/gpt-4o"},
    }
    r = create(workspace.api, body)
    assert r.status_code == 201, r.text
    got = r.json()
    for key, value in body["dataset"].items():
        assert got["dataset"][key] == value, key
    assert got["evaluation"] == got["evaluation"] | body["evaluation"]
    assert got["evaluation"]["max_attempts"] == 3  # defaults are filled in
    typo = {**body, "evaluation": {"type": "judge", "judge_model": "openai/gpt-4o"}}
    assert_422(create(workspace.api, typo), "evaluation.judge_model")


def test_name_and_prompt_are_trimmed(workspace):
    r = create(workspace.api, {**EXAMPLE, "name": "  spaced  "})
    assert r.status_code == 201, r.text
    assert r.json()["name"] == "spaced"


def test_end_date_is_stored_in_utc(workspace):
    r = create(workspace.api, example(end_date="2099-06-30T12:00:00+02:00"))
    assert r.status_code == 201, r.text
    end = datetime.fromisoformat(r.json()["dataset"]["end_date"])
    assert end == datetime(2099, 6, 30, 10, tzinfo=UTC)
    assert end.utcoffset() == timedelta(0)


def test_bare_end_date_means_end_of_that_day(workspace):
    r = create(workspace.api, example(end_date="2099-06-30"))
    assert r.status_code == 201, r.text
    end = datetime.fromisoformat(r.json()["dataset"]["end_date"])
    assert end == datetime(2099, 7, 1, tzinfo=UTC)


def test_get_returns_what_create_answered(workspace):
    created = create(workspace.api, example(daily_limit=7, monthly_limit=70)).json()
    r = workspace.api.get(f"/v1/leaderboard/{created['id']}")
    assert r.status_code == 200, r.text
    got = r.json()
    assert got == created
    assert got["dataset"]["daily_limit"] == 7
    # trailing slash is the same resource
    r = workspace.api.get(f"/v1/leaderboard/{created['id']}/")
    assert r.status_code == 200, r.text
    assert r.json()["id"] == created["id"]


def test_get_unknown_leaderboard_is_404(workspace):
    error = assert_error(
        workspace.api.get(f"/v1/leaderboard/{uuid.uuid4()}"), 404, "leaderboard_not_found"
    )
    assert "not found" in error["message"]


def test_list_paginated_newest_first(workspace):
    made = [create(workspace.api, {**EXAMPLE, "name": f"lb{i}"}).json()["id"] for i in range(5)]

    seen: list[str] = []
    cursor = None
    page_sizes = []
    for _ in range(10):
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        r = workspace.api.get("/v1/leaderboards", params=params)
        assert r.status_code == 200, r.text
        page = r.json()
        page_sizes.append(len(page["items"]))
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert page_sizes == [2, 2, 1]
    assert seen == list(reversed(made))

    r = workspace.api.get("/v1/leaderboards")
    assert [item["id"] for item in r.json()["items"]] == list(reversed(made))
    assert r.json()["next_cursor"] is None
    first = r.json()["items"][-1]
    assert first["name"] == "lb0"
    assert first["dataset"]["mode"] == "push"


def test_list_of_new_workspace_is_empty(workspace):
    r = workspace.api.get("/v1/leaderboards")
    assert r.status_code == 200, r.text
    assert r.json() == {"items": [], "next_cursor": None}


@pytest.mark.parametrize("limit", ["0", "500", "ten"])
def test_list_bad_limit_is_400(workspace, limit):
    r = workspace.api.get("/v1/leaderboards", params={"limit": limit})
    assert_error(r, 400, "invalid_limit")


def test_list_bad_cursor_is_400(workspace):
    r = workspace.api.get("/v1/leaderboards", params={"cursor": "%%%"})
    assert_error(r, 400, "invalid_cursor")
    r = workspace.api.get("/v1/leaderboards", params={"cursor": "WyJub3QgYSBkYXRlIiwgIngiXQ"})
    assert_error(r, 400, "invalid_cursor")


# -- validation: 422 naming the field --------------------------------------------------------


def test_monthly_limit_below_daily_limit(workspace):
    error = assert_422(
        create(workspace.api, example(daily_limit=500, monthly_limit=100)),
        "monthly_limit",
        "daily_limit",
    )
    assert "500" in error["message"] and "100" in error["message"]


def test_auto_limit_needs_max_samples(workspace):
    assert_422(create(workspace.api, example(auto_limit=True, max_samples=None)), "max_samples")


@pytest.mark.parametrize(
    "field",
    ["max_samples", "daily_limit", "monthly_limit", "consolidate_every_events"],
)
@pytest.mark.parametrize("value", [0, -5])
def test_non_positive_limits(workspace, field, value):
    overrides: dict[str, Any] = {field: value}
    if field == "daily_limit":
        overrides["monthly_limit"] = 20000
    error = assert_422(create(workspace.api, example(**overrides)), field)
    assert any(e["field"] == f"dataset.{field}" for e in error["errors"]), error


@pytest.mark.parametrize("value", [0, -1])
def test_consolidate_every_hours_must_be_positive(workspace, value):
    error = assert_422(
        create(workspace.api, example(consolidate_every_hours=value)), "consolidate_every_hours"
    )
    assert error["errors"][0]["field"] == "dataset.consolidate_every_hours"


def test_max_samples_ceiling(workspace):
    assert_422(create(workspace.api, example(max_samples=10_000_001)), "max_samples")


@pytest.mark.parametrize("value", ["many", 1.5, [1], {"n": 1}])
def test_limit_of_wrong_type(workspace, value):
    assert_422(create(workspace.api, example(daily_limit=value)), "daily_limit")


def test_boolean_is_not_a_limit(workspace):
    # JSON true is not the number 1: a serious API refuses it rather than storing a limit of 1.
    r = create(workspace.api, example(daily_limit=True))
    assert_422(r, "daily_limit")
    assert count_leaderboards(workspace.api) == 0


@pytest.mark.parametrize(
    "end_date",
    [
        (datetime.now(UTC) - timedelta(minutes=5)).isoformat(),
        "2001-01-01T00:00:00Z",
        "2001-01-01",
    ],
)
def test_end_date_in_the_past(workspace, end_date):
    error = assert_422(create(workspace.api, example(end_date=end_date)), "end_date")
    assert "past" in error["message"]
    assert count_leaderboards(workspace.api) == 0


def test_naive_end_date(workspace):
    error = assert_422(create(workspace.api, example(end_date="2099-01-01T00:00:00")), "end_date")
    assert "timezone" in error["message"]


def test_garbage_end_date(workspace):
    assert_422(create(workspace.api, example(end_date="next tuesday")), "end_date")


def test_unknown_field_in_dataset_config(workspace):
    error = assert_422(create(workspace.api, example(max_rows=10)), "max_rows")
    assert any(e["field"] == "dataset.max_rows" for e in error["errors"]), error


def test_unknown_top_level_field(workspace):
    assert_422(create(workspace.api, {**EXAMPLE, "colour": "blue"}), "colour")


def test_missing_name(workspace):
    body = {k: v for k, v in EXAMPLE.items() if k != "name"}
    error = assert_422(create(workspace.api, body), "name")
    assert [e["field"] for e in error["errors"]] == ["name"]


@pytest.mark.parametrize("name", ["", "   ", "x" * 201])
def test_bad_name(workspace, name):
    assert_422(create(workspace.api, {**EXAMPLE, "name": name}), "name")


@pytest.mark.parametrize("prompt", ["", "  \n "])
def test_empty_system_prompt(workspace, prompt):
    error = assert_422(create(workspace.api, {**EXAMPLE, "system_prompt": prompt}), "system_prompt")
    assert error["errors"][0]["field"] == "system_prompt"


def test_missing_system_prompt_and_dataset(workspace):
    error = assert_422(create(workspace.api, {"name": "only a name"}))
    fields = {e["field"] for e in error["errors"]}
    assert fields == {"system_prompt", "dataset"}


def test_get_mode_needs_a_hugging_face_dataset_file(workspace):
    body = {**EXAMPLE, "dataset": {"mode": "get", "url": "https://huggingface.co/d/x.jsonl"}}
    error = assert_422(create(workspace.api, body), "dataset.url")
    assert "hf://datasets/" in error["message"] and "resolve" in error["message"]
    assert count_leaderboards(workspace.api) == 0


def test_unknown_dataset_mode(workspace):
    assert_422(create(workspace.api, example(mode="pull")), "mode")


@pytest.mark.parametrize("kind", ["fuzzy", "", None])
def test_unknown_evaluation_type(workspace, kind):
    error = assert_422(create(workspace.api, {**EXAMPLE, "evaluation": {"type": kind}}), "type")
    assert any(e["field"] == "evaluation.type" for e in error["errors"]), error


def test_422_lists_every_failing_field(workspace):
    body = {"name": "", "system_prompt": "", "dataset": {"mode": "push", "daily_limit": 0}}
    error = assert_error(create(workspace.api, body), 422, "validation_failed")
    fields = {e["field"] for e in error["errors"]}
    assert {"name", "system_prompt", "dataset.daily_limit"} <= fields
    for item in error["errors"]:
        assert item["message"] and item["type"]


# -- transport-level errors ------------------------------------------------------------------


def test_malformed_json_is_400(workspace):
    r = workspace.api.post(
        "/v1/leaderboards",
        content=b'{"name": "x", "system_prompt": }',
        headers={"Content-Type": "application/json"},
    )
    error = assert_error(r, 400, "invalid_json")
    assert error["line"] == 1 and error["column"] > 1


def test_non_utf8_body_is_400(workspace):
    r = workspace.api.post(
        "/v1/leaderboards",
        content=b'{"name": "\xff\xfe"}',
        headers={"Content-Type": "application/json"},
    )
    assert_error(r, 400, "invalid_json")


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
def test_non_json_content_type_is_415(workspace, content_type):
    r = workspace.api.post(
        "/v1/leaderboards", content=b'{"name": "x"}', headers={"Content-Type": content_type}
    )
    error = assert_error(r, 415, "unsupported_media_type")
    assert "application/json" in error["message"]
    assert count_leaderboards(workspace.api) == 0


def test_json_with_charset_is_accepted(workspace):
    r = workspace.api.post(
        "/v1/leaderboards",
        content=json.dumps(EXAMPLE).encode(),
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    assert r.status_code == 201, r.text


@pytest.mark.parametrize("raw", [b'[{"name": "x"}]', b'"a string"', b"42", b"null", b"true"])
def test_body_not_an_object_is_400(workspace, raw):
    r = workspace.api.post(
        "/v1/leaderboards", content=raw, headers={"Content-Type": "application/json"}
    )
    error = assert_error(r, 400, "invalid_body_shape")
    assert "object" in error["message"]


@pytest.mark.parametrize(
    "path",
    [
        "/v1/nothing-here",
        "/v1/leaderboard/abc/nothing",
        "/v1/leaderboard/abc/dataset/nothing",
        "/not-even-v1",
        "/",
    ],
)
def test_unknown_route_is_404_json(workspace, path):
    error = assert_error(workspace.api.get(path), 404, "not_found")
    assert "endpoint" in error["message"].lower()


def test_unknown_route_is_404_even_without_token(workspace):
    r = workspace.api.as_token(None).get("/v1/nothing-here")
    assert_error(r, 404, "not_found")


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PUT", "/v1/leaderboards", {"GET", "POST"}),
        ("DELETE", "/v1/leaderboards", {"GET", "POST"}),
        ("PUT", "/v1/tokens", {"GET", "POST"}),
        ("GET", "/v1/leaderboard/abc/dataset/push", {"POST"}),
        ("GET", "/v1/leaderboard/abc/dataset/consolidate", {"POST"}),
        ("POST", "/v1/leaderboard/abc/dataset/status", {"GET"}),
        ("PUT", "/v1/leaderboard/abc/dataset/tokens", {"GET", "POST"}),
    ],
)
def test_wrong_method_is_405_with_allow(workspace, method, path, allowed):
    r = workspace.api.http.request(method, path)
    error = assert_error(r, 405, "method_not_allowed")
    assert {m.strip() for m in r.headers["Allow"].split(",")} == allowed
    assert method in error["message"]
    assert set(error["allowed"]) == allowed


# -- values the storage layer cannot hold: 4xx, never 500/503 --------------------------------


@pytest.mark.parametrize("value", [10**9 + 1, 2**63])
def test_limit_beyond_the_ceiling_is_422(workspace, value):
    # Limits stop at 1e9 rows (far below Firestore's 64-bit integers): refused, never a crash.
    r = create(workspace.api, example(daily_limit=value, monthly_limit=value))
    error = assert_422(r, "daily_limit")
    assert error["code"] == "validation_failed"
    assert count_leaderboards(workspace.api) == 0


def test_limit_at_the_ceiling_is_accepted(workspace):
    r = create(workspace.api, example(daily_limit=10**9, monthly_limit=10**9))
    assert r.status_code == 201, r.text
    assert r.json()["dataset"]["monthly_limit"] == 10**9


def test_last_representable_end_date_is_not_a_500(workspace):
    # "9999-12-31" means "until the end of 9999-12-31": one day later does not fit a datetime.
    r = create(workspace.api, example(end_date="9999-12-31"))
    if r.status_code == 201:
        assert r.json()["dataset"]["end_date"].startswith("9999-12-31T23:59:59")
    else:
        assert_422(r, "end_date")


@pytest.mark.parametrize("constant", [b"Infinity", b"NaN"])
def test_non_json_number_constants_are_refused(workspace, constant):
    # NaN/Infinity are not JSON (RFC 8259); accepting them stores values the API then echoes as
    # invalid JSON. The admin API must refuse them.
    raw = (
        b'{"name": "n", "system_prompt": "p {input}", "dataset": {"mode": "push"},'
        b' "evaluation": {"type": "judge", "threshold": ' + constant + b"}}"
    )
    r = workspace.api.post(
        "/v1/leaderboards", content=raw, headers={"Content-Type": "application/json"}
    )
    assert r.status_code in (400, 422), r.text
    assert_error(r, r.status_code)
    listing = workspace.api.get("/v1/leaderboards")
    strict_json(listing.text)
    assert strict_json(listing.text)["items"] == []


@pytest.mark.parametrize("ident", ["__reserved__", "%2E%2E"])
def test_impossible_leaderboard_ids_are_404(workspace, ident):
    # Ids Firestore cannot hold as document ids do not exist: 404, not "storage unavailable".
    api = workspace.api
    for method, suffix, kw in [
        ("GET", "", {}),
        ("GET", "/dataset/status", {}),
        ("POST", "/dataset/push", {"json": {"input": "x"}}),
        ("POST", "/dataset/consolidate", {}),
        ("GET", "/traces", {}),
        ("GET", "/dataset/tokens", {}),
        ("POST", "/dataset/tokens", {"json": {}}),
    ]:
        r = api.http.request(method, f"/v1/leaderboard/{ident}{suffix}", **kw)
        assert_error(r, 404, "leaderboard_not_found")


@pytest.mark.parametrize("trace_id", ["__reserved__"])
def test_impossible_trace_ids_are_404(workspace, trace_id):
    lb = workspace.api.create_push_leaderboard()
    r = workspace.api.get(f"/v1/leaderboard/{lb}/traces/{trace_id}")
    assert_error(r, 404, "trace_not_found")


def test_body_over_1_mib_is_413(workspace):
    body = {**EXAMPLE, "system_prompt": "x" * (1024 * 1024)}
    error = assert_error(create(workspace.api, body), 413, "payload_too_large")
    assert error["max_bytes"] == 1024 * 1024
    assert count_leaderboards(workspace.api) == 0


def test_download_before_consolidation_is_404(workspace):
    lb = workspace.api.create_push_leaderboard()
    r = workspace.api.get(f"/v1/leaderboard/{lb}/dataset/download")
    assert_error(r, 404, "no_dataset_version")

"""Manual events: traces recorded by the API caller, next to pushes, runs and inference calls."""

from __future__ import annotations

import uuid

import pytest

from tests.errors import assert_error


def _events(api, lb: str) -> list[dict]:
    page = api.get(f"/v1/leaderboard/{lb}/traces", params={"kind": "manual", "limit": 200})
    assert page.status_code == 200, page.text
    return list(page.json()["items"])


def _token(api, *scopes: str) -> str:
    made = api.post("/v1/tokens", json={"name": "events", "scopes": list(scopes)})
    assert made.status_code == 201, made.text
    return str(made.json()["token"])


def test_an_event_is_a_trace_of_kind_manual(workspace):
    api = workspace.api
    lb = api.create_push_leaderboard()
    event = {"name": "prompt reviewed", "message": "ok by legal", "data": {"ticket": "LEG-7"}}
    created = api.post(f"/v1/leaderboard/{lb}/traces", json=event)
    assert created.status_code == 201, created.text
    trace = created.json()
    assert trace["id"].startswith("tr_") and trace["kind"] == "manual"
    assert {k: trace[k] for k in event} == event
    assert trace["leaderboard_id"] == lb and trace["workspace_id"] == workspace.id
    assert trace["token_id"].startswith("tok_") and trace["created_at"]
    assert api.get(f"/v1/leaderboard/{lb}/traces/{trace['id']}").json() == trace
    assert _events(api, lb) == [trace]


def test_the_same_event_id_is_recorded_once(workspace):
    api = workspace.api
    lb = api.create_push_leaderboard()
    event = {"id": "feedback-" + uuid.uuid4().hex, "name": "user feedback", "data": {"score": 1}}
    first = api.post(f"/v1/leaderboard/{lb}/traces", json=event)
    again = api.post(f"/v1/leaderboard/{lb}/traces", json=event | {"data": {"score": 0}})
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json() and first.json()["event_id"] == event["id"]
    assert [e["id"] for e in _events(api, lb)] == [first.json()["id"]]


def test_an_event_can_point_at_another_trace_of_the_leaderboard(workspace):
    api = workspace.api
    lb, other = api.create_push_leaderboard(), api.create_push_leaderboard()
    api.push(lb, {"input": "hello"})
    [push_trace] = api.get(f"/v1/leaderboard/{lb}/traces", params={"kind": "push"}).json()["items"]
    related = {"name": "bad row", "related_trace_id": push_trace["id"]}
    assert api.post(f"/v1/leaderboard/{lb}/traces", json=related).status_code == 201
    error = assert_error(
        api.post(f"/v1/leaderboard/{other}/traces", json=related), 422, "trace_not_found"
    )
    assert error["field"] == "related_trace_id"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": ""},
        {"name": "x", "unknown": 1},
        {"name": "x", "id": "has spaces"},
        {"name": "x", "data": [1, 2]},
        {"name": "x", "data": {"blob": "x" * 70_000}},
    ],
)
def test_a_malformed_event_is_422(workspace, body):
    api = workspace.api
    lb = api.create_push_leaderboard()
    assert_error(api.post(f"/v1/leaderboard/{lb}/traces", json=body), 422)
    assert _events(api, lb) == []


def test_only_writers_of_the_workspace_record_events(workspace, other_workspace):
    api = workspace.api
    lb = api.create_push_leaderboard()
    event = {"name": "x"}
    reader = api.as_token(_token(api, "leaderboards:read"))
    assert_error(reader.post(f"/v1/leaderboard/{lb}/traces", json=event), 403, "insufficient_scope")
    dataset = api.as_token(api.dataset_token(lb))
    assert_error(dataset.post(f"/v1/leaderboard/{lb}/traces", json=event), 403)
    stranger = other_workspace.api
    assert_error(stranger.post(f"/v1/leaderboard/{lb}/traces", json=event), 404)
    writer = api.as_token(_token(api, "leaderboards:write"))
    assert writer.post(f"/v1/leaderboard/{lb}/traces", json=event).status_code == 201
    assert len(_events(api, lb)) == 1

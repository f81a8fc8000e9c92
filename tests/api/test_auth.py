"""Authentication and authorisation over HTTP: headers, 401s, 403s and workspace isolation.

401 = who are you? (missing, unknown, revoked, expired token; with ``WWW-Authenticate``).
403 = I know you, but not this (a scope the token lacks, a dataset token used elsewhere).
404 = a leaderboard of another workspace: a token of workspace A learns nothing about B.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.errors import assert_error

ROW = {"input": "What did the user ask?", "output": "The answer"}


def assert_401(response: httpx.Response, code: str | None = None) -> dict[str, Any]:
    error = assert_error(response, 401, code)
    assert response.headers.get("WWW-Authenticate", "").lower().startswith("bearer"), (
        response.headers
    )
    return error


def make_token(api, *, scopes: list[str], **extra: Any) -> dict[str, Any]:
    response = api.post("/v1/tokens", json={"name": "t", "scopes": scopes, **extra})
    assert response.status_code == 201, response.text
    return response.json()


# -- the three headers ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    ["Authorization", "X-API-Key", "X-Dr.Gero-API-Key"],
)
def test_each_auth_header_authenticates(workspace, header):
    anon = workspace.api.as_token(None)
    value = f"Bearer {workspace.token}" if header == "Authorization" else workspace.token
    lb = workspace.api.create_push_leaderboard()

    r = anon.get("/v1/workspace", headers={header: value})
    assert r.status_code == 200, r.text
    assert r.json()["id"] == workspace.id

    r = anon.get(f"/v1/leaderboard/{lb}", headers={header: value})
    assert r.status_code == 200, r.text
    assert r.json()["id"] == lb

    r = anon.post(f"/v1/leaderboard/{lb}/dataset/push", json=ROW, headers={header: value})
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 1

    r = anon.get(f"/v1/leaderboard/{lb}/dataset/status", headers={header: value})
    assert r.status_code == 200, r.text
    assert r.json()["counts"]["pending"] == 1


def test_bearer_scheme_is_case_insensitive(workspace):
    anon = workspace.api.as_token(None)
    r = anon.get("/v1/workspace", headers={"Authorization": f"bearer {workspace.token}"})
    assert r.status_code == 200, r.text
    assert r.json()["id"] == workspace.id


def test_dataset_token_in_each_header_pushes(workspace):
    lb = workspace.api.create_push_leaderboard()
    hpd = workspace.api.dataset_token(lb)
    anon = workspace.api.as_token(None)
    for i, headers in enumerate(
        [{"Authorization": f"Bearer {hpd}"}, {"X-API-Key": hpd}, {"X-Dr.Gero-API-Key": hpd}]
    ):
        r = anon.post(
            f"/v1/leaderboard/{lb}/dataset/push", json={"input": f"q{i}"}, headers=headers
        )
        assert r.status_code == 200, r.text
        assert r.json()["accepted"] == 1
    status = workspace.api.get(f"/v1/leaderboard/{lb}/dataset/status").json()
    assert status["counts"]["accepted"] == 3


# -- 401 -----------------------------------------------------------------------------------


def _endpoints(lb: str) -> list[tuple[str, str, dict[str, Any]]]:
    """One endpoint of each function (api, push, status, consolidation)."""
    return [
        ("GET", "/v1/leaderboards", {}),
        ("POST", "/v1/leaderboards", {"json": {"name": "x"}}),
        ("GET", "/v1/tokens", {}),
        ("GET", f"/v1/leaderboard/{lb}", {}),
        ("POST", f"/v1/leaderboard/{lb}/dataset/push", {"json": ROW}),
        ("GET", f"/v1/leaderboard/{lb}/dataset/status", {}),
        ("POST", f"/v1/leaderboard/{lb}/dataset/consolidate", {}),
    ]


def test_missing_token_is_401_everywhere(workspace):
    lb = workspace.api.create_push_leaderboard()
    anon = workspace.api.as_token(None)
    for method, path, kw in _endpoints(lb):
        r = anon.http.request(method, path, **kw)
        error = assert_401(r, "missing_token")
        assert "Authorization" in error["message"], (path, error)


def test_empty_bearer_and_blank_key_count_as_missing(workspace):
    anon = workspace.api.as_token(None)
    for headers in ({"Authorization": "Bearer"}, {"X-API-Key": ""}, {"Authorization": "Basic"}):
        assert_401(anon.get("/v1/leaderboards", headers=headers), "missing_token")


def test_unknown_token_is_401_everywhere(workspace):
    lb = workspace.api.create_push_leaderboard()
    for bogus in ("drgero_" + "x" * 43, "hpd_" + "y" * 43, "not-a-token"):
        stranger = workspace.api.as_token(bogus)
        for method, path, kw in _endpoints(lb):
            r = stranger.http.request(method, path, **kw)
            assert_401(r, "invalid_token")
    # nothing was pushed by the unknown tokens
    status = workspace.api.get(f"/v1/leaderboard/{lb}/dataset/status").json()
    assert status["counts"]["accepted"] == 0


def test_revoked_api_token_is_401(workspace):
    lb = workspace.api.create_push_leaderboard()
    made = make_token(workspace.api, scopes=["leaderboards:write"])
    caller = workspace.api.as_token(made["token"])
    assert caller.get(f"/v1/leaderboard/{lb}").status_code == 200

    r = workspace.api.delete(f"/v1/tokens/{made['id']}")
    assert r.status_code == 204, r.text

    for method, path, kw in _endpoints(lb):
        assert_401(caller.http.request(method, path, **kw), "token_revoked")


def test_revoked_dataset_token_is_401(workspace):
    api = workspace.api
    lb = api.create_push_leaderboard()
    r = api.post(f"/v1/leaderboard/{lb}/dataset/tokens", json={"name": "app"})
    assert r.status_code == 201, r.text
    made = r.json()
    pusher = api.as_token(made["token"])
    assert pusher.push(lb, ROW).status_code == 200

    r = api.delete(f"/v1/leaderboard/{lb}/dataset/tokens/{made['id']}")
    assert r.status_code == 204, r.text
    assert_401(pusher.push(lb, ROW), "token_revoked")
    status = api.get(f"/v1/leaderboard/{lb}/dataset/status").json()
    assert status["counts"]["accepted"] == 1


def test_expired_api_token_is_401(workspace):
    lb = workspace.api.create_push_leaderboard()
    expires_at = datetime.now(UTC) + timedelta(seconds=2)
    made = make_token(
        workspace.api, scopes=["leaderboards:write"], expires_at=expires_at.isoformat()
    )
    assert made["expires_at"] is not None
    assert datetime.fromisoformat(made["expires_at"]) == expires_at
    caller = workspace.api.as_token(made["token"])
    r = caller.get(f"/v1/leaderboard/{lb}")
    assert r.status_code == 200, r.text

    time.sleep(max(0.0, (expires_at - datetime.now(UTC)).total_seconds()) + 0.5)

    for method, path, kw in _endpoints(lb):
        error = assert_401(caller.http.request(method, path, **kw), "token_expired")
        assert "expired" in error["message"]


def test_expired_dataset_token_is_401(workspace):
    api = workspace.api
    lb = api.create_push_leaderboard()
    expires_at = datetime.now(UTC) + timedelta(seconds=2)
    r = api.post(
        f"/v1/leaderboard/{lb}/dataset/tokens",
        json={"name": "short", "expires_at": expires_at.isoformat()},
    )
    assert r.status_code == 201, r.text
    pusher = api.as_token(r.json()["token"])
    assert pusher.push(lb, ROW).status_code == 200

    time.sleep(max(0.0, (expires_at - datetime.now(UTC)).total_seconds()) + 0.5)
    assert_401(pusher.push(lb, {"input": "late"}), "token_expired")
    status = api.get(f"/v1/leaderboard/{lb}/dataset/status").json()
    assert status["counts"]["accepted"] == 1


def test_token_with_expires_in_days_works_now(workspace):
    made = make_token(workspace.api, scopes=["leaderboards:read"], expires_in_days=1)
    expires = datetime.fromisoformat(made["expires_at"])
    assert timedelta(hours=23) < expires - datetime.now(UTC) <= timedelta(days=1)
    r = workspace.api.as_token(made["token"]).get("/v1/leaderboards")
    assert r.status_code == 200, r.text


# -- 403: valid token, wrong scope ---------------------------------------------------------


def test_read_token_cannot_write(workspace):
    lb = workspace.api.create_push_leaderboard()
    reader = workspace.api.as_token(
        make_token(workspace.api, scopes=["leaderboards:read"])["token"]
    )

    # it can read
    r = reader.get("/v1/leaderboards")
    assert r.status_code == 200, r.text
    assert [item["id"] for item in r.json()["items"]] == [lb]
    assert reader.get(f"/v1/leaderboard/{lb}").status_code == 200
    assert reader.get(f"/v1/leaderboard/{lb}/dataset/status").status_code == 200

    # it cannot write
    body = {"name": "n", "system_prompt": "p {input}", "dataset": {"mode": "push"}}
    error = assert_error(reader.post("/v1/leaderboards", json=body), 403, "insufficient_scope")
    assert error["required_scope"] == "leaderboards:write"
    assert "leaderboards:write" in error["message"]

    error = assert_error(reader.push(lb, ROW), 403, "insufficient_scope")
    assert error["required_scope"] == "leaderboards:write"

    r = reader.post(f"/v1/leaderboard/{lb}/dataset/consolidate")
    assert_error(r, 403, "insufficient_scope")
    r = reader.post(f"/v1/leaderboard/{lb}/dataset/tokens", json={"name": "x"})
    assert_error(r, 403, "insufficient_scope")

    # nor manage API tokens
    error = assert_error(
        reader.post("/v1/tokens", json={"name": "x", "scopes": ["workspace:admin"]}),
        403,
        "insufficient_scope",
    )
    assert error["required_scope"] == "workspace:admin"
    assert_error(reader.get("/v1/tokens"), 403, "insufficient_scope")

    # nothing was created or pushed
    assert len(workspace.api.get("/v1/leaderboards").json()["items"]) == 1
    counts = workspace.api.get(f"/v1/leaderboard/{lb}/dataset/status").json()["counts"]
    assert counts["accepted"] == 0
    assert counts["pending"] == 0


def test_inference_only_token_cannot_read_or_push(workspace):
    lb = workspace.api.create_push_leaderboard()
    token = make_token(workspace.api, scopes=["inference"])["token"]
    caller = workspace.api.as_token(token)
    error = assert_error(caller.get("/v1/leaderboards"), 403, "insufficient_scope")
    assert error["required_scope"] == "leaderboards:read"
    assert_error(caller.get(f"/v1/leaderboard/{lb}"), 403, "insufficient_scope")
    assert_error(caller.push(lb, ROW), 403, "insufficient_scope")


def test_dataset_token_can_only_push(workspace):
    api = workspace.api
    lb = api.create_push_leaderboard()
    hpd = api.as_token(api.dataset_token(lb))

    for r in (
        hpd.get(f"/v1/leaderboard/{lb}/dataset/status"),
        hpd.get("/v1/leaderboards"),
        hpd.get(f"/v1/leaderboard/{lb}"),
        hpd.get(f"/v1/leaderboard/{lb}/traces"),
        hpd.get(f"/v1/leaderboard/{lb}/dataset/tokens"),
        hpd.post(f"/v1/leaderboard/{lb}/dataset/tokens", json={"name": "more"}),
        hpd.post(f"/v1/leaderboard/{lb}/dataset/consolidate"),
        hpd.get("/v1/tokens"),
        hpd.post("/v1/tokens", json={"name": "x", "scopes": ["workspace:admin"]}),
        hpd.post(
            "/v1/leaderboards",
            json={"name": "n", "system_prompt": "p", "dataset": {"mode": "push"}},
        ),
    ):
        error = assert_error(r, 403, "insufficient_scope")
        assert "hpd_" in error["message"], error

    r = hpd.push(lb, ROW)
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 1


def test_dataset_token_cannot_read_the_workspace(workspace):
    # A dataset token lives inside production apps and "can only push rows to its leaderboard"
    # (the API's own 403 message): it should not read workspace details either.
    api = workspace.api
    lb = api.create_push_leaderboard()
    hpd = api.as_token(api.dataset_token(lb))
    r = hpd.get("/v1/workspace")
    error = assert_error(r, 403, "insufficient_scope")
    assert "hpd_" in error["message"]
    assert workspace.id not in r.text


# -- push: which tokens may push where -----------------------------------------------------


def test_dataset_token_pushes_only_to_its_leaderboard(workspace):
    api = workspace.api
    lb_a = api.create_push_leaderboard()
    lb_b = api.create_push_leaderboard()
    hpd_a = api.as_token(api.dataset_token(lb_a))

    r = hpd_a.push(lb_a, ROW)
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 1
    assert r.json()["leaderboard_id"] == lb_a

    error = assert_error(hpd_a.push(lb_b, ROW), 403, "wrong_leaderboard")
    assert "another leaderboard" in error["message"]

    assert api.get(f"/v1/leaderboard/{lb_a}/dataset/status").json()["counts"]["accepted"] == 1
    assert api.get(f"/v1/leaderboard/{lb_b}/dataset/status").json()["counts"]["accepted"] == 0


def test_dataset_token_cannot_push_into_another_workspace(workspace, other_workspace):
    lb_a = workspace.api.create_push_leaderboard()
    lb_b = other_workspace.api.create_push_leaderboard()
    hpd_a = workspace.api.as_token(workspace.api.dataset_token(lb_a))
    r = hpd_a.push(lb_b, ROW)
    assert r.status_code in (403, 404), r.text
    assert_error(r, r.status_code)
    status = other_workspace.api.get(f"/v1/leaderboard/{lb_b}/dataset/status").json()
    assert status["counts"]["accepted"] == 0


def test_write_api_token_can_push(workspace):
    lb = workspace.api.create_push_leaderboard()
    writer = workspace.api.as_token(
        make_token(workspace.api, scopes=["leaderboards:write"])["token"]
    )
    r = writer.push(lb, [ROW, {"input": "second"}])
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 2
    # a write token can also read the status and consolidate
    status = writer.get(f"/v1/leaderboard/{lb}/dataset/status")
    assert status.status_code == 200, status.text
    assert status.json()["counts"]["accepted"] == 2
    c = writer.post(f"/v1/leaderboard/{lb}/dataset/consolidate")
    assert c.status_code == 200, c.text
    assert c.json()["version"]["rows"] == 2


def test_admin_token_can_push(workspace):
    lb = workspace.api.create_push_leaderboard()
    assert workspace.token.startswith("drgero_")
    r = workspace.api.push(lb, ROW)
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 1


# -- workspace isolation -------------------------------------------------------------------


def test_other_workspace_gets_404_on_every_leaderboard_endpoint(workspace, other_workspace):
    b = other_workspace.api
    lb_b = b.create_push_leaderboard()
    assert b.push(lb_b, ROW).status_code == 200
    made = b.post(f"/v1/leaderboard/{lb_b}/dataset/tokens", json={"name": "b"}).json()
    trace_id = b.get(f"/v1/leaderboard/{lb_b}/traces").json()["items"][0]["id"]
    assert b.post(f"/v1/leaderboard/{lb_b}/dataset/consolidate").status_code == 200

    a = workspace.api
    calls = [
        ("GET", f"/v1/leaderboard/{lb_b}", {}),
        ("GET", f"/v1/leaderboard/{lb_b}/dataset/status", {}),
        ("POST", f"/v1/leaderboard/{lb_b}/dataset/push", {"json": ROW}),
        ("POST", f"/v1/leaderboard/{lb_b}/dataset/consolidate", {}),
        ("GET", f"/v1/leaderboard/{lb_b}/dataset/download", {}),
        ("GET", f"/v1/leaderboard/{lb_b}/traces", {}),
        ("GET", f"/v1/leaderboard/{lb_b}/traces/{trace_id}", {}),
        ("GET", f"/v1/leaderboard/{lb_b}/dataset/tokens", {}),
        ("POST", f"/v1/leaderboard/{lb_b}/dataset/tokens", {"json": {"name": "steal"}}),
        ("DELETE", f"/v1/leaderboard/{lb_b}/dataset/tokens/{made['id']}", {}),
    ]
    for method, path, kw in calls:
        r = a.http.request(method, path, **kw)
        error = assert_error(r, 404, "leaderboard_not_found")
        assert lb_b in error["message"]
        # the same answer as for a leaderboard that does not exist at all
        ghost = a.http.request(method, path.replace(lb_b, "no-such-leaderboard"), **kw)
        assert_error(ghost, 404, "leaderboard_not_found")

    # B's state is untouched: one row, its dataset token alive
    status = b.get(f"/v1/leaderboard/{lb_b}/dataset/status").json()
    assert status["counts"]["accepted"] == 1
    assert [t["id"] for t in status["tokens"]] == [made["id"]]
    assert b.as_token(made["token"]).push(lb_b, {"input": "still works"}).status_code == 200


def test_list_never_shows_other_workspace_leaderboards(workspace, other_workspace):
    mine = {workspace.api.create_push_leaderboard() for _ in range(2)}
    theirs = {other_workspace.api.create_push_leaderboard() for _ in range(2)}

    seen: set[str] = set()
    cursor = None
    while True:
        params = {"limit": 1} | ({"cursor": cursor} if cursor else {})
        r = workspace.api.get("/v1/leaderboards", params=params)
        assert r.status_code == 200, r.text
        page = r.json()
        seen |= {item["id"] for item in page["items"]}
        assert all(item["workspace_id"] == workspace.id for item in page["items"])
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == mine
    assert not seen & theirs

    r = other_workspace.api.get("/v1/leaderboards")
    assert {item["id"] for item in r.json()["items"]} == theirs


def test_other_workspace_cursor_does_not_leak(workspace, other_workspace):
    for _ in range(3):
        other_workspace.api.create_push_leaderboard()
    first = other_workspace.api.get("/v1/leaderboards", params={"limit": 1}).json()
    assert first["next_cursor"]
    r = workspace.api.get("/v1/leaderboards", params={"cursor": first["next_cursor"]})
    assert r.status_code == 200, r.text
    assert r.json()["items"] == []

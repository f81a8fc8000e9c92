"""API tokens (``/v1/tokens``) and dataset push tokens (``/v1/leaderboard/{id}/dataset/tokens``).

A token's plaintext is shown once, in the 201 that created it; lists show ``prefix...last4``;
neither the plaintext nor its SHA-256 (the storage key) ever appear in another answer.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.errors import assert_error, strict_json

ROW = {"input": "What did the user ask?", "output": "The answer"}
TOKEN_RE = re.compile(r"^(drgero_|hpd_)[A-Za-z0-9_-]{40,}$")


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def assert_secret_absent(secret: str, response: httpx.Response) -> None:
    text = response.text
    assert secret not in text
    # also the part after the prefix, in case it is shown without it
    assert secret.split("_", 1)[1] not in text
    assert sha256(secret) not in text
    assert sha256(secret).upper() not in text


def create_api_token(api, **body: Any) -> httpx.Response:
    return api.post("/v1/tokens", json={"name": "ci", **body})


def list_all(api, path: str, *, limit: int) -> list[list[dict[str, Any]]]:
    pages = []
    cursor = None
    for _ in range(50):
        params: dict[str, Any] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        r = api.get(path, params=params)
        assert r.status_code == 200, r.text
        body = r.json()
        assert set(body) >= {"items", "next_cursor"}
        pages.append(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages
    raise AssertionError("pagination never ended")


# -- API tokens: create ----------------------------------------------------------------------


def test_create_api_token(workspace):
    r = create_api_token(workspace.api, scopes=["leaderboards:write", "inference"], budget_usd=12.5)
    assert r.status_code == 201, r.text
    body = r.json()
    secret = body["token"]
    assert secret.startswith("drgero_")
    assert TOKEN_RE.match(secret), secret
    assert body["id"] and body["id"] not in secret
    assert body["kind"] == "api"
    assert body["name"] == "ci"
    assert sorted(body["scopes"]) == ["inference", "leaderboards:write"]
    assert body["token_masked"] == "drgero_..." + secret[-4:]
    assert body["budget_usd"] == 12.5
    assert body["spend_usd"] == 0
    assert body["expires_at"] is None
    assert body["revoked_at"] is None
    assert datetime.fromisoformat(body["created_at"]) <= datetime.now(UTC)
    # the hash (storage key) is not in the creation answer either
    assert sha256(secret) not in r.text

    # the new token works, with its scopes
    me = workspace.api.as_token(secret).get("/v1/workspace")
    assert me.status_code == 200, me.text
    assert me.json()["token"]["id"] == body["id"]
    assert "leaderboards:write" in me.json()["token"]["scopes"]
    assert_secret_absent(secret, me)


def test_each_token_is_unique(workspace):
    secrets = {create_api_token(workspace.api).json()["token"] for _ in range(3)}
    assert len(secrets) == 3


def test_default_scope_is_read_only(workspace):
    r = create_api_token(workspace.api)
    assert r.status_code == 201, r.text
    assert r.json()["scopes"] == ["leaderboards:read"]
    caller = workspace.api.as_token(r.json()["token"])
    assert caller.get("/v1/leaderboards").status_code == 200
    body = {"name": "n", "system_prompt": "p {input}", "dataset": {"mode": "push"}}
    assert_error(caller.post("/v1/leaderboards", json=body), 403, "insufficient_scope")


def test_plaintext_and_hash_never_listed(workspace):
    r = create_api_token(workspace.api, scopes=["leaderboards:read"])
    assert r.status_code == 201, r.text
    made = r.json()
    secret = made["token"]

    listing = workspace.api.get("/v1/tokens")
    assert listing.status_code == 200, listing.text
    assert_secret_absent(secret, listing)
    assert_secret_absent(workspace.token, listing)
    items = {item["id"]: item for item in listing.json()["items"]}
    assert made["id"] in items
    listed = items[made["id"]]
    assert "token" not in listed
    assert listed["token_masked"] == "drgero_..." + secret[-4:]
    assert {k: v for k, v in made.items() if k != "token"} == listed
    for item in items.values():
        assert re.fullmatch(r"drgero_\.\.\.[A-Za-z0-9_-]{4}", item["token_masked"]), item
        assert not any(isinstance(v, str) and TOKEN_RE.match(v) for v in item.values()), item

    # nor in the workspace answer of the token itself
    me = workspace.api.as_token(secret).get("/v1/workspace")
    assert_secret_absent(secret, me)


@pytest.mark.parametrize(
    ("scopes", "named"),
    [
        (["leaderboards:read", "leaderboards:delete"], "leaderboards:delete"),
        (["root"], "root"),
        (["dataset:push"], "dataset:push"),  # a dataset-token scope, not for API tokens
    ],
)
def test_unknown_scope_is_422_naming_it(workspace, scopes, named):
    error = assert_error(create_api_token(workspace.api, scopes=scopes), 422, "validation_failed")
    assert named in error["message"]
    assert "scopes" in error["message"]
    assert any(e["field"] == "scopes" for e in error["errors"]), error


def test_empty_scopes_is_422(workspace):
    error = assert_error(create_api_token(workspace.api, scopes=[]), 422)
    assert "scopes" in error["message"]


def test_expiry_in_the_past_is_422(workspace):
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    error = assert_error(create_api_token(workspace.api, expires_at=past), 422, "invalid_expiry")
    assert "expires_at" in error["message"]


def test_naive_expiry_is_422(workspace):
    error = assert_error(create_api_token(workspace.api, expires_at="2099-01-01T00:00:00"), 422)
    assert "expires_at" in error["message"]
    assert "timezone" in error["message"]


def test_two_expiries_is_422(workspace):
    body = {"expires_at": "2099-01-01T00:00:00Z", "expires_in_days": 3}
    error = assert_error(create_api_token(workspace.api, **body), 422)
    assert "expires_at" in error["message"] and "expires_in_days" in error["message"]


@pytest.mark.parametrize("days", [0, -1, 100000])
def test_expires_in_days_out_of_range_is_422(workspace, days):
    error = assert_error(create_api_token(workspace.api, expires_in_days=days), 422)
    assert "expires_in_days" in error["message"]


def test_future_expiry_is_echoed(workspace):
    r = create_api_token(workspace.api, expires_at="2099-01-01T00:00:00+02:00")
    assert r.status_code == 201, r.text
    assert datetime.fromisoformat(r.json()["expires_at"]) == datetime(2098, 12, 31, 22, tzinfo=UTC)


def test_negative_budget_is_422(workspace):
    error = assert_error(create_api_token(workspace.api, budget_usd=-1), 422, "validation_failed")
    assert "budget_usd" in error["message"]
    assert [e["field"] for e in error["errors"]] == ["budget_usd"]


def test_token_body_validation(workspace):
    # missing name, unknown field, non-object body, malformed JSON, wrong content type
    error = assert_error(workspace.api.post("/v1/tokens", json={"scopes": ["inference"]}), 422)
    assert "name" in error["message"]
    error = assert_error(create_api_token(workspace.api, admin=True), 422)
    assert "admin" in error["message"]
    assert_error(workspace.api.post("/v1/tokens", json=["x"]), 400, "invalid_body_shape")
    r = workspace.api.post(
        "/v1/tokens", content=b'{"name": ', headers={"Content-Type": "application/json"}
    )
    assert_error(r, 400, "invalid_json")
    r = workspace.api.post("/v1/tokens", content=b"name=x", headers={"Content-Type": "text/plain"})
    assert_error(r, 415, "unsupported_media_type")
    # nothing was created by the refused requests
    assert len(workspace.api.get("/v1/tokens").json()["items"]) == 1


# -- API tokens: list ------------------------------------------------------------------------


def test_list_is_paginated_newest_first(workspace):
    made = []
    for i in range(5):
        r = create_api_token(workspace.api, name=f"t{i}")
        assert r.status_code == 201, r.text
        made.append(r.json()["id"])

    pages = list_all(workspace.api, "/v1/tokens", limit=2)
    assert [len(p) for p in pages] == [2, 2, 2]  # 5 created + the bootstrap admin token
    ids = [item["id"] for page in pages for item in page]
    assert len(ids) == len(set(ids)), "a token was repeated across pages"
    assert ids[:5] == list(reversed(made)), "newest first"
    bootstrap = ids[5]
    assert bootstrap not in made
    stamps = [item["created_at"] for page in pages for item in page]
    assert stamps == sorted(stamps, reverse=True)

    # the full list in one page agrees
    r = workspace.api.get("/v1/tokens", params={"limit": 200})
    assert [item["id"] for item in r.json()["items"]] == ids
    assert r.json()["next_cursor"] is None


@pytest.mark.parametrize("limit", ["0", "-1", "201", "abc"])
def test_list_bad_limit_is_400(workspace, limit):
    error = assert_error(
        workspace.api.get("/v1/tokens", params={"limit": limit}), 400, "invalid_limit"
    )
    assert "limit" in error["message"]


def test_list_bad_cursor_is_400(workspace):
    r = workspace.api.get("/v1/tokens", params={"cursor": "not-a-cursor!"})
    assert_error(r, 400, "invalid_cursor")


def test_lists_separate_api_and_dataset_tokens(workspace):
    lb = workspace.api.create_push_leaderboard()
    r = workspace.api.post(f"/v1/leaderboard/{lb}/dataset/tokens", json={"name": "app"})
    dataset_id = r.json()["id"]
    api_ids = {item["id"] for item in workspace.api.get("/v1/tokens").json()["items"]}
    assert dataset_id not in api_ids
    listed = workspace.api.get(f"/v1/leaderboard/{lb}/dataset/tokens").json()["items"]
    assert [item["id"] for item in listed] == [dataset_id]


# -- API tokens: revoke ----------------------------------------------------------------------


def test_revoke_api_token(workspace):
    made = create_api_token(workspace.api, scopes=["leaderboards:read"]).json()
    caller = workspace.api.as_token(made["token"])
    assert caller.get("/v1/leaderboards").status_code == 200

    r = workspace.api.delete(f"/v1/tokens/{made['id']}")
    assert r.status_code == 204, r.text
    assert r.content == b""

    r = caller.get("/v1/leaderboards")
    assert_error(r, 401, "token_revoked")
    assert r.headers.get("WWW-Authenticate", "").lower().startswith("bearer")

    listed = {i["id"]: i for i in workspace.api.get("/v1/tokens").json()["items"]}
    assert listed[made["id"]]["revoked_at"] is not None

    # revoking again changes nothing and is not an error (DELETE is idempotent)
    r = workspace.api.delete(f"/v1/tokens/{made['id']}")
    assert r.status_code == 204, r.text
    # the admin token that revoked it is unaffected
    assert workspace.api.get("/v1/tokens").status_code == 200


def test_revoke_unknown_token_is_404(workspace):
    error = assert_error(
        workspace.api.delete("/v1/tokens/tok_doesnotexist"), 404, "token_not_found"
    )
    assert "tok_doesnotexist" in error["message"]


def test_revoke_token_of_other_workspace_is_404(workspace, other_workspace):
    theirs = create_api_token(other_workspace.api, scopes=["leaderboards:read"]).json()
    assert_error(workspace.api.delete(f"/v1/tokens/{theirs['id']}"), 404, "token_not_found")
    r = other_workspace.api.as_token(theirs["token"]).get("/v1/leaderboards")
    assert r.status_code == 200, r.text
    # and other workspace's tokens are not listed
    mine = workspace.api.get("/v1/tokens").json()["items"]
    assert theirs["id"] not in {item["id"] for item in mine}


def test_revoke_dataset_token_through_api_tokens_is_404(workspace):
    lb = workspace.api.create_push_leaderboard()
    made = workspace.api.post(f"/v1/leaderboard/{lb}/dataset/tokens", json={}).json()
    assert_error(workspace.api.delete(f"/v1/tokens/{made['id']}"), 404, "token_not_found")
    assert workspace.api.as_token(made["token"]).push(lb, ROW).status_code == 200


@pytest.mark.parametrize("scopes", [["leaderboards:read"], ["leaderboards:write", "inference"]])
def test_only_admin_tokens_manage_api_tokens(workspace, scopes):
    made = create_api_token(workspace.api, scopes=scopes).json()
    caller = workspace.api.as_token(made["token"])

    error = assert_error(
        caller.post("/v1/tokens", json={"name": "escalate", "scopes": ["workspace:admin"]}),
        403,
        "insufficient_scope",
    )
    assert error["required_scope"] == "workspace:admin"
    assert_error(caller.get("/v1/tokens"), 403, "insufficient_scope")
    assert_error(caller.delete(f"/v1/tokens/{made['id']}"), 403, "insufficient_scope")
    # the refused revoke did nothing, and no token was created
    assert caller.get("/v1/leaderboards").status_code == 200
    assert len(workspace.api.get("/v1/tokens").json()["items"]) == 2


def test_admin_can_create_admin_token(workspace):
    made = create_api_token(workspace.api, scopes=["workspace:admin"]).json()
    second = workspace.api.as_token(made["token"])
    r = create_api_token(second, scopes=["inference"])
    assert r.status_code == 201, r.text
    ids = [i["id"] for i in second.get("/v1/tokens").json()["items"]]
    assert ids == [r.json()["id"], made["id"], ids[2]]  # newest first, then the bootstrap one
    # the new admin can revoke the bootstrap admin, which is then refused
    assert second.delete(f"/v1/tokens/{ids[2]}").status_code == 204
    assert_error(workspace.api.get("/v1/tokens"), 401, "token_revoked")
    assert second.get("/v1/tokens").status_code == 200


# -- dataset tokens --------------------------------------------------------------------------


def test_create_dataset_token(workspace):
    lb = workspace.api.create_push_leaderboard()
    r = workspace.api.post(f"/v1/leaderboard/{lb}/dataset/tokens", json={"name": "prod app"})
    assert r.status_code == 201, r.text
    body = r.json()
    secret = body["token"]
    assert secret.startswith("hpd_")
    assert TOKEN_RE.match(secret), secret
    assert body["kind"] == "dataset"
    assert body["leaderboard_id"] == lb
    assert body["name"] == "prod app"
    assert body["scopes"] == ["dataset:push"]
    assert body["token_masked"] == "hpd_..." + secret[-4:]
    assert body["revoked_at"] is None
    assert sha256(secret) not in r.text

    pushed = workspace.api.as_token(secret).push(lb, ROW)
    assert pushed.status_code == 200, pushed.text
    assert pushed.json()["accepted"] == 1


def test_dataset_token_default_name(workspace):
    lb = workspace.api.create_push_leaderboard()
    r = workspace.api.post(f"/v1/leaderboard/{lb}/dataset/tokens")
    assert r.status_code == 201, r.text
    assert r.json()["name"]
    assert r.json()["token"].startswith("hpd_")


def test_dataset_token_past_expiry_is_422(workspace):
    lb = workspace.api.create_push_leaderboard()
    past = (datetime.now(UTC) - timedelta(seconds=5)).isoformat()
    r = workspace.api.post(f"/v1/leaderboard/{lb}/dataset/tokens", json={"expires_at": past})
    error = assert_error(r, 422, "invalid_expiry")
    assert "expires_at" in error["message"]
    assert workspace.api.get(f"/v1/leaderboard/{lb}/dataset/tokens").json()["items"] == []


def test_list_dataset_tokens_masked(workspace):
    api = workspace.api
    lb = api.create_push_leaderboard()
    other_lb = api.create_push_leaderboard()
    made = [
        api.post(f"/v1/leaderboard/{lb}/dataset/tokens", json={"name": f"t{i}"}).json()
        for i in range(3)
    ]
    elsewhere = api.post(f"/v1/leaderboard/{other_lb}/dataset/tokens", json={}).json()

    pages = list_all(api, f"/v1/leaderboard/{lb}/dataset/tokens", limit=2)
    assert [len(p) for p in pages] == [2, 1]
    items = [item for page in pages for item in page]
    assert [i["id"] for i in items] == [m["id"] for m in reversed(made)]
    for item, m in zip(items, reversed(made), strict=True):
        assert "token" not in item
        assert item["token_masked"] == "hpd_..." + m["token"][-4:]
        assert item["leaderboard_id"] == lb
    listing = api.get(f"/v1/leaderboard/{lb}/dataset/tokens")
    for m in [*made, elsewhere]:
        assert_secret_absent(m["token"], listing)
    assert elsewhere["id"] not in {i["id"] for i in items}

    # the status endpoint lists them masked as well
    status = api.get(f"/v1/leaderboard/{lb}/dataset/status")
    assert status.status_code == 200
    for m in made:
        assert_secret_absent(m["token"], status)
    assert {t["token_masked"] for t in status.json()["tokens"]} == {
        "hpd_..." + m["token"][-4:] for m in made
    }


def test_revoke_dataset_token(workspace):
    api = workspace.api
    lb = api.create_push_leaderboard()
    made = api.post(f"/v1/leaderboard/{lb}/dataset/tokens", json={"name": "app"}).json()
    pusher = api.as_token(made["token"])
    assert pusher.push(lb, ROW).status_code == 200

    r = api.delete(f"/v1/leaderboard/{lb}/dataset/tokens/{made['id']}")
    assert r.status_code == 204, r.text
    assert r.content == b""

    r = pusher.push(lb, {"input": "after revoke"})
    assert_error(r, 401, "token_revoked")
    assert r.headers.get("WWW-Authenticate")

    listed = api.get(f"/v1/leaderboard/{lb}/dataset/tokens").json()["items"]
    assert listed[0]["id"] == made["id"]
    assert listed[0]["revoked_at"] is not None
    status = api.get(f"/v1/leaderboard/{lb}/dataset/status").json()
    assert status["tokens"] == []
    assert status["counts"]["accepted"] == 1


def test_revoke_dataset_token_errors(workspace):
    api = workspace.api
    lb = api.create_push_leaderboard()
    other_lb = api.create_push_leaderboard()
    made = api.post(f"/v1/leaderboard/{lb}/dataset/tokens", json={}).json()

    assert_error(
        api.delete(f"/v1/leaderboard/{lb}/dataset/tokens/tok_nope"), 404, "token_not_found"
    )
    # under the wrong leaderboard of the same workspace
    assert_error(
        api.delete(f"/v1/leaderboard/{other_lb}/dataset/tokens/{made['id']}"),
        404,
        "token_not_found",
    )
    # an API token's id is not a dataset token
    api_token = create_api_token(api).json()
    assert_error(
        api.delete(f"/v1/leaderboard/{lb}/dataset/tokens/{api_token['id']}"),
        404,
        "token_not_found",
    )
    assert api.as_token(api_token["token"]).get("/v1/leaderboards").status_code == 200
    # a read-only token may not revoke
    reader = api.as_token(api_token["token"])
    assert_error(
        reader.delete(f"/v1/leaderboard/{lb}/dataset/tokens/{made['id']}"),
        403,
        "insufficient_scope",
    )
    # all of the above left the token working
    assert api.as_token(made["token"]).push(lb, ROW).status_code == 200


def test_dataset_token_for_other_workspace_leaderboard_is_404(workspace, other_workspace):
    theirs = other_workspace.api.create_push_leaderboard()
    made = other_workspace.api.post(f"/v1/leaderboard/{theirs}/dataset/tokens", json={}).json()

    r = workspace.api.post(f"/v1/leaderboard/{theirs}/dataset/tokens", json={"name": "x"})
    assert_error(r, 404, "leaderboard_not_found")
    assert_error(
        workspace.api.get(f"/v1/leaderboard/{theirs}/dataset/tokens"), 404, "leaderboard_not_found"
    )
    assert_error(
        workspace.api.delete(f"/v1/leaderboard/{theirs}/dataset/tokens/{made['id']}"),
        404,
        "leaderboard_not_found",
    )
    listed = other_workspace.api.get(f"/v1/leaderboard/{theirs}/dataset/tokens").json()["items"]
    assert [i["id"] for i in listed] == [made["id"]]
    assert listed[0]["revoked_at"] is None


def test_dataset_token_for_unknown_leaderboard_is_404(workspace):
    r = workspace.api.post("/v1/leaderboard/does-not-exist/dataset/tokens", json={})
    assert_error(r, 404, "leaderboard_not_found")


def test_write_token_manages_dataset_tokens(workspace):
    lb = workspace.api.create_push_leaderboard()
    writer = workspace.api.as_token(
        create_api_token(workspace.api, scopes=["leaderboards:write"]).json()["token"]
    )
    r = writer.post(f"/v1/leaderboard/{lb}/dataset/tokens", json={"name": "w"})
    assert r.status_code == 201, r.text
    assert r.json()["token"].startswith("hpd_")
    assert writer.get(f"/v1/leaderboard/{lb}/dataset/tokens").status_code == 200
    r = writer.delete(f"/v1/leaderboard/{lb}/dataset/tokens/{r.json()['id']}")
    assert r.status_code == 204, r.text


# -- inputs the storage layer cannot hold: 4xx, never 5xx ------------------------------------


@pytest.mark.parametrize("constant", [b"Infinity", b"NaN"])
def test_budget_must_be_a_finite_json_number(workspace, constant):
    # NaN/Infinity are not JSON; an infinite budget would also be echoed back as invalid JSON.
    r = workspace.api.post(
        "/v1/tokens",
        content=b'{"name": "t", "budget_usd": ' + constant + b"}",
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code in (400, 422), r.text
    assert_error(r, r.status_code)
    listing = workspace.api.get("/v1/tokens")
    assert len(strict_json(listing.text)["items"]) == 1


def test_revoke_with_overlong_id_is_404(workspace):
    # A token id no token can have (Firestore refuses to index a 1,600-byte value): 404, not 503.
    r = workspace.api.delete("/v1/tokens/" + "x" * 1600)
    assert_error(r, 404, "token_not_found")
    lb = workspace.api.create_push_leaderboard()
    r = workspace.api.delete(f"/v1/leaderboard/{lb}/dataset/tokens/" + "x" * 1600)
    assert_error(r, 404, "token_not_found")


# -- API tokens: the last admin ----------------------------------------------------------------


def _my_token_id(api) -> str:
    return str(api.get("/v1/workspace").json()["token"]["id"])


def test_revoking_the_last_admin_token_is_refused(workspace):
    me = _my_token_id(workspace.api)
    error = assert_error(workspace.api.delete(f"/v1/tokens/{me}"), 409, "last_admin_token")
    assert "workspace:admin" in error["message"]
    assert workspace.api.get("/v1/tokens").status_code == 200  # still works
    # An expired or revoked admin token does not count as another admin.
    expiring = create_api_token(
        workspace.api,
        scopes=["workspace:admin"],
        expires_at=(datetime.now(UTC) + timedelta(seconds=2)).isoformat(),
    ).json()
    revoked = create_api_token(workspace.api, scopes=["workspace:admin"]).json()
    assert workspace.api.delete(f"/v1/tokens/{revoked['id']}").status_code == 204
    reader = create_api_token(workspace.api, scopes=["leaderboards:write", "inference"]).json()
    import time

    time.sleep(2.5)
    assert expiring["id"]  # now expired
    assert_error(workspace.api.delete(f"/v1/tokens/{me}"), 409, "last_admin_token")
    assert reader["id"]


def test_an_admin_token_can_be_revoked_while_another_admin_remains(workspace):
    me = _my_token_id(workspace.api)
    other = create_api_token(workspace.api, scopes=["workspace:admin"]).json()
    assert workspace.api.delete(f"/v1/tokens/{me}").status_code == 204
    second = workspace.api.as_token(other["token"])
    assert_error(second.delete(f"/v1/tokens/{other['id']}"), 409, "last_admin_token")
    # Non-admin tokens are revoked as before.
    reader = create_api_token(second, scopes=["leaderboards:read"]).json()
    assert second.delete(f"/v1/tokens/{reader['id']}").status_code == 204


def test_two_concurrent_revokes_of_the_last_two_admin_tokens_leave_one(workspace, deps):
    """Each of two admins revokes the other at the same moment: one wins, one admin remains.
    The loser is 409 (its check saw the winner's revoke) or 401 (it was already revoked)."""
    from concurrent.futures import ThreadPoolExecutor

    from shared.services import accounts

    for round_ in range(4):
        made = accounts.bootstrap_workspace(deps, name=f"race-{round_}", plan="pro")
        first = workspace.api.as_token(made["token"])
        other = create_api_token(first, scopes=["workspace:admin"]).json()
        second = workspace.api.as_token(other["token"])
        with ThreadPoolExecutor(max_workers=2) as pool:
            a = pool.submit(first.delete, f"/v1/tokens/{other['id']}")
            b = pool.submit(second.delete, f"/v1/tokens/{made['token_id']}")
            answers = [a.result(), b.result()]
        statuses = sorted(r.status_code for r in answers)
        assert statuses in ([204, 409], [204, 401]), [r.text for r in answers]
        alive = [api.get("/v1/tokens").status_code for api in (first, second)]
        assert sorted(alive) == [200, 401], alive

"""CORS over plain HTTP: preflights, the headers on answers, and who may call from a browser.

The browser itself is in ``tests/browser/test_cors_browser.py``; here every header is checked.
"""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.errors import assert_error

PAGE = "https://app.example.com"


def _origin() -> str:
    return f"https://app-{uuid.uuid4().hex[:8]}.example.com"


def _allow(api, **settings) -> dict:
    answer = api.http.put("/v1/workspace", json=settings)
    assert answer.status_code == 200, answer.text
    return answer.json()


def _preflight(
    stack, path: str, origin: str, method: str = "POST", headers: str = ""
) -> httpx.Response:
    asked = {"Origin": origin, "Access-Control-Request-Method": method}
    if headers:
        asked["Access-Control-Request-Headers"] = headers
    return httpx.options(f"{stack.base_url}{path}", headers=asked, timeout=30)


@pytest.fixture
def board(workspace):
    lb = workspace.api.create_push_leaderboard(daily_limit=None, monthly_limit=None)
    return workspace.api, lb


def test_nothing_is_allowed_until_an_admin_allows_an_origin(stack, board):
    api, lb = board
    refused = _preflight(
        stack, f"/v1/leaderboard/{lb}/dataset/push", _origin(), headers="x-api-key"
    )
    assert_error(refused, 403, "origin_not_allowed")
    assert not [h for h in refused.headers if h.lower().startswith("access-control-")]
    assert api.get("/v1/workspace").json()["allowed_origins"] == []


def test_a_preflight_of_an_allowed_origin_answers_every_header(stack, board):
    api, lb = board
    origin = _origin()
    settings = _allow(api, allowed_origins=[origin.upper() + ":443"])
    assert settings["allowed_origins"] == [origin]  # normalised: case, default port
    answer = _preflight(
        stack,
        f"/v1/leaderboard/{lb}/dataset/push",
        origin,
        headers="content-type, x-api-key, idempotency-key, x-stainless-lang, x-stainless-os",
    )
    assert answer.status_code == 204, answer.text
    assert answer.content == b"" and "Content-Type" not in answer.headers
    assert answer.headers["Access-Control-Allow-Origin"] == origin
    assert answer.headers["Access-Control-Allow-Methods"] == "POST"
    allowed = {h.strip().lower() for h in answer.headers["Access-Control-Allow-Headers"].split(",")}
    assert {"authorization", "x-api-key", "x-dr.gero-api-key", "content-type", "idempotency-key",
            "x-drgero-timeout", "anthropic-version", "x-stainless-lang",
            "x-stainless-os"} <= allowed  # fmt: skip
    assert int(answer.headers["Access-Control-Max-Age"]) == 600
    assert "Origin" in answer.headers["Vary"]
    assert "Access-Control-Allow-Credentials" not in answer.headers  # tokens, never cookies
    assert "X-DrGero-Cors-Refused" not in answer.headers


def test_a_preflight_lists_the_methods_of_the_route_and_names_what_it_refuses(stack, board):
    api, lb = board
    origin = _origin()
    _allow(api, allowed_origins=[origin])
    runs = _preflight(stack, f"/v1/leaderboard/{lb}/runs", origin, method="GET")
    assert runs.status_code == 204
    assert runs.headers["Access-Control-Allow-Methods"] == "GET, POST"
    board_path = _preflight(stack, f"/v1/leaderboard/{lb}", origin, method="PATCH")
    assert board_path.headers["Access-Control-Allow-Methods"] == "DELETE, GET, PATCH"
    odd = _preflight(stack, f"/v1/leaderboard/{lb}/dataset/push", origin, method="DELETE",
                     headers="x-secret-thing")  # fmt: skip
    assert odd.status_code == 204
    assert odd.headers["X-DrGero-Cors-Refused"] == "DELETE, x-secret-thing"
    assert "x-secret-thing" not in odd.headers["Access-Control-Allow-Headers"].lower()
    nowhere = _preflight(stack, "/v1/no/such/path", origin)
    assert_error(nowhere, 404)


def _counts(api, lb: str) -> dict:
    return api.get(f"/v1/leaderboard/{lb}/dataset/status").json()["counts"]


def test_a_preflight_never_runs_the_handler_nor_reads_a_token(stack, board):
    api, lb = board
    origin = _origin()
    _allow(api, allowed_origins=[origin])
    before = _counts(api, lb)
    answer = httpx.request(
        "OPTIONS",
        f"{stack.base_url}/v1/leaderboard/{lb}/dataset/push",
        headers={"Origin": origin, "Access-Control-Request-Method": "POST",
                 "Authorization": f"Bearer {api.token}", "Content-Type": "application/json"},
        content=b'[{"input": "from a preflight", "output": "x"}]',
        timeout=30,
    )  # fmt: skip
    assert answer.status_code == 204
    invalid = _preflight(stack, f"/v1/leaderboard/{lb}/dataset/push", origin)
    assert invalid.status_code == 204  # the same with no token at all
    assert _counts(api, lb) == before  # nothing was pushed
    after = api.push(lb, [{"input": "a real push", "output": "x"}], headers={"Origin": origin})
    assert after.status_code == 200
    assert _counts(api, lb) != before  # (the counts do move on a push)


def test_answers_to_an_allowed_origin_carry_cors_headers_errors_included(stack, board):
    api, lb = board
    origin = _origin()
    _allow(api, allowed_origins=[origin])
    pushed = api.push(lb, [{"input": "from a page", "output": "ok"}], headers={"Origin": origin})
    assert pushed.status_code == 200, pushed.text
    assert pushed.headers["Access-Control-Allow-Origin"] == origin
    assert "Origin" in pushed.headers["Vary"]
    exposed = {h.strip() for h in pushed.headers["Access-Control-Expose-Headers"].split(",")}
    assert {"X-Request-Id", "X-DrGero-Trace-Id", "X-DrGero-Model", "Retry-After"} <= exposed
    # A 401 is readable by the page too (the origin is allowed for this leaderboard).
    url = f"{stack.base_url}/v1/leaderboard/{lb}/dataset/push"
    anonymous = httpx.post(url, json=[{"input": "x"}], headers={"Origin": origin}, timeout=30)
    assert_error(anonymous, 401)
    assert anonymous.headers["Access-Control-Allow-Origin"] == origin
    # No Origin (a server calling): no CORS header, as before.
    plain = api.push(lb, [{"input": "from a server", "output": "ok"}])
    assert "Access-Control-Allow-Origin" not in plain.headers


def test_a_token_of_another_workspace_cannot_use_an_origin_it_did_not_allow(
    stack, board, other_workspace
):
    api, _ = board
    origin = _origin()
    _allow(api, allowed_origins=[origin])
    other = other_workspace.api
    # The preflight of a path without a leaderboard passes (some workspace allows the origin) ...
    assert _preflight(stack, "/v1/chat/completions", origin).status_code == 204
    # ... but the request with the other workspace's token is refused before anything runs.
    refused = other.get("/v1/workspace", headers={"Origin": origin})
    assert_error(refused, 403, "origin_not_allowed")
    assert "Access-Control-Allow-Origin" not in refused.headers
    chat = {"model": "leaderboard/anything", "messages": [{"role": "user", "content": "hi"}]}
    inferred = other.post("/v1/chat/completions", json=chat, headers={"Origin": origin})
    assert_error(inferred, 403, "origin_not_allowed")
    assert "Access-Control-Allow-Origin" not in inferred.headers
    other_lb = other.create_push_leaderboard()
    assert_error(_preflight(stack, f"/v1/leaderboard/{other_lb}/dataset/push", origin), 403)
    before = _counts(other, other_lb)
    pushed = other.push(other_lb, [{"input": "x", "output": "y"}], headers={"Origin": origin})
    assert_error(pushed, 403, "origin_not_allowed")
    assert _counts(other, other_lb) == before


def test_push_origins_open_one_leaderboards_push_only(stack, board, workspace):
    api, lb = board
    origin = _origin()
    settings = _allow(api, push_origins={lb: [origin]})
    assert settings["push_origins"] == {lb: [origin]} and settings["allowed_origins"] == []
    assert _preflight(stack, f"/v1/leaderboard/{lb}/dataset/push", origin).status_code == 204
    for path in (
        f"/v1/leaderboard/{lb}/inference",
        f"/v1/leaderboard/{lb}",
        "/v1/chat/completions",
    ):
        assert_error(_preflight(stack, path, origin), 403, "origin_not_allowed")
    dataset = api.as_token(api.dataset_token(lb))
    pushed = dataset.push(
        lb, [{"input": "from the widget", "output": "y"}], headers={"Origin": origin}
    )
    assert pushed.status_code == 200, pushed.text
    assert pushed.headers["Access-Control-Allow-Origin"] == origin
    # The admin token on another path with that origin: refused.
    assert_error(api.get("/v1/workspace", headers={"Origin": origin}), 403, "origin_not_allowed")


def test_removing_an_origin_closes_it_at_once_on_this_instance(stack, board):
    api, lb = board
    origin = _origin()
    _allow(api, allowed_origins=[origin])
    assert _preflight(stack, f"/v1/leaderboard/{lb}/inference", origin).status_code == 204
    _allow(api, allowed_origins=[])
    assert_error(_preflight(stack, f"/v1/leaderboard/{lb}/inference", origin), 403)


@pytest.mark.parametrize(
    ("origins", "problem"),
    [
        (["*"], "wildcard"),
        (["https://*.example.com"], "wildcard"),
        (["null"], "null"),
        (["https://app.example.com/"], "not an origin"),
        (["https://app.example.com/path"], "not an origin"),
        (["ftp://app.example.com"], "not an origin"),
        (["https://user@app.example.com"], "not an origin"),
        (["https://app.example.com:99999"], "port"),
        ([""], "non-empty"),
    ],
)
def test_origins_that_are_not_exact_are_refused(board, origins, problem):
    api, _ = board
    refused = api.http.put("/v1/workspace", json={"allowed_origins": origins})
    error = assert_error(refused, 422, "validation_failed")
    assert problem in error["message"]


def test_the_settings_are_for_admins_and_bounded(board, deps):
    api, _ = board
    writer = api.post("/v1/tokens", json={"name": "w", "scopes": ["leaderboards:write"]}).json()
    put = api.as_token(writer["token"]).http.put
    assert_error(put("/v1/workspace", json={"allowed_origins": [PAGE]}), 403, "insufficient_scope")
    cap = deps.settings.cors_max_origins
    many = [f"https://a{i}.example.com" for i in range(cap + 1)]
    error = assert_error(
        api.http.put("/v1/workspace", json={"allowed_origins": many}), 422, "too_many_origins"
    )
    assert error["max_origins"] == cap
    unknown = api.http.put("/v1/workspace", json={"push_origins": {"nope": [PAGE]}})
    assert_error(unknown, 404, "leaderboard_not_found")
    not_a_list = api.http.put("/v1/workspace", json={"allowed_origins": PAGE})
    assert_error(not_a_list, 422, "validation_failed")


def test_private_functions_answer_no_browser(stack):
    answer = _preflight(stack, "/internal/tasks/evaluate-shard", PAGE)
    assert "Access-Control-Allow-Origin" not in answer.headers


def test_deleting_a_leaderboard_forgets_its_push_origins(stack, board):
    api, lb = board
    origin = _origin()
    kept = api.create_push_leaderboard()
    _allow(api, push_origins={lb: [origin], kept: [origin]})
    assert api.delete(f"/v1/leaderboard/{lb}").status_code == 204
    settings = api.get("/v1/workspace").json()
    assert settings["push_origins"] == {kept: [origin]}
    # What the admin reads back can be sent back as it is.
    again = api.http.put("/v1/workspace", json={"push_origins": settings["push_origins"]})
    assert again.status_code == 200, again.text
    assert _preflight(stack, f"/v1/leaderboard/{kept}/dataset/push", origin).status_code == 204


def test_the_origin_bound_counts_every_list_together(board, deps):
    api, lb = board
    cap = deps.settings.cors_max_origins
    half = [f"https://p{i}.example.com" for i in range(cap // 2 + 1)]
    _allow(api, allowed_origins=half)
    refused = api.http.put("/v1/workspace", json={"push_origins": {lb: half}})
    error = assert_error(refused, 422, "too_many_origins")
    assert (error["field"], error["max_origins"]) == ("push_origins", cap)
    assert api.get("/v1/workspace").json()["push_origins"] == {}  # nothing half-applied

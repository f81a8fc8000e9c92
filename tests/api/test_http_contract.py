"""The HTTP contract below the handlers: every answer is JSON, never an HTML page, never a 500.

Each function is served as production serves it (``functions_framework.create_app(target,
source)``, through its Flask test client) and through the local dispatcher (a real HTTP
server). Paths that Flask's own routing refuses (a newline in the path, ``/robots.txt``, double
slashes) never reach our router: the app must still answer JSON.
"""

from __future__ import annotations

import base64
import json
import socket
import statistics
import time
import uuid
from functools import cache
from typing import Any

import flask
import functions_framework
import httpx
import pytest
import yaml

from devstack.dispatcher import DEFAULT_SOURCE
from shared.web.routes import function_for_path, targets
from tests.errors import assert_error, strict_json

# (method, path, status): what no route serves. The paths are as sent on the wire.
UNSERVED = [
    ("GET", "/v1/leaderboard/a%0Ab/dataset/status", 404),
    ("GET", "/v1/x%0Ay", 404),
    ("POST", "/v1/leaderboard/x/dataset/push%0A", 404),
    ("GET", "/v1/%0A", 404),
    ("GET", "/robots.txt", 404),
    ("GET", "/favicon.ico", 404),
    ("GET", "/", 404),
    ("GET", "/static/x", 404),
    ("GET", "/static//x", 404),
    ("GET", "//v1//leaderboards", 404),
    ("GET", "/v1/nothing/here", 404),
    ("BREW", "/v1/nothing/here", 404),
]
# (method, path): a method the path's route does not serve.
WRONG_METHOD = [
    ("PUT", "/v1/leaderboards"),
    ("PUT", "/v1/integrations/validate"),  # the {provider} template serves PUT, not this path
    ("DELETE", "/v1/integrations/validate"),
    ("DELETE", "/v1/leaderboard/x/models/auto-select"),  # {model_id} serves DELETE
    ("PUT", "/v1/leaderboard/x/dataset/push"),
    ("GET", "/v1/leaderboard/x/dataset/consolidate"),
    ("DELETE", "/v1/leaderboard/x/dataset/status"),
    ("PATCH", "/v1/leaderboard/x/runs"),
    ("GET", "/internal/tasks/evaluate-shard"),
    ("PUT", "/internal/jobs/runs-watchdog"),
    ("PUT", "/v1/chat/completions"),
    ("OPTIONS", "/v1/models"),
]


LOCAL = "http://localhost"  # the test client reads "//v1//x" as a host name without one


@cache
def app(target: str) -> flask.Flask:
    """The function ``target`` exactly as ``functions-framework --target`` serves it."""
    return functions_framework.create_app(target=target, source=str(DEFAULT_SOURCE))


def assert_json_error(response: Any, expected: int, where: str) -> dict[str, Any]:
    """A Flask test client's answer is the JSON error ``expected``."""
    text = response.get_data(as_text=True)
    assert response.status_code == expected, (where, text[:200])
    assert response.content_type.startswith("application/json"), (where, text[:200])
    body = strict_json(text)
    assert set(body) == {"error"}, (where, body)
    assert body["error"]["code"] and body["error"]["message"], (where, body)
    return dict(body["error"])


@pytest.mark.parametrize("target", targets())
def test_every_function_answers_json_for_what_it_does_not_serve(target: str) -> None:
    client = app(target).test_client()
    for method, path, status in UNSERVED:
        response = client.open(LOCAL + path, method=method)
        assert_json_error(response, status, f"{target}: {method} {path}")


@pytest.mark.parametrize("target", targets())
def test_every_function_answers_405_json_for_a_method_a_path_does_not_serve(target: str) -> None:
    """The function that serves a path answers 405; the others (which production never sends
    that path to) answer 404."""
    client = app(target).test_client()
    for method, path in WRONG_METHOD:
        response = client.open(LOCAL + path, method=method, json={})
        where = f"{target}: {method} {path}"
        if function_for_path(path) != target:
            assert_json_error(response, 404, where)
            continue
        error = assert_json_error(response, 405, where)
        assert method not in error["allowed"], where
        assert error["allowed"] == response.headers["Allow"].split(", "), where


def test_the_dispatcher_answers_json_for_what_no_function_serves(stack: Any) -> None:
    with httpx.Client(base_url=stack.base_url, timeout=30) as http:
        for method, path, status in [*UNSERVED, ("GET", "/nothing%0A", 404)]:
            response = http.request(method, path)
            assert_error(response, status)
        for method, path in WRONG_METHOD:
            response = http.request(method, path, json={})
            error = assert_error(response, 405, "method_not_allowed")
            assert method not in error["allowed"], (method, path)


# -- request bodies ----------------------------------------------------------------------------

DEEP = 100_000


def deep_bodies(depth: int) -> dict[str, bytes]:
    return {
        "arrays": b"[" * depth + b"]" * depth,
        "objects": b'{"a":' * depth + b"1" + b"}" * depth,
        "in a field": b'{"input": "x", "metadata": ' + b"[" * depth + b"]" * depth + b"}",
    }


def json_post(client: Any, path: str, content: bytes) -> httpx.Response:
    return client.post(path, content=content, headers={"Content-Type": "application/json"})


def test_a_deeply_nested_body_is_400_on_every_endpoint_that_reads_json(workspace: Any) -> None:
    api = workspace.api
    lb = api.create_push_leaderboard()
    paths = [
        "/v1/leaderboards",
        "/v1/tokens",
        f"/v1/leaderboard/{lb}/dataset/push",
        f"/v1/leaderboard/{lb}/models",
        f"/v1/leaderboard/{lb}/inference",
        "/v1/chat/completions",
    ]
    for depth in (DEEP, 1_000):
        for shape, content in deep_bodies(depth).items():
            for path in paths:
                error = assert_error(json_post(api, path, content), 400, "json_too_deep")
                assert error["max_depth"] == 64, (depth, shape, path)
                assert "64" in error["message"], error


def test_nesting_up_to_the_limit_is_accepted(workspace: Any, deps: Any) -> None:
    limit = deps.settings.request_max_json_depth
    api = workspace.api
    lb = api.create_push_leaderboard()
    push = f"/v1/leaderboard/{lb}/dataset/push"
    metadata = "[" * (limit - 2) + "]" * (limit - 2)  # the row object and its metadata map
    row = '{"input": "deep", "metadata": {"deep": ' + metadata + "}}"
    response = json_post(api, push, row.encode())
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 1
    row = '{"input": "deeper", "metadata": {"deep": [' + metadata + "]}}"
    error = assert_error(json_post(api, push, row.encode()), 400, "json_too_deep")
    assert error["max_depth"] == limit


@pytest.mark.parametrize("content", [None, b"", b"  \n"])
def test_patch_without_a_body_is_400(workspace: Any, content: bytes | None) -> None:
    api = workspace.api
    lb = api.create_push_leaderboard()
    before = api.get(f"/v1/leaderboard/{lb}").json()
    headers = {"Content-Type": "application/json"} if content is not None else {}
    for path in (f"/v1/leaderboard/{lb}", f"/v1/workspace/model/dm_{uuid.uuid4().hex[:16]}"):
        response = api.http.patch(path, content=content, headers=headers)
        assert_error(response, 400, "empty_body")
    assert api.get(f"/v1/leaderboard/{lb}").json() == before


# -- strict types ------------------------------------------------------------------------------

NOT_NUMBERS = [False, True, "5", "0.5", None]


def test_numbers_refuse_booleans_and_numeric_strings(workspace: Any) -> None:
    api = workspace.api
    lb = api.create_push_leaderboard()
    leaderboard = {
        "name": "strict",
        "system_prompt": "{input}",
        "dataset": {"mode": "push"},
    }
    cases: list[tuple[str, str, dict[str, Any], str]] = []
    for value in NOT_NUMBERS[:4]:
        cases += [
            ("POST", "/v1/tokens", {"name": "t", "expires_in_days": value}, "expires_in_days"),
            ("POST", "/v1/tokens", {"name": "t", "budget_usd": value}, "budget_usd"),
            (
                "POST",
                "/v1/leaderboards",
                {**leaderboard, "dataset": {"mode": "push", "consolidate_every_hours": value}},
                "dataset.consolidate_every_hours",
            ),
            (
                "PATCH",
                f"/v1/leaderboard/{lb}",
                {"inference": {"timeout_seconds": value}},
                "inference.timeout_seconds",
            ),
            (
                "POST",
                f"/v1/leaderboard/{lb}/models/auto-select",
                {"max_p95_latency_ms": value},
                "max_p95_latency_ms",
            ),
            (
                "POST",
                f"/v1/leaderboard/{lb}/runs/r/reviews/i",
                {"score": value},
                "score",
            ),
            (
                "POST",
                f"/v1/leaderboard/{lb}/inference",
                {"input": "x", "max_tokens": value},
                "max_tokens",
            ),
            (
                "POST",
                "/v1/chat/completions",
                {"model": f"leaderboard/{lb}", "messages": [{}], "temperature": value},
                "temperature",
            ),
        ]
    for method, path, body, field in cases:
        response = api.http.request(method, path, json=body)
        error = assert_error(response, 422, "validation_failed")
        assert field in {e["field"] for e in error["errors"]}, (method, path, body, error)


@pytest.mark.parametrize("value", ["true", 1, 0, "yes"])
def test_booleans_refuse_strings_and_numbers(workspace: Any, value: Any) -> None:
    api = workspace.api
    lb = api.create_push_leaderboard()
    response = api.http.patch(f"/v1/leaderboard/{lb}", json={"inference": {"redact": value}})
    error = assert_error(response, 422, "validation_failed")
    assert "inference.redact" in {e["field"] for e in error["errors"]}


def test_integers_are_still_numbers_where_a_fraction_is_allowed(workspace: Any) -> None:
    api = workspace.api
    lb = api.create_push_leaderboard(consolidate_every_hours=12)
    config = api.get(f"/v1/leaderboard/{lb}").json()
    assert config["dataset"]["consolidate_every_hours"] == 12
    made = api.post("/v1/tokens", json={"name": "t", "budget_usd": 5})
    assert made.status_code == 201, made.text
    patched = api.http.patch(f"/v1/leaderboard/{lb}", json={"inference": {"timeout_seconds": 3}})
    assert patched.status_code == 200, patched.text


def test_a_number_with_a_zero_fraction_is_an_integer_as_json_schema_says(workspace: Any) -> None:
    """The document types ``inference.fallbacks`` as ``integer``, which ``3.0`` is."""
    api = workspace.api
    lb = api.create_push_leaderboard()
    patched = api.http.patch(f"/v1/leaderboard/{lb}", json={"inference": {"fallbacks": 3.0}})
    assert patched.status_code == 200, patched.text
    assert api.get(f"/v1/leaderboard/{lb}").json()["inference"]["fallbacks"] == 3
    fraction = api.http.patch(f"/v1/leaderboard/{lb}", json={"inference": {"fallbacks": 2.5}})
    assert fraction.status_code == 422, fraction.text
    assert fraction.json()["error"]["errors"][0]["field"] == "inference.fallbacks"


# -- the OpenAPI document ----------------------------------------------------------------------


def test_the_openapi_document_is_parsed_once_not_per_request(stack: Any) -> None:
    text = DEFAULT_SOURCE.parent.joinpath("docs", "openapi.yaml").read_text(encoding="utf-8")
    started = time.process_time()
    document = yaml.safe_load(text)
    parse_seconds = time.process_time() - started
    with httpx.Client(base_url=stack.base_url, timeout=30) as http:
        assert http.get("/v1/openapi.json").json() == document  # the first may parse
        spent = []
        for _ in range(5):
            started = time.perf_counter()
            response = http.get("/v1/openapi.json")
            spent.append(time.perf_counter() - started)
            assert response.status_code == 200
            assert json.loads(response.content) == document
    # Measured on the same machine, in the same process (the stack serves from a thread).
    assert statistics.median(spent) < parse_seconds / 3, (spent, parse_seconds)


# -- the client's timeout headers --------------------------------------------------------------


@pytest.mark.parametrize(
    "value", ["5e-324", "1e-300", "0.001", "0.09", "0", "-1", "nan", "inf", "-inf", "soon", ""]
)
def test_a_client_timeout_below_the_minimum_or_not_a_number_is_400(
    workspace: Any, deps: Any, value: str
) -> None:
    lb = "lb_" + uuid.uuid4().hex  # the header is read before the leaderboard is looked up
    response = workspace.api.post(
        f"/v1/leaderboard/{lb}/inference",
        json={"input": "hi"},
        headers={"X-DrGero-Timeout": value},
    )
    error = assert_error(response, 400, "invalid_header")
    assert error["header"] == "X-DrGero-Timeout"
    minimum = deps.settings.inference_min_client_timeout_seconds
    assert error["min_seconds"] == minimum and str(minimum) in error["message"], error


@pytest.mark.parametrize("value", ["5e-324", "0.001", "nan", "inf", "soon", "-3"])
def test_an_sdk_timeout_that_is_not_valid_is_ignored(workspace: Any, value: str) -> None:
    lb = "lb_" + uuid.uuid4().hex
    response = workspace.api.post(
        "/v1/chat/completions",
        json={"model": f"leaderboard/{lb}", "messages": [{"role": "user", "content": "hi"}]},
        headers={"X-Stainless-Read-Timeout": value},
    )
    assert_error(response, 404)  # got past the header to the leaderboard lookup


# -- numbers JSON allows but Python refuses, and bodies that end early ------------------------


@pytest.mark.parametrize(
    ("path", "content"),
    [
        ("/v1/leaderboards", b'{"name": ' + b"7" * 5000 + b"}"),  # over Python's 4300 digits
        ("/v1/tokens", b'{"name": "t", "budget_usd": 1e999}'),  # overflows to infinity
        ("/v1/tokens", b'{"name": "t", "budget_usd": -1e400}'),
        ("/v1/leaderboard/x/inference", b'{"input": "x", "temperature": 1e309}'),
    ],
)
def test_numbers_python_cannot_hold_are_400(workspace: Any, path: str, content: bytes) -> None:
    error = assert_error(json_post(workspace.api, path, content), 400, "invalid_json")
    assert "number" in error["message"], error


def test_a_body_shorter_than_its_content_length_is_400(workspace: Any, stack: Any) -> None:
    """The client stops sending mid-body: Werkzeug's own error, answered as ours."""
    url = httpx.URL(stack.base_url)
    with socket.create_connection((url.host, url.port), timeout=30) as sock:
        sock.sendall(
            b"POST /v1/leaderboards HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Authorization: Bearer {workspace.token}\r\n".encode()
            + b"Content-Length: 1000\r\nConnection: close\r\n\r\n"
            + b'{"name": "half'
        )
        sock.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    assert status == 400, answer[:300]
    assert b"application/json" in head.lower(), head
    assert json.loads(body)["error"]["code"], body


def test_a_cursor_holding_deeply_nested_json_is_400(workspace: Any) -> None:
    cursor = base64.urlsafe_b64encode(b"[" * 5000).decode().rstrip("=")
    response = workspace.api.get("/v1/tokens", params={"cursor": cursor})
    assert_error(response, 400, "invalid_cursor")


# -- bodies that reach a store or a provider ---------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        {"": 1},
        {"a": {"": 1}},
        {"a": [{"b": [{"": None}]}]},
        {"deep": [[1]]},
        {"deep": [{"a": [[]]}]},
        {"deep": json.loads('{"a":' * 20 + "1" + "}" * 20)},  # 21 levels with data itself
    ],
)
def test_event_data_firestore_cannot_store_is_422(workspace: Any, data: dict[str, Any]) -> None:
    lb = workspace.api.create_push_leaderboard()
    response = workspace.api.post(f"/v1/leaderboard/{lb}/traces", json={"name": "e", "data": data})
    error = assert_error(response, 422, "validation_failed")
    assert error["errors"][0]["field"] == "data", error


def test_event_data_as_deep_as_firestore_allows_is_recorded(workspace: Any) -> None:
    lb = workspace.api.create_push_leaderboard()
    data = {"deep": json.loads('[{"a":' * 9 + "[1]" + "}]" * 9), "k": {"v": 1}}
    response = workspace.api.post(f"/v1/leaderboard/{lb}/traces", json={"name": "e", "data": data})
    assert response.status_code == 201, response.text
    assert response.json()["data"] == data


@pytest.mark.parametrize(
    "secret", ["sk-or-v1-caf\u00e9-secret", "sk-or-v1 with spaces", "tab\tsecret"]
)
def test_an_integration_secret_that_cannot_be_a_header_is_422(workspace: Any, secret: str) -> None:
    response = workspace.api.http.put("/v1/integrations/huggingface", json={"secret": secret})
    error = assert_error(response, 422, "validation_failed")
    assert error["errors"][0]["field"] == "secret", error

"""``GET /healthz`` (liveness) and ``GET /readyz`` (Firestore answers) on every function.

Each function is served as production serves it (``functions_framework.create_app(target,
source)``) and, through the local dispatcher, as the load balancer routes it: paths no rule
matches (``/healthz``, ``/readyz``) go to the default function, ``api``. Readiness against a
Firestore that does not answer runs each function in a fresh interpreter pointed at a port where
nothing listens, or at a server that accepts connections and never answers.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from functools import cache
from typing import Any

import flask
import functions_framework
import httpx
import pytest

from devstack.dispatcher import DEFAULT_SOURCE
from shared.settings import Settings
from shared.web.router import Router
from shared.web.routes import DEFAULT_FUNCTION, targets
from tests.errors import assert_error

LOCAL = "http://localhost"


@cache
def app(target: str) -> flask.Flask:
    return functions_framework.create_app(target=target, source=str(DEFAULT_SOURCE))


@pytest.mark.parametrize("target", targets())
def test_every_function_is_live_without_credentials_or_io(target: str) -> None:
    client = app(target).test_client()
    for path in ("/healthz", "/healthz/"):
        response = client.get(LOCAL + path)
        assert response.status_code == 200, response.get_data(as_text=True)
        assert response.get_json() == {"status": "ok", "function": target}
        assert response.headers["X-Request-Id"]
    refused = client.post(LOCAL + "/healthz")
    assert refused.status_code == 405
    assert refused.headers["Allow"] == "GET"
    assert refused.get_json()["error"]["code"] == "method_not_allowed"


@pytest.fixture(scope="module")
def warm_firestore(deps: Any) -> None:
    """The emulator's first reads of a session can take seconds (a cold JVM on a loaded
    machine), longer than readiness waits; production Firestore answers in milliseconds."""
    deps.db.collection("_health").document("readyz").get()


@pytest.mark.parametrize("target", targets())
def test_every_function_is_ready_when_firestore_answers(warm_firestore: None, target: str) -> None:
    response = app(target).test_client().get(LOCAL + "/readyz")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json() == {"status": "ok", "function": target}


def test_the_dispatcher_sends_health_and_unknown_paths_to_the_default_function(
    stack: Any, warm_firestore: None
) -> None:
    with httpx.Client(base_url=stack.base_url, timeout=30) as http:
        for path in ("/healthz", "/readyz"):
            response = http.get(path)
            assert response.status_code == 200, response.text
            assert response.json() == {"status": "ok", "function": DEFAULT_FUNCTION}
        # api's router answers what no function serves, as behind the load balancer.
        for path in ("/nowhere", "/internal/nothing/here", "/healthzz"):
            error = assert_error(http.get(path), 404, "not_found")
            assert error["message"] == f"no endpoint at GET {path}"


def test_a_route_may_not_shadow_the_health_paths() -> None:
    router = Router("shadow")
    for template in ("/healthz", "/readyz/", "/{anything}"):
        with pytest.raises(ValueError, match="health"):
            router.route("GET", template)
    router.route("GET", "/v1/{anything}")  # any other path is free


# -- not ready -------------------------------------------------------------------------------

HEALTH_EVERYWHERE = (
    "import functions_framework, json, sys, time\n"
    "for target in sys.argv[1].split(','):\n"
    "    client = functions_framework.create_app(target=target, source=sys.argv[2]).test_client()\n"
    "    for path in ('/healthz', '/readyz'):\n"
    "        started = time.monotonic()\n"
    "        answer = client.get('http://localhost' + path)\n"
    "        print(json.dumps({'target': target, 'path': path, 'status': answer.status_code,\n"
    "                          'seconds': time.monotonic() - started,\n"
    "                          'body': answer.get_data(as_text=True)}))\n"
)
TIMEOUT = 0.5


def health_everywhere(firestore_host: str) -> list[dict[str, Any]]:
    """``GET /healthz`` and ``GET /readyz`` on every function, in a fresh interpreter whose
    Firestore is at ``firestore_host``."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("DRGERO_")} | {
        "FIRESTORE_EMULATOR_HOST": firestore_host,
        "DRGERO_READYZ_TIMEOUT_SECONDS": str(TIMEOUT),
    }
    done = subprocess.run(
        [sys.executable, "-c", HEALTH_EVERYWHERE, ",".join(targets()), str(DEFAULT_SOURCE)],
        env=environment,
        capture_output=True,
        text=True,
        timeout=180,
        cwd=DEFAULT_SOURCE.parent,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith('{"target"')]


@pytest.fixture
def stalled_port() -> Iterator[int]:
    """A port that accepts connections and never says a word (its backlog holds them)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        yield listener.getsockname()[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("where", ["nothing listens", "stalled"])
def test_readyz_is_503_when_firestore_does_not_answer(where: str, stalled_port: int) -> None:
    port = stalled_port if where == "stalled" else free_port()
    answers = health_everywhere(f"127.0.0.1:{port}")
    assert [(a["target"], a["path"]) for a in answers] == [
        (target, path) for target in targets() for path in ("/healthz", "/readyz")
    ]
    for answer in answers:
        if answer["path"] == "/healthz":  # no I/O: alive, at once, whatever Firestore does
            assert (answer["status"], json.loads(answer["body"])["status"]) == (200, "ok")
            assert answer["seconds"] < 0.5, answer
            continue
        assert answer["status"] == 503, answer
        assert answer["seconds"] < TIMEOUT + 3, answer  # bounded by the setting
        body = json.loads(answer["body"])
        assert body["error"]["code"] == "not_ready", answer
        assert body["error"]["timeout_seconds"] == TIMEOUT, answer
        # Nothing of the inside: no address, port, exception or library names.
        for leak in ("127.0.0.1", str(port), "grpc", "Deadline", "Exception", "Traceback"):
            assert leak not in answer["body"], (leak, answer)
    if where == "stalled":  # the read waited for its bound, no longer
        waits = [a["seconds"] for a in answers if a["path"] == "/readyz"]
        assert min(waits) >= TIMEOUT * 0.9, waits


def test_readyz_timeout_is_a_bounded_setting() -> None:
    assert Settings().readyz_timeout_seconds == 2.0
    with pytest.raises(ValueError, match="readyz_timeout_seconds"):
        Settings(readyz_timeout_seconds=0)
    with pytest.raises(ValueError, match="readyz_timeout_seconds"):
        Settings(readyz_timeout_seconds=120)

"""How a router answers a Google API failure: transient ones ask for a retry (503); a
permanent one drops a private function's task (200, with its reason) and is a 500 elsewhere,
never a "retry shortly" that would fail the same way forever.

The private router verifies its caller before any route, so its requests carry the ID token
Cloud Tasks would send (the stack's simulator issues it)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator

import flask
import pytest
from google.api_core import exceptions as gexc

from devstack.inprocess import InProcessStack
from shared.bootstrap import Deps
from shared.web import router as http
from shared.web.router import Router, is_transient

TRANSIENT = [
    gexc.ServiceUnavailable("down"),
    gexc.DeadlineExceeded("slow"),
    gexc.Aborted("contention"),
    gexc.InternalServerError("oops"),
    gexc.TooManyRequests("busy"),
    gexc.ResourceExhausted("quota"),
    gexc.BadGateway("proxy"),
    gexc.GatewayTimeout("proxy"),
    gexc.Unknown("emulator"),
    gexc.RetryError("gave up", cause=None),
]
PERMANENT = [
    gexc.InvalidArgument("document too large"),
    gexc.FailedPrecondition("the query requires an index"),
    gexc.PermissionDenied("no role"),
    gexc.NotFound("no bucket"),
    gexc.AlreadyExists("twice"),
    gexc.Unauthenticated("no credentials"),
    gexc.OutOfRange("past the end"),
]


@pytest.mark.parametrize("error", TRANSIENT, ids=lambda e: type(e).__name__)
def test_transient_failures_are_worth_a_retry(error: Exception) -> None:
    assert is_transient(error)


@pytest.mark.parametrize("error", PERMANENT, ids=lambda e: type(e).__name__)
def test_permanent_failures_are_not(error: Exception) -> None:
    assert not is_transient(error)


_SIGNERS: dict[str, Callable[[str], dict[str, str]]] = {}  # router name → its callers' headers


@pytest.fixture
def routers(stack: InProcessStack, deps: Deps) -> Iterator[tuple[Router, Router]]:
    names = [f"test-private-{uuid.uuid4().hex[:6]}", f"test-public-{uuid.uuid4().hex[:6]}"]
    private = Router(names[0], private=True, deps=lambda: deps)
    public = Router(names[1], deps=lambda: deps)
    _SIGNERS[private.name] = stack.internal_headers  # what Cloud Tasks sends it
    yield private, public
    for name in names:
        http.ROUTERS.pop(name, None)
        _SIGNERS.pop(name, None)  # the deploy's URL-map checks walk every router


def _answer(router: Router, error: Exception, path: str) -> tuple[int, dict]:
    @router.route("POST", path)
    def _fails(request: flask.Request, deps: Deps) -> dict:
        raise error

    sign = _SIGNERS.get(router.name)
    headers = sign(path) if sign else {}
    app = flask.Flask(__name__)
    with app.test_request_context(path, method="POST", headers=headers):
        response = router(flask.request)
    return response.status_code, json.loads(response.get_data())


@pytest.mark.parametrize("error", PERMANENT, ids=lambda e: type(e).__name__)
def test_a_permanent_failure_drops_a_task_with_its_reason(routers, error: Exception) -> None:
    private, public = routers
    status, body = _answer(private, error, "/internal/tasks/boom")
    assert status == 200
    assert body["status"] == "dropped" and body["reason"] == "permanent_error"
    assert body["error"] == type(error).__name__ and body["request_id"]
    status, body = _answer(public, error, "/v1/boom")
    assert status == 500 and body["error"]["code"] == "internal"
    assert body["error"]["request_id"]


@pytest.mark.parametrize("error", TRANSIENT, ids=lambda e: type(e).__name__)
def test_a_transient_failure_asks_for_a_retry_everywhere(routers, error: Exception) -> None:
    for router, path in zip(routers, ("/internal/tasks/boom", "/v1/boom"), strict=True):
        status, body = _answer(router, error, path)
        assert status == 503 and body["error"]["code"] == "unavailable"
        assert "retry" in body["error"]["message"]

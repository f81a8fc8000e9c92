"""No public function serves an ``/internal`` path: those live only in the private functions,
which the load balancer never routes (``shared.web.routes``)."""

from __future__ import annotations

import importlib

import pytest

from shared.web.routes import INTERNAL_PREFIX, private_functions, public_functions
from tests.api.test_http_contract import app

INTERNAL_PATHS = (
    "/internal/tasks/consolidate",
    "/internal/tasks/prepare-run",
    "/internal/tasks/evaluate-shard",
    "/internal/jobs/consolidate-due",
    "/internal/jobs/runs-watchdog",
    "/internal/jobs/scheduled-runs",
)


def served_patterns(function: str) -> list[str]:
    """The route patterns of ``function``'s router (its module is ``functions.<function>``).

    Reads ``Router._routes``: the router has no public accessor for its routes yet.
    """
    router = importlib.import_module(f"functions.{function}").router
    return [route.pattern.pattern for route in router._routes]


def test_the_private_functions_are_worker_and_jobs():
    assert set(private_functions()) == {"worker", "jobs"}
    assert not set(private_functions()) & set(public_functions())


@pytest.mark.parametrize("function", public_functions())
def test_no_public_function_routes_an_internal_path(function):
    routers = {
        route.pattern for route in importlib.import_module(f"functions.{function}").router._routes
    }
    assert routers, function
    for path in INTERNAL_PATHS:
        assert not any(pattern.match(path) for pattern in routers), (function, path)
    assert not any(
        p.startswith("^" + INTERNAL_PREFIX.rstrip("/")) for p in served_patterns(function)
    )


@pytest.mark.parametrize("function", public_functions())
def test_a_public_function_answers_404_to_an_internal_path(function):
    # As production serves it: even a request that reached the function (a misrouted load
    # balancer) finds no handler.
    client = app(function).test_client()
    for path in INTERNAL_PATHS:
        answer = client.post(path, json={"leaderboard_id": "lb"})
        assert answer.status_code == 404, (function, path, answer.get_data(as_text=True)[:200])
        assert answer.get_json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("function", private_functions())
def test_private_functions_serve_only_internal_paths(function):
    patterns = served_patterns(function)
    assert patterns, function
    assert all(p.startswith("^" + INTERNAL_PREFIX) for p in patterns), patterns

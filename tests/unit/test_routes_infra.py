"""The routing table (shared/web/routes.py), the functions it names and what infra/ deploys."""

from pathlib import Path

import pytest
import yaml

import main  # noqa: F401  (registers every function's router)
from shared.web.router import ROUTERS
from shared.web.routes import (
    FUNCTION_ROUTES,
    function_for_path,
    private_functions,
    public_functions,
    targets,
    template_matches,
)

INFRA = Path(__file__).resolve().parents[2] / "infra"


def test_every_function_of_the_table_is_deployed_and_has_a_router():
    functions = yaml.safe_load((INFRA / "functions.yaml").read_text())["functions"]
    assert sorted(f["name"] for f in functions) == sorted(targets())
    assert set(targets()) <= set(ROUTERS)  # (tests may build routers of their own)


def test_every_route_a_function_serves_is_routed_to_it():
    for function in targets():
        for method, template in ROUTERS[function].routes():
            path = template.replace("{", "x-").replace("}", "")
            assert function_for_path(path) == function, f"{method} {template}"


def test_private_functions_serve_only_internal_paths_and_public_ones_none():
    assert sorted(private_functions()) == ["jobs", "worker"]
    for function in public_functions():
        for method, template in ROUTERS[function].routes():
            assert not template.startswith("/internal"), f"{function}: {method} {template}"
    for function in private_functions():
        assert all(t.startswith("/internal/") for _, t in ROUTERS[function].routes())


@pytest.mark.parametrize(
    ("template", "path", "matches"),
    [
        ("/v1/leaderboard/*/dataset/push", "/v1/leaderboard/abc/dataset/push", True),
        ("/v1/leaderboard/*/dataset/push", "/v1/leaderboard/abc/dataset/push/", True),
        ("/v1/leaderboard/*/dataset/push", "/v1/leaderboard//dataset/push", False),
        ("/v1/leaderboard/*/dataset/push", "/v1/leaderboard/a/b/dataset/push", False),
        ("/v1/leaderboard/*/dataset/push", "/v1/leaderboard/abc/dataset/pushy", False),
        ("/v1/leaderboard/*/runs/**", "/v1/leaderboard/abc/runs/r1/cancel", True),
        ("/v1/leaderboard/*/runs/**", "/v1/leaderboard/abc/runs", True),
        ("/v1/leaderboard/*/runs/**", "/v1/leaderboard/abc/runsx", False),
        ("/internal/tasks/*", "/internal/tasks/evaluate-shard", True),
        ("/internal/tasks/*", "/internal/tasks/a/b", False),
    ],
)
def test_templates_match_as_the_load_balancer_matches(template, path, matches):
    assert template_matches(template, path) is matches


def test_paths_fall_where_they_should():
    assert function_for_path("/internal/tasks/consolidate") == "worker"
    assert function_for_path("/internal/jobs/consolidate-due") == "jobs"
    assert function_for_path("/internal/anything-else") is None
    assert function_for_path("/v1/leaderboard/x/dataset/push") == "push"
    assert function_for_path("/v1/leaderboard/x/dataset/pushy") == "api"
    assert function_for_path("/v1/leaderboard/x/runs/r/reviews") == "runs"


def test_templates_are_valid_load_balancer_templates():
    for route in FUNCTION_ROUTES:
        template_matches(route.template, "/")  # compiles, or raises on a bad template
        assert route.template.count("*") - route.template.count("**") <= 5


def test_scheduler_jobs_target_served_paths():
    jobs = yaml.safe_load((INFRA / "scheduler.yaml").read_text())["jobs"]
    assert jobs
    served = {template for _, template in ROUTERS["jobs"].routes()}
    for job in jobs:
        assert function_for_path(job["path"]) == "jobs"
        assert job["path"] in served, job

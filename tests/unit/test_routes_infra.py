"""The production URL map (infra/functions.yaml) and the local dispatcher agree."""

from pathlib import Path

import yaml

from shared.web.routes import function_for_path, targets

INFRA = Path(__file__).resolve().parents[2] / "infra"


def test_every_function_is_deployed_and_routed_the_same_way():
    functions = yaml.safe_load((INFRA / "functions.yaml").read_text())["functions"]
    assert {f["name"] for f in functions} == set(targets())
    for function in functions:
        for glob in function["paths"]:
            sample = glob.replace("*", "some-id")
            assert function_for_path(sample) == function["name"], glob


def test_internal_paths_never_reach_the_public_api():
    assert function_for_path("/internal/tasks/consolidate") == "consolidation"
    assert function_for_path("/internal/jobs/consolidate-due") == "jobs"
    assert function_for_path("/internal/anything-else") is None
    assert function_for_path("/v1/leaderboard/x/dataset/push") == "push"
    assert function_for_path("/v1/leaderboard/x/dataset/pushy") == "api"


def test_scheduler_jobs_target_served_paths():
    jobs = yaml.safe_load((INFRA / "scheduler.yaml").read_text())["jobs"]
    assert jobs
    for job in jobs:
        assert function_for_path(job["path"]) == "jobs"

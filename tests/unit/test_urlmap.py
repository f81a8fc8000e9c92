"""The load balancer's URL map, generated from the routing table, sends every path a public
function serves to that function and nothing under /internal anywhere but the default (which
answers 404)."""

import main  # noqa: F401  (registers every function's router)
from infra.deploy import urlmap
from infra.deploy.check import url_map_problems
from infra.deploy.config import Target, load
from shared.web.router import ROUTERS
from shared.web.routes import private_functions, public_functions

CONFIG = load(Target("acme-prod-123", "europe-west1", "api.example.com"))
DOC = urlmap.url_map(CONFIG)


def backend(function: str) -> str:
    return urlmap.backend_url(CONFIG, function)


def sample(template: str) -> str:
    return template.replace("{", "s-").replace("}", "")


def test_every_route_of_every_public_function_goes_to_that_function():
    checked = 0
    for function in public_functions():
        for method, template in ROUTERS[function].routes():
            got = urlmap.route(DOC, "api.example.com", sample(template))
            assert got == backend(function), f"{method} {template} -> {got}"
            checked += 1
    assert checked >= 40


def test_nothing_under_internal_is_routed_to_a_private_function():
    routed = {rule["service"] for m in DOC["pathMatchers"] for rule in m["routeRules"]}
    for function in private_functions():
        assert backend(function) not in routed
        for _, template in ROUTERS[function].routes():
            assert urlmap.route(DOC, "api.example.com", sample(template)) == backend("api")
    templates = [
        match["pathTemplateMatch"]
        for m in DOC["pathMatchers"]
        for rule in m["routeRules"]
        for match in rule["matchRules"]
    ]
    assert templates and not [t for t in templates if t.startswith("/internal")]


def test_the_runs_sub_paths_reach_the_runs_function():
    runs = "/v1/leaderboard/l/runs"
    for path in (f"{runs}/r", f"{runs}/r/cancel", f"{runs}/r/reviews", f"{runs}/r/reviews/i"):
        assert urlmap.route(DOC, "api.example.com", path) == backend("runs")


def test_another_host_and_unknown_paths_go_to_the_default_function():
    assert urlmap.route(DOC, "1.2.3.4", "/v1/leaderboard/l/dataset/push") == backend("api")
    assert urlmap.route(DOC, "api.example.com", "/nothing/here") == backend("api")


def test_the_check_finds_a_missed_route():
    assert url_map_problems(CONFIG) == []
    broken = dict(DOC)
    broken["pathMatchers"] = [
        {**DOC["pathMatchers"][0], "routeRules": DOC["pathMatchers"][0]["routeRules"][1:]}
    ]
    missed = [
        template
        for _, template in ROUTERS["push"].routes()
        if urlmap.route(broken, "api.example.com", sample(template)) != backend("push")
    ]
    assert missed == ["/v1/leaderboard/{leaderboard_id}/dataset/push"]


def test_the_map_is_within_the_load_balancer_limits():
    assert urlmap.check(DOC) == []
    too_many = {"pathMatchers": [{"name": "m", "routeRules": [
        {"priority": 1, "matchRules": [{"pathTemplateMatch": "/*/*/*/*/*/*"}], "service": "s"},
        {"priority": 1, "matchRules": [{"pathTemplateMatch": "/internal/**"}], "service": "s"},
    ]}]}  # fmt: skip
    problems = urlmap.check(too_many)
    assert any("5 wildcard" in p for p in problems)
    assert any("priorities repeat" in p for p in problems)
    assert any("/internal" in p for p in problems)


def test_a_worker_timeout_past_the_tasks_dispatch_deadline_is_refused(tmp_path):
    import shutil

    import pytest

    from infra.deploy.config import INFRA, ConfigError

    for name in ("deploy.yaml", "functions.yaml", "firestore.indexes.json"):
        shutil.copy(INFRA / name, tmp_path / name)
    functions = (
        (tmp_path / "functions.yaml").read_text().replace("timeout: 1740s", "timeout: 1800s")
    )
    (tmp_path / "functions.yaml").write_text(functions)
    with pytest.raises(ConfigError, match="dispatch deadline"):
        load(Target("acme-prod-123", "europe-west1", "api.example.com"), infra=tmp_path)

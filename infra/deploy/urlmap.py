"""The load balancer's URL map, generated from the routing table (``shared/web/routes.py``).

One route rule per table entry that a public function serves, in table order (the rule's
priority), matching the entry's template with ``pathTemplateMatch``; a second match rule
``<template>/**`` sends the same path with a trailing slash (or below it) to the same function,
whose router answers it (as the local dispatcher does). The ``api`` function is the default
service: it answers whatever no rule matches, with a JSON 404 for unknown paths. No rule names
an ``/internal`` path and no private function has a backend, so the load balancer cannot reach
one. :func:`route` evaluates a URL map the way the load balancer does, for the tests.
"""

from __future__ import annotations

from typing import Any

from infra.deploy.config import Config
from shared.web.routes import DEFAULT_FUNCTION, FUNCTION_ROUTES, template_matches

COMPUTE = "https://www.googleapis.com/compute/v1"
PATH_MATCHER = "drgero"


def backend_url(config: Config, function: str) -> str:
    return f"{COMPUTE}/projects/{config.project}/global/backendServices/{config.backend(function)}"


def url_map(config: Config) -> dict[str, Any]:
    """The URL map document (``gcloud compute url-maps import`` reads it as YAML/JSON)."""
    default = backend_url(config, DEFAULT_FUNCTION)
    rules = []
    public = set(config.public)
    for index, entry in enumerate(FUNCTION_ROUTES):
        if entry.internal or entry.function not in public or entry.function == DEFAULT_FUNCTION:
            continue
        matches = [{"pathTemplateMatch": entry.template}]
        if not entry.template.endswith("/**"):
            matches.append({"pathTemplateMatch": entry.template + "/**"})
        rules.append(
            {
                "priority": (index + 1) * 10,
                "matchRules": matches,
                "service": backend_url(config, entry.function),
            }
        )
    return {
        "name": config.spec.load_balancer.url_map,
        "defaultService": default,
        "hostRules": [{"hosts": [config.target.domain], "pathMatcher": PATH_MATCHER}],
        "pathMatchers": [
            {"name": PATH_MATCHER, "defaultService": default, "routeRules": rules},
        ],
    }


def redirect_map(config: Config) -> dict[str, Any]:
    """Port 80: every request is redirected to HTTPS."""
    return {
        "name": config.spec.load_balancer.redirect_url_map,
        "defaultUrlRedirect": {
            "httpsRedirect": True,
            "redirectResponseCode": "MOVED_PERMANENTLY_DEFAULT",
            "stripQuery": False,
        },
    }


def route(document: dict[str, Any], host: str, path: str) -> str:
    """The backend service URL the load balancer sends ``host`` + ``path`` to."""
    matcher_name = next(
        (rule["pathMatcher"] for rule in document.get("hostRules", []) if host in rule["hosts"]),
        None,
    )
    matcher = next((m for m in document.get("pathMatchers", []) if m["name"] == matcher_name), None)
    if matcher is None:
        return str(document["defaultService"])
    for rule in sorted(matcher.get("routeRules", []), key=lambda rule: rule["priority"]):
        for match in rule["matchRules"]:
            if template_matches(match["pathTemplateMatch"], path):
                return str(rule["service"])
    return str(matcher["defaultService"])


def check(document: dict[str, Any]) -> list[str]:
    """What the load balancer would refuse in ``document`` (limits of pathTemplateMatch and
    route rules), one message per problem."""
    problems = []
    for matcher in document.get("pathMatchers", []):
        priorities = [rule["priority"] for rule in matcher.get("routeRules", [])]
        if len(priorities) != len(set(priorities)):
            problems.append(f"path matcher {matcher['name']}: route rule priorities repeat")
        if len(priorities) > 200:
            problems.append(f"path matcher {matcher['name']}: more than 200 route rules")
        for rule in matcher.get("routeRules", []):
            for match in rule["matchRules"]:
                template = match["pathTemplateMatch"]
                operators = template.count("*") - template.count("**")
                if not 1 <= len(template) <= 255:
                    problems.append(f"{template}: pathTemplateMatch must be 1..255 characters")
                if operators > 5:
                    problems.append(f"{template}: more than 5 wildcard operators")
                if template.startswith("/internal"):
                    problems.append(f"{template}: an /internal path is routed")
    return problems

"""Which function serves which path: the one routing table of the system.

In production every function is its own Cloud Run function. The public ones sit behind one
HTTPS load balancer whose URL map is generated from this table (``infra/deploy``: one route
rule per entry, with the entry's template as its ``pathTemplateMatch``); the private ones are
called by Cloud Tasks and Cloud Scheduler at their own ``run.app`` URL and never routed by the
load balancer. Locally the dispatcher in ``devstack/`` mounts every function by the same table
behind one base URL, matching paths with the load balancer's rules (:func:`template_matches`),
so a path reaches the same function here as there.

Templates use the load balancer's ``pathTemplateMatch`` syntax: ``*`` matches one non-empty
path segment, ``**`` (last only) matches the rest of the path, zero or more segments. First
match wins, in table order; the ``api`` function is the URL map's default service and serves
whatever no template matches.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

INTERNAL_PREFIX = "/internal/"


@dataclass(frozen=True)
class FunctionRoute:
    function: str
    template: str  # a load balancer pathTemplateMatch

    @property
    def internal(self) -> bool:
        return self.template.startswith(INTERNAL_PREFIX)


FUNCTION_ROUTES: tuple[FunctionRoute, ...] = tuple(
    FunctionRoute(function, template)
    for function, template in (
        ("push", "/v1/leaderboard/*/dataset/push"),
        ("status", "/v1/leaderboard/*/dataset/status"),
        ("consolidation", "/v1/leaderboard/*/dataset/consolidate"),
        ("runs", "/v1/leaderboard/*/runs"),
        ("runs", "/v1/leaderboard/*/runs/**"),
        ("runs", "/v1/leaderboard/*/ranking"),
        ("inference", "/v1/leaderboard/*/inference"),
        ("inference", "/v1/chat/completions"),
        ("inference", "/v1/models"),
        ("worker", "/internal/tasks/*"),
        ("jobs", "/internal/jobs/*"),
        ("api", "/v1/**"),
    )
)

# The URL map's default service: it answers (with a JSON 404) whatever no rule routes.
DEFAULT_FUNCTION = "api"


def template_matches(template: str, path: str) -> bool:
    """Whether ``path`` matches a ``pathTemplateMatch`` ``template`` (a trailing ``/`` of the
    path is ignored, as every function's router ignores it)."""
    return _compiled(template).fullmatch(path) is not None


@cache
def _compiled(template: str) -> re.Pattern[str]:
    parts = []
    segments = template.strip("/").split("/")
    for index, segment in enumerate(segments):
        if segment == "**":
            if index != len(segments) - 1:
                raise ValueError(f"{template}: ** must be the last segment")
            parts.append("(?:/[^/]+)*")
        elif segment == "*":
            parts.append("/[^/]+")
        elif "*" in segment or not segment:
            raise ValueError(f"{template}: {segment!r} is not a literal, * or **")
        else:
            parts.append("/" + re.escape(segment))
    return re.compile("".join(parts) + "/?")


def function_for_path(path: str) -> str | None:
    """The function that serves ``path``, or None when none does (an unknown ``/internal``
    path; any other path falls to the default function)."""
    for route in FUNCTION_ROUTES:
        if template_matches(route.template, path):
            return route.function
    return None


def targets() -> list[str]:
    """Every function, once, in table order."""
    return list(dict.fromkeys(route.function for route in FUNCTION_ROUTES))


def private_functions() -> list[str]:
    """The functions that serve only ``/internal`` paths: never behind the load balancer."""
    return [
        function
        for function in targets()
        if all(route.internal for route in FUNCTION_ROUTES if route.function == function)
    ]


def public_functions() -> list[str]:
    private = set(private_functions())
    return [function for function in targets() if function not in private]

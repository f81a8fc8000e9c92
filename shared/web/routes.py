"""Which function serves which path.

In production every function is its own Cloud Function behind one HTTPS load balancer whose URL
map follows this table (see ``infra/``); locally the dispatcher in ``devstack/`` mounts every
function by the same table behind one base URL. First match wins, so the catch-all ``api``
function comes last.
"""

from __future__ import annotations

import re

FUNCTION_ROUTES: tuple[tuple[str, str], ...] = (
    ("push", r"^/v1/leaderboard/[^/]+/dataset/push/?$"),
    ("status", r"^/v1/leaderboard/[^/]+/dataset/status/?$"),
    ("consolidation", r"^/v1/leaderboard/[^/]+/dataset/consolidate/?$"),
    ("consolidation", r"^/internal/tasks/consolidate/?$"),
    ("runs", r"^/v1/leaderboard/[^/]+/(runs|ranking)(/.*)?$"),
    ("runs", r"^/internal/tasks/prepare-run/?$"),
    ("worker", r"^/internal/tasks/evaluate-shard/?$"),
    ("inference", r"^/v1/leaderboard/[^/]+/inference/?$"),
    ("inference", r"^/v1/chat/completions/?$"),
    ("inference", r"^/v1/models/?$"),
    ("jobs", r"^/internal/jobs/[^/]+/?$"),
    ("api", r"^/v1/"),
)

_COMPILED = tuple((target, re.compile(pattern)) for target, pattern in FUNCTION_ROUTES)


def function_for_path(path: str) -> str | None:
    """The function target that serves ``path``, or None when no function does."""
    for target, pattern in _COMPILED:
        if pattern.match(path):
            return target
    return None


def targets() -> list[str]:
    """Every function target, once, in table order."""
    return list(dict.fromkeys(target for target, _ in FUNCTION_ROUTES))

"""Who calls, and which page they want: the two things every authenticated handler asks.

:func:`authorize` is how every public handler learns who calls (the API token or dataset
token of the request, ``shared.services.auth``'s rules), before it reads a body. Two entry
points read the same token differently for speed, with the same rules: inference reads it
through the instance's token cache (``services.inference.authenticate``), and push reads the
token, the leaderboard and an idempotency record in one round trip (``services.push.
authorize_push``). Private functions verify an ID token instead (``shared.web.internal``).
"""

from __future__ import annotations

from typing import Any

import flask

from shared.bootstrap import Deps
from shared.domain.tokens import Scope
from shared.services.auth import Principal, authenticate
from shared.storage.pagination import page_size
from shared.web.http import bearer_token


def authorize(request: flask.Request, deps: Deps, scope: Scope | None = None) -> Principal:
    """The authenticated caller; with ``scope``, refused (403) before its body is even read."""
    principal = authenticate(deps, bearer_token(request))
    if scope is not None:
        principal.require(scope)
    return principal


def paging(request: flask.Request) -> dict[str, Any]:
    return {
        "limit": page_size(request.args.get("limit")),
        "cursor": request.args.get("cursor") or None,
    }

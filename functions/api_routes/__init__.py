"""Handlers of the ``api`` function, by resource, all on one router.

Each handler authenticates, validates its body into a pydantic model, calls one service and
returns its answer; the router maps errors. Importing this package registers every route.
"""

from __future__ import annotations

from typing import Any

import flask

from shared import wiring
from shared.domain.tokens import Scope
from shared.services.auth import Principal, authenticate
from shared.storage.pagination import page_size
from shared.web.http import Router, bearer_token

router = Router("api")


def caller(request: flask.Request, scope: Scope | None = None) -> Principal:
    """The authenticated caller; with ``scope``, refused (403) before its body is even read."""
    principal = authenticate(wiring.deps(), bearer_token(request))
    if scope is not None:
        principal.require(scope)
    return principal


def paging(request: flask.Request) -> dict[str, Any]:
    return {
        "limit": page_size(request.args.get("limit")),
        "cursor": request.args.get("cursor") or None,
    }


from functions.api_routes import accounts, leaderboards, models  # noqa: E402

__all__ = ["accounts", "caller", "leaderboards", "models", "paging", "router"]

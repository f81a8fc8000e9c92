"""Who calls, and which page they want: the two things every authenticated handler asks."""

from __future__ import annotations

from typing import Any

import flask

from shared.bootstrap import Deps
from shared.domain.tokens import Scope
from shared.services.auth import Principal, authenticate
from shared.storage.pagination import page_size
from shared.web.http import bearer_token


def caller(request: flask.Request, deps: Deps, scope: Scope | None = None) -> Principal:
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

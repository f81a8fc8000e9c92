"""Handlers of the ``api`` function, by resource, all on one router.

Each handler authenticates, validates its body into a pydantic model, calls one service and
returns its answer; the router maps errors. Importing this package registers every route.
"""

from __future__ import annotations

from shared.web.authorize import authorize, paging
from shared.web.router import Router

router = Router("api")


from functions.api_routes import accounts, leaderboards, models  # noqa: E402

__all__ = ["accounts", "authorize", "leaderboards", "models", "paging", "router"]

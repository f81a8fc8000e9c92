"""``GET /v1/models``: a workspace's leaderboards as the OpenAI API lists models, in pages.

The OpenAI list shape (``{"object": "list", "data": [...]}``) with its cursor fields
(``has_more``, ``first_id``, ``last_id``) and query (``after=<model id>``, ``limit``), newest
leaderboard first. ``limit`` defaults to, and may not pass, ``models_list_max_limit``; the
SDKs' ``client.models.list()`` reads the first page.
"""

from __future__ import annotations

from typing import Any

from shared.bootstrap import Deps
from shared.domain.tokens import Scope
from shared.errors import BadRequest
from shared.services.auth import Principal, authorize_leaderboard
from shared.storage.ids import is_storable_id
from shared.storage.pagination import encode_cursor

MODEL_PREFIX = "leaderboard/"


def list_models(
    deps: Deps, principal: Principal, *, after: str | None, limit: str | None
) -> dict[str, Any]:
    size = _limit(limit, deps.settings.models_list_max_limit)
    cursor = _cursor_after(deps, principal, after) if after else None
    records, next_cursor = deps.leaderboards.list_page(
        workspace_id=principal.workspace_id, limit=size, cursor=cursor
    )
    data = []
    for record in records:
        authorize_leaderboard(principal, record.id, record, Scope.INFERENCE)
        data.append({"id": MODEL_PREFIX + record.id, "object": "model",
                     "created": int(record.created_at.timestamp()),
                     "owned_by": record.workspace_id, "name": record.name})  # fmt: skip
    return {
        "object": "list",
        "data": data,
        "has_more": next_cursor is not None,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
    }


def _limit(raw: str | None, max_limit: int) -> int:
    if raw is None or raw == "":
        return max_limit
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if not 1 <= value <= max_limit:
        raise BadRequest(
            f"limit must be an integer between 1 and {max_limit}, not {raw!r}",
            code="invalid_limit",
            max_limit=max_limit,
        )
    return value


def _cursor_after(deps: Deps, principal: Principal, after: str) -> str:
    """The page cursor just past ``after`` (a model id this list answered)."""
    leaderboard_id = after.removeprefix(MODEL_PREFIX)
    record = deps.leaderboards.get(leaderboard_id) if is_storable_id(leaderboard_id) else None
    if record is None or record.workspace_id != principal.workspace_id:
        raise BadRequest(
            f"after must be the id of a model this list answered, not {after!r}",
            code="invalid_after",
        )
    return encode_cursor(record.created_at, record.id)

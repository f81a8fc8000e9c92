"""Browser callers (CORS): which origins may call, decided without and then with the token.

A workspace admin allows exact origins (``PUT /v1/workspace``): ``allowed_origins`` for every
endpoint, and ``push_origins`` per PUSH leaderboard for that leaderboard's push endpoint only
(what a page that embeds a dataset token needs, and nothing more). Nothing is allowed by
default.

**A preflight has no token**, so it is decided by the origin and the path alone, from the
origin's index entry (``storage.origins``, one cached read): a path under
``/v1/leaderboard/{id}/`` is allowed when that leaderboard's workspace allows the origin (or,
for its push, the leaderboard itself does); any other path (``/v1/chat/completions``,
``/v1/models``, the admin API) when some workspace allows it. A preflight never reads a token
or a body, and its answer is the same for a leaderboard that does not exist and for one whose
workspace does not allow the origin: it cannot be used to probe for either.

**The request itself** is decided again once its token is known (:func:`check_caller`, called
by every authentication): the token's workspace must allow the origin (or, on a push, the
leaderboard must); otherwise it is refused, 403 ``origin_not_allowed``, before anything runs,
and without CORS headers (the page cannot read the answer).

Grants are cached per instance for ``cors_cache_seconds``: an origin an admin removes stops
working everywhere within that time (at once on the instance that took the change).
"""

from __future__ import annotations

import contextvars
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.bootstrap import Deps
from shared.domain.origins import normalise_origin
from shared.domain.tokens import Scope
from shared.errors import Conflict, Forbidden, NotFound, ValidationFailed
from shared.services.hotcache import TtlCache
from shared.storage.origins import OriginGrant

if TYPE_CHECKING:
    from shared.services.auth import Principal

_LEADERBOARD_PATH = re.compile(r"^/v1/leaderboard/(?P<id>[^/]+)(?P<rest>/.*)?$")
_PUSH_REST = re.compile(r"^/dataset/push/?$")


class WorkspaceSettingsPut(BaseModel):
    """``PUT /v1/workspace``: the settings given replace the stored ones; the others stay."""

    model_config = ConfigDict(extra="forbid", strict=True)

    allowed_origins: list[Annotated[str, Field(max_length=2048)]] | None = None
    push_origins: dict[str, list[Annotated[str, Field(max_length=2048)]]] | None = None

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else _normalised(value)

    @field_validator("push_origins")
    @classmethod
    def _push(cls, value: dict[str, list[str]] | None) -> dict[str, list[str]] | None:
        if value is None:
            return None
        return {lb: origins for lb, raw in value.items() if (origins := _normalised(raw))}


def _normalised(origins: list[str]) -> list[str]:
    seen: list[str] = []
    for text in origins:
        origin = normalise_origin(text)  # ValueError: a 422 naming the field
        if origin not in seen:
            seen.append(origin)
    return seen


def put_workspace(deps: Deps, principal: Principal, body: WorkspaceSettingsPut) -> dict[str, Any]:
    principal.require(Scope.WORKSPACE_ADMIN)
    before = deps.workspaces.get(principal.workspace_id)
    if before is None:
        raise NotFound("workspace not found", code="workspace_not_found")
    # One bound on everything the workspace would hold (each origin is one index write of the
    # update's transaction, and each push_origins key one leaderboard read), checked before any.
    cap = deps.settings.cors_max_origins
    allowed = before.allowed_origins if body.allowed_origins is None else body.allowed_origins
    push = before.push_origins if body.push_origins is None else body.push_origins
    total = len(allowed) + sum(len(origins) for origins in push.values())
    if total > cap:
        where = "allowed_origins" if len(allowed) > cap else "push_origins"
        raise ValidationFailed(
            f"the workspace would allow {total} origins in all (allowed_origins and every"
            f" push_origins list); it may allow at most {cap}",
            code="too_many_origins",
            field=where,
            max_origins=cap,
        )
    for leaderboard_id in body.push_origins or {}:
        leaderboard = deps.leaderboards.get(leaderboard_id)
        if leaderboard is None or leaderboard.workspace_id != principal.workspace_id:
            raise NotFound(
                f"push_origins names {leaderboard_id!r}, not a leaderboard of this workspace",
                code="leaderboard_not_found",
                field=f"push_origins.{leaderboard_id}",
            )
        if not leaderboard.is_push:
            raise Conflict(
                f"leaderboard {leaderboard_id} reads a GET dataset: it has no push endpoint",
                code="not_a_push_dataset",
                field=f"push_origins.{leaderboard_id}",
            )
    updated = deps.origins.replace(
        principal.workspace_id, allowed=body.allowed_origins, push=body.push_origins
    )
    if updated is None:
        raise NotFound("workspace not found", code="workspace_not_found")
    cache = _cache(deps)
    for origin in {*before.allowed_origins, *updated.allowed_origins}.union(
        *before.push_origins.values(), *updated.push_origins.values()
    ):
        cache.drop(origin)  # this instance sees the change at once
    return updated.public()


# -- the decision -------------------------------------------------------------------------------


@dataclass
class CorsRequest:
    """One request's origin and what has been decided of it so far."""

    origin: str
    grant: OriginGrant | None
    allowed: bool  # by the origin and the path (a preflight's whole decision)
    leaderboard_id: str | None = None
    push: bool = False  # the path is a leaderboard's push endpoint
    refused: bool = False  # the caller's token turned out not to allow it


_current: contextvars.ContextVar[CorsRequest | None] = contextvars.ContextVar(
    "cors_request", default=None
)


def decide(deps: Deps, origin: str, path: str) -> CorsRequest:
    """Whether ``origin`` may call ``path``, by the origin and the path alone (no token)."""
    grant = _cache(deps).get(origin, lambda: deps.origins.get(origin))
    match = _LEADERBOARD_PATH.match(path)
    if grant is None:
        return CorsRequest(origin, None, allowed=False)
    if match is None:
        return CorsRequest(origin, grant, allowed=bool(grant.workspaces))
    leaderboard_id = match.group("id")
    push = bool(_PUSH_REST.match(match.group("rest") or ""))
    if push and leaderboard_id in grant.leaderboards:
        return CorsRequest(origin, grant, allowed=True, leaderboard_id=leaderboard_id, push=True)
    leaderboard = _cache(deps, "leaderboards").get(
        leaderboard_id, lambda: deps.leaderboards.get(leaderboard_id)
    )
    allowed = leaderboard is not None and leaderboard.workspace_id in grant.workspaces
    return CorsRequest(origin, grant, allowed=allowed, leaderboard_id=leaderboard_id, push=push)


@contextmanager
def serving(request: CorsRequest | None) -> Iterator[CorsRequest | None]:
    """Make ``request`` the one :func:`check_caller` checks while a handler runs."""
    token = _current.set(request)
    try:
        yield request
    finally:
        _current.reset(token)


def check_caller(principal: Principal) -> None:
    """403 ``origin_not_allowed`` when a browser request's origin is not allowed for the
    caller's token (no-op for requests without an ``Origin``)."""
    request = _current.get()
    if request is None:
        return
    grant = request.grant
    by_workspace = grant is not None and principal.workspace_id in grant.workspaces
    by_leaderboard = (
        grant is not None
        and request.push
        and request.leaderboard_id in grant.leaderboards
        and (principal.kind != "dataset" or principal.leaderboard_id == request.leaderboard_id)
    )
    if request.allowed and (by_workspace or by_leaderboard):
        return
    request.refused = True
    raise Forbidden(
        f"the origin {request.origin} is not allowed to call this endpoint with this token;"
        " a workspace admin allows origins with PUT /v1/workspace (allowed_origins,"
        " push_origins)",
        code="origin_not_allowed",
        origin=request.origin,
    )


def _cache(deps: Deps, name: str = "grants") -> TtlCache:
    return deps.cache(f"origins:{name}", ttl=deps.settings.cors_cache_seconds)

"""Workspaces and tokens: bootstrap, create, list, revoke.

A token's plaintext exists in exactly one place: the answer to the request that created it.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shared.bootstrap import Deps
from shared.clock import utcnow
from shared.domain import tokens as token_domain
from shared.domain.tokens import API_SCOPES, Scope
from shared.domain.wire import Timestamp
from shared.errors import Conflict, NotFound, ValidationFailed
from shared.services.auth import Principal, load_leaderboard
from shared.storage.records import TokenRecord, WorkspaceRecord


class ApiTokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, strict=True)

    name: Annotated[str, Field(min_length=1, max_length=200)]
    scopes: list[str] = Field(default_factory=lambda: [Scope.LEADERBOARDS_READ.value], min_length=1)
    expires_at: Timestamp | None = None
    expires_in_days: Annotated[int, Field(ge=1, le=3650)] | None = None
    budget_usd: Annotated[float, Field(ge=0)] | None = None

    @field_validator("scopes")
    @classmethod
    def _known_scopes(cls, scopes: list[str]) -> list[str]:
        unknown = sorted(set(scopes) - {s.value for s in API_SCOPES})
        if unknown:
            allowed = ", ".join(sorted(s.value for s in API_SCOPES))
            raise ValueError(f"unknown scope(s) {unknown}; allowed: {allowed}")
        return sorted(set(scopes))

    @model_validator(mode="after")
    def _one_expiry(self) -> ApiTokenCreate:
        if self.expires_at is not None and self.expires_in_days is not None:
            raise ValueError("give expires_at or expires_in_days, not both")
        if self.expires_at is not None and self.expires_at.tzinfo is None:
            raise ValueError("expires_at needs a timezone, e.g. 2027-01-01T00:00:00Z")
        return self


class DatasetTokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, strict=True)

    name: Annotated[str, Field(min_length=1, max_length=200)] = "dataset token"
    expires_at: Timestamp | None = None


def bootstrap_workspace(deps: Deps, *, name: str, plan: str = "free") -> dict[str, Any]:
    """Create a workspace and its first admin token (the CLI and the local stack call this)."""
    workspace = WorkspaceRecord(
        id="ws_" + uuid.uuid4().hex, name=name, plan=plan, created_at=utcnow()
    )
    deps.workspaces.create(workspace)
    secret, record = _issue(
        deps,
        prefix=token_domain.API_TOKEN_PREFIX,
        kind="api",
        workspace_id=workspace.id,
        name="bootstrap admin",
        scopes=[Scope.WORKSPACE_ADMIN.value],
    )
    return {"workspace_id": workspace.id, "token": secret, "token_id": record.id}


def get_workspace(deps: Deps, principal: Principal) -> dict[str, Any]:
    if principal.kind == "dataset":
        principal.require(Scope.LEADERBOARDS_READ)  # always refused: dataset tokens only push
    workspace = deps.workspaces.get(principal.workspace_id)
    if workspace is None:
        raise NotFound("workspace not found", code="workspace_not_found")
    return workspace.public() | {
        "token": {
            "id": principal.token_id,
            "kind": principal.kind,
            "scopes": sorted(principal.scopes),
        }
    }


def create_api_token(deps: Deps, principal: Principal, body: ApiTokenCreate) -> dict[str, Any]:
    principal.require(Scope.WORKSPACE_ADMIN)
    expires_at = body.expires_at
    if body.expires_in_days is not None:
        expires_at = utcnow() + timedelta(days=body.expires_in_days)
    _check_future(expires_at)
    secret, record = _issue(
        deps,
        prefix=token_domain.API_TOKEN_PREFIX,
        kind="api",
        workspace_id=principal.workspace_id,
        name=body.name,
        scopes=body.scopes,
        expires_at=expires_at,
        budget_usd=body.budget_usd,
        created_by=principal.token_id,
    )
    return record.public() | {"token": secret}


def create_dataset_token(
    deps: Deps, principal: Principal, leaderboard_id: str, body: DatasetTokenCreate
) -> dict[str, Any]:
    leaderboard = load_leaderboard(deps, principal, leaderboard_id, Scope.LEADERBOARDS_WRITE)
    if not leaderboard.is_push:
        raise Conflict(
            "dataset tokens push rows; this leaderboard reads a GET dataset",
            code="not_a_push_dataset",
        )
    _check_future(body.expires_at)
    secret, record = _issue(
        deps,
        prefix=token_domain.DATASET_TOKEN_PREFIX,
        kind="dataset",
        workspace_id=leaderboard.workspace_id,
        leaderboard_id=leaderboard.id,
        name=body.name,
        scopes=[Scope.DATASET_PUSH.value],
        expires_at=body.expires_at,
        created_by=principal.token_id,
    )
    return record.public() | {"token": secret}


def list_tokens(
    deps: Deps,
    principal: Principal,
    *,
    leaderboard_id: str | None = None,
    limit: int,
    cursor: str | None,
) -> dict[str, Any]:
    if leaderboard_id is None:
        principal.require(Scope.WORKSPACE_ADMIN)
        kind = "api"
    else:
        load_leaderboard(deps, principal, leaderboard_id, Scope.LEADERBOARDS_READ)
        kind = "dataset"
    records, next_cursor = deps.tokens.list_page(
        workspace_id=principal.workspace_id, kind=kind, leaderboard_id=leaderboard_id,
        limit=limit, cursor=cursor,
    )  # fmt: skip
    return {"items": [record.public() for record in records], "next_cursor": next_cursor}


def revoke_token(
    deps: Deps, principal: Principal, token_id: str, *, leaderboard_id: str | None = None
) -> None:
    if leaderboard_id is None:
        principal.require(Scope.WORKSPACE_ADMIN)
    else:
        load_leaderboard(deps, principal, leaderboard_id, Scope.LEADERBOARDS_WRITE)
    found = deps.tokens.find(workspace_id=principal.workspace_id, token_id=token_id)
    expected_kind = "api" if leaderboard_id is None else "dataset"
    if (
        found is None
        or found[1].kind != expected_kind
        or (leaderboard_id is not None and found[1].leaderboard_id != leaderboard_id)
    ):
        raise NotFound(f"token {token_id} not found", code="token_not_found")
    ref, record = found
    if record.revoked_at is not None:
        return
    if not _is_admin_credential(record, utcnow()):
        deps.tokens.revoke(ref)
        return
    revoked = deps.tokens.revoke_unless_last(
        ref, workspace_id=principal.workspace_id, counts=_is_admin_credential
    )
    if not revoked:
        raise Conflict(
            f"token {token_id} is the workspace's last {Scope.WORKSPACE_ADMIN.value} token:"
            " revoking it would lock the workspace out for good. Create another admin token"
            " first (POST /v1/tokens with that scope), then revoke this one",
            code="last_admin_token",
            token_id=token_id,
        )


def _is_admin_credential(record: TokenRecord, now: datetime) -> bool:
    """An API token that can still administer the workspace: unrevoked, unexpired, admin."""
    return (
        record.kind == "api"
        and record.revoked_at is None
        and (record.expires_at is None or record.expires_at > now)
        and Scope.WORKSPACE_ADMIN in token_domain.effective_scopes(record.scopes)
    )


def _issue(deps: Deps, *, prefix: str, **fields: Any) -> tuple[str, TokenRecord]:
    secret = token_domain.generate(prefix)
    record = TokenRecord(
        id="tok_" + uuid.uuid4().hex[:20],
        prefix=prefix,
        last4=secret[-4:],
        created_at=utcnow(),
        **fields,
    )
    deps.tokens.create(record, token_hash=token_domain.digest(secret))
    return secret, record


def _check_future(expires_at: datetime | None) -> None:
    if expires_at is not None and expires_at <= utcnow():
        raise ValidationFailed("expires_at is in the past", code="invalid_expiry")

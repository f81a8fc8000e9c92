"""Who is calling, and may they touch this leaderboard?

401 when the token is missing, unknown, revoked or expired; 403 when a valid token lacks the
scope or is a dataset token bound to another leaderboard; 404 for a leaderboard of another
workspace, so that a token of workspace A learns nothing about workspace B.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from shared.bootstrap import Deps
from shared.clock import utcnow
from shared.domain.tokens import Scope, digest, effective_scopes
from shared.errors import Forbidden, NotFound, Unauthenticated
from shared.services.origins import check_caller
from shared.storage.records import LeaderboardRecord, TokenRecord


@dataclass(frozen=True)
class Principal:
    token_id: str
    kind: str
    workspace_id: str
    scopes: frozenset[str]
    leaderboard_id: str | None = None

    def require(self, scope: Scope) -> None:
        if scope not in self.scopes:
            if self.kind == "dataset":
                raise Forbidden(
                    "dataset tokens (hpd_) can only push rows to their leaderboard",
                    code="insufficient_scope",
                    required_scope=scope.value,
                )
            raise Forbidden(
                f"this token lacks the {scope.value!r} scope",
                code="insufficient_scope",
                required_scope=scope.value,
            )


def token_ref_hash(token: str | None) -> str:
    if not token:
        raise Unauthenticated(
            "no API token: send 'Authorization: Bearer <token>', 'X-API-Key' or"
            " 'X-Dr.Gero-API-Key'",
            code="missing_token",
        )
    return digest(token)


def principal_from(record: TokenRecord | None, *, now: datetime | None = None) -> Principal:
    if record is None:
        raise Unauthenticated("the API token is not valid", code="invalid_token")
    if record.revoked_at is not None:
        raise Unauthenticated("the API token was revoked", code="token_revoked")
    if record.expires_at is not None and record.expires_at <= (now or utcnow()):
        raise Unauthenticated(
            f"the API token expired at {record.expires_at.isoformat()}", code="token_expired"
        )
    principal = Principal(
        token_id=record.id,
        kind=record.kind,
        workspace_id=record.workspace_id,
        scopes=effective_scopes(record.scopes),
        leaderboard_id=record.leaderboard_id,
    )
    check_caller(principal)  # a browser's origin must be allowed for this token (CORS)
    return principal


def authenticate(deps: Deps, token: str | None) -> Principal:
    return principal_from(deps.tokens.get(token_ref_hash(token)))


def check_dataset_token(principal: Principal, leaderboard_id: str) -> None:
    """A dataset token (``hpd_``) acts on its own leaderboard only: 403 for any other, before
    anything of that leaderboard is read."""
    if principal.kind == "dataset" and principal.leaderboard_id != leaderboard_id:
        raise Forbidden(
            "this dataset token pushes to another leaderboard only",
            code="wrong_leaderboard",
        )


def authorize_leaderboard(
    principal: Principal,
    leaderboard_id: str,
    leaderboard: LeaderboardRecord | None,
    scope: Scope,
) -> LeaderboardRecord:
    """The leaderboard, if ``principal`` may act on it with ``scope``; else the right error."""
    check_dataset_token(principal, leaderboard_id)
    if leaderboard is None or leaderboard.workspace_id != principal.workspace_id:
        raise NotFound(f"leaderboard {leaderboard_id} not found", code="leaderboard_not_found")
    principal.require(scope)
    return leaderboard


def load_leaderboard(
    deps: Deps, principal: Principal, leaderboard_id: str, scope: Scope
) -> LeaderboardRecord:
    check_dataset_token(principal, leaderboard_id)
    return authorize_leaderboard(
        principal, leaderboard_id, deps.leaderboards.get(leaderboard_id), scope
    )

"""API and dataset tokens: generation, hashing, masking and scopes.

A token is ``<prefix><43 url-safe characters>`` drawn from 32 random bytes (256 bits). Only its
SHA-256 is stored; because the secret is uniformly random, a fast hash is as strong as a slow one
here and keeps authentication to a single document read. The plaintext is returned once, at
creation, and never again: lists show the prefix and the last four characters.
"""

from __future__ import annotations

import hashlib
import secrets
from enum import StrEnum

API_TOKEN_PREFIX = "drgero_"  # noqa: S105 (a prefix, not a secret)
DATASET_TOKEN_PREFIX = "hpd_"  # noqa: S105


class Scope(StrEnum):
    LEADERBOARDS_READ = "leaderboards:read"
    LEADERBOARDS_WRITE = "leaderboards:write"
    INFERENCE = "inference"
    WORKSPACE_ADMIN = "workspace:admin"
    # Dataset tokens carry exactly this one scope, bound to one leaderboard.
    DATASET_PUSH = "dataset:push"


API_SCOPES = frozenset(
    {Scope.LEADERBOARDS_READ, Scope.LEADERBOARDS_WRITE, Scope.INFERENCE, Scope.WORKSPACE_ADMIN}
)

# Holding the key on the right implies holding the keys on the left too.
_IMPLIED = {
    Scope.WORKSPACE_ADMIN: frozenset(API_SCOPES),
    Scope.LEADERBOARDS_WRITE: frozenset({Scope.LEADERBOARDS_WRITE, Scope.LEADERBOARDS_READ}),
}


def generate(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def mask(prefix: str, last4: str) -> str:
    return f"{prefix}...{last4}"


def effective_scopes(scopes: list[str] | frozenset[str]) -> frozenset[str]:
    granted: set[str] = set()
    for scope in scopes:
        # StrEnum members hash like their values, so plain strings find their implications.
        granted |= _IMPLIED.get(scope, frozenset({scope}))  # type: ignore[call-overload]
    return frozenset(granted)

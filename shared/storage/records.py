"""Stored documents, as typed records (one model per stored shape; public views live beside them).

Firestore returns timezone-aware datetimes for timestamps, so records are aware throughout.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from shared.clock import iso
from shared.domain.tokens import mask


class WorkspaceRecord(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str
    name: str
    plan: str = "free"
    created_at: datetime
    # Browser origins allowed to call with this workspace's tokens (CORS), and per PUSH
    # leaderboard the origins allowed to call its push endpoint only (``services.origins``).
    allowed_origins: list[str] = Field(default_factory=list)
    push_origins: dict[str, list[str]] = Field(default_factory=dict)

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "plan": self.plan,
            "created_at": iso(self.created_at),
            "allowed_origins": list(self.allowed_origins),
            "push_origins": {lb: list(origins) for lb, origins in self.push_origins.items()},
        }


class TokenRecord(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str
    kind: str  # "api" | "dataset"
    workspace_id: str
    leaderboard_id: str | None = None
    name: str
    scopes: list[str]
    prefix: str
    last4: str
    created_at: datetime
    created_by: str | None = None
    expires_at: datetime | None = None
    budget_usd: float | None = None
    spend_usd: float = 0.0
    revoked_at: datetime | None = None

    def public(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "kind": self.kind,
            "name": self.name,
            "scopes": self.scopes,
            "token_masked": mask(self.prefix, self.last4),
            "created_at": iso(self.created_at),
            "expires_at": iso(self.expires_at),
            "revoked_at": iso(self.revoked_at),
        }
        if self.kind == "dataset":
            body["leaderboard_id"] = self.leaderboard_id
        else:
            body["budget_usd"] = self.budget_usd
            body["spend_usd"] = self.spend_usd
        return body


class DatasetVersion(BaseModel):
    """One consolidated dataset object in Cloud Storage."""

    model_config = ConfigDict(extra="ignore")

    version: int
    object_name: str
    generation: int
    rows: int
    bytes: int
    sha256: str
    consolidated_at: datetime


class LeaderboardRecord(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str
    workspace_id: str
    name: str
    system_prompt: str
    dataset: dict[str, Any]
    evaluation: dict[str, Any]
    schedule: dict[str, Any] | None = None
    inference: dict[str, Any] | None = None
    created_at: datetime
    updated_at: datetime
    dataset_version: DatasetVersion | None = None
    consolidation_due_at: datetime | None = None
    next_run_at: datetime | None = None
    active_run_id: str | None = None
    # {"strategy": "ranking_winner" | "manual", "model_id", "run_id", "selected_at"}
    selection: dict[str, Any] | None = None
    # The ranking of the latest finished run: {"run_id", "finished_at", "leader", "models": [...]}
    ranking: dict[str, Any] | None = None
    # The digest of its candidate models (``shared.domain.snapshot``), written with every change
    # to them; None on leaderboards stored before it existed.
    candidates_digest: str | None = None
    # The stored document's update time when read (not stored): a change committed "only if
    # the document is still as read" is refused after any other write to it.
    revision: datetime | None = Field(default=None, exclude=True)

    @property
    def is_push(self) -> bool:
        return self.dataset.get("mode") == "push"

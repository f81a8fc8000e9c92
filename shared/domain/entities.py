"""The entities of a leaderboard's evaluation: its candidate models and its runs.

Plain typed records, without I/O: ``shared/storage`` converts them to and from their Firestore
documents (``storage.candidates``, ``storage.runs``), services and functions use their
attributes. Fields that documents stored before them lack have defaults.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from shared.domain.pricing import Price
from shared.domain.run_status import RunStatus


class CandidateModel(BaseModel):
    """A candidate model attached to a leaderboard (``leaderboards/{id}/models/{model_id}``).

    ``config`` is its endpoint config as stored: a token only by its ``secret_ref``.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str
    label: str
    platform: str
    config: dict[str, Any]
    source: str  # "manual" | "auto_select"
    reason: str | None = None
    published: dict[str, Any] | None = None  # the catalog's figures when it was added
    measured: dict[str, Any] | None = None  # written by the runs that measured it
    added_at: datetime
    added_by: str | None = None

    @property
    def secret_ref(self) -> str | None:
        ref = self.config.get("secret_ref")
        return str(ref) if ref else None

    @property
    def price(self) -> Price:
        """Published price first, configured price second (``shared.domain.pricing``)."""
        return Price.of({"published": self.published, "config": self.config})


class Run(BaseModel):
    """A run of a leaderboard (``leaderboards/{id}/runs/{run_id}``): its status, snapshots,
    estimate and progress. Fields that runs stored before them lack have defaults."""

    model_config = ConfigDict(extra="ignore")

    id: str
    leaderboard_id: str
    workspace_id: str = ""
    source: str = "manual"  # "manual" | "schedule" | "dataset_improvement"
    status: RunStatus
    active: bool = False  # queued or running (the watchdog's query reads it)
    requested_by: str | None = None
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    deadline_at: datetime | None = None
    estimate: dict[str, Any] | None = None
    leaderboard_config: dict[str, Any] = Field(default_factory=dict)  # the leaderboard snapshot
    config_hash: str | None = None
    config_parts: dict[str, str] | None = None
    # The candidates' public views with their ``endpoint_key``, as the run started.
    model_configs: list[dict[str, Any]] = Field(default_factory=list)
    # How to reach each candidate (secrets only by reference); not in the public log.
    endpoints: dict[str, dict[str, Any]] = Field(default_factory=dict)
    dataset: dict[str, Any] | None = None  # pinned by the prepare task
    shards_total: int | None = None
    shards_done: int = 0
    progress: dict[str, dict[str, Any]] = Field(default_factory=dict)
    ranking: dict[str, Any] | None = None
    failure: dict[str, Any] | None = None
    # Human-evaluated runs only, set when their review queue opens.
    reviews_total: int | None = None
    reviews_done: int | None = None

    @property
    def evaluation(self) -> dict[str, Any]:
        """The evaluation configuration the run was started with."""
        return dict(self.leaderboard_config.get("evaluation") or {})

    @property
    def evaluation_type(self) -> str | None:
        kind = self.evaluation.get("type")
        return str(kind) if kind is not None else None

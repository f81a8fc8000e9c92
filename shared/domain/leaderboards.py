"""Leaderboard configuration as clients send it, validated.

``LeaderboardCreate`` is the request body of ``POST /v1/leaderboards``. The PUSH dataset config
is where most nonsense can hide (a monthly limit below the daily one, an end date in the past),
so every rule here has a message that says what to send instead.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

MAX_SAMPLES_CEILING = 1_000_000
MAX_ROWS_LIMIT = 1_000_000_000
LATEST_END_DATE = date(9000, 1, 1)


class PushDatasetConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode: Literal["push"]
    auto_limit: Annotated[bool, Field(strict=True)] = True
    max_samples: Annotated[int, Field(strict=True, ge=1, le=MAX_SAMPLES_CEILING)] | None = 5000
    daily_limit: Annotated[int, Field(strict=True, ge=1, le=MAX_ROWS_LIMIT)] | None = 1000
    monthly_limit: Annotated[int, Field(strict=True, ge=1, le=MAX_ROWS_LIMIT)] | None = 20000
    consolidate_every_events: (
        Annotated[int, Field(strict=True, ge=1, le=MAX_SAMPLES_CEILING)] | None
    ) = 100
    consolidate_every_hours: Annotated[float, Field(gt=0, le=24 * 366)] | None = 24
    end_date: datetime | None = None

    @field_validator("end_date", mode="before")
    @classmethod
    def _end_of_day(cls, value: Any) -> Any:
        """A bare date means "accept rows until the end of that day, UTC"."""
        if isinstance(value, str) and len(value) == 10:
            value = date.fromisoformat(value)
        if isinstance(value, date) and not isinstance(value, datetime):
            if value >= LATEST_END_DATE:
                raise ValueError(f"end_date must be before {LATEST_END_DATE.isoformat()}")
            return datetime.combine(value + timedelta(days=1), time.min, tzinfo=UTC)
        return value

    @field_validator("end_date")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError(
                "end_date needs a timezone, e.g. 2026-12-31T23:59:59Z, or a plain date 2026-12-31"
            )
        return value.astimezone(UTC) if value is not None else None

    @model_validator(mode="after")
    def _consistent(self) -> PushDatasetConfig:
        if self.auto_limit and self.max_samples is None:
            raise ValueError("auto_limit needs max_samples: how many rows the dataset keeps")
        if (
            self.daily_limit is not None
            and self.monthly_limit is not None
            and self.monthly_limit < self.daily_limit
        ):
            raise ValueError(
                f"monthly_limit ({self.monthly_limit}) is below daily_limit ({self.daily_limit});"
                " a month holds at least one day"
            )
        return self

    def check_end_date_in_future(self, now: datetime) -> None:
        if self.end_date is not None and self.end_date <= now:
            raise ValueError(f"end_date {self.end_date.isoformat()} is already in the past")


class EvaluationConfig(BaseModel):
    # Judge and human settings are accepted and stored as given; runs interpret them.
    model_config = ConfigDict(extra="allow")

    type: Literal["exact", "judge", "human"] = "exact"


class LeaderboardCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: Annotated[str, Field(min_length=1, max_length=200)]
    system_prompt: Annotated[str, Field(min_length=1, max_length=100_000)]
    dataset: PushDatasetConfig
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig)
    schedule: dict[str, Any] | None = None

    @field_validator("dataset", mode="before")
    @classmethod
    def _known_mode(cls, value: Any) -> Any:
        if isinstance(value, dict) and value.get("mode") == "get":
            raise ValueError(
                "GET datasets (a Hugging Face .jsonl URL) are not available yet; use mode 'push'"
            )
        return value

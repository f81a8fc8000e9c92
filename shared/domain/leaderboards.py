"""Leaderboard configuration as clients send it, validated.

``LeaderboardCreate`` is the request body of ``POST /v1/leaderboards``. The PUSH dataset config
is where most nonsense can hide (a monthly limit below the daily one, an end date in the past),
so every rule here has a message that says what to send instead.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shared.domain.judge import JudgeConfig
from shared.domain.schedule import ScheduleConfig
from shared.domain.scoring import ExactConfig
from shared.domain.wire import Timestamp

MAX_SAMPLES_CEILING = 1_000_000
MAX_ROWS_LIMIT = 1_000_000_000
LATEST_END_DATE = date(9000, 1, 1)


class PushDatasetConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    mode: Literal["push"]
    auto_limit: Annotated[bool, Field(strict=True)] = True
    max_samples: Annotated[int, Field(strict=True, ge=1, le=MAX_SAMPLES_CEILING)] | None = 5000
    daily_limit: Annotated[int, Field(strict=True, ge=1, le=MAX_ROWS_LIMIT)] | None = 1000
    monthly_limit: Annotated[int, Field(strict=True, ge=1, le=MAX_ROWS_LIMIT)] | None = 20000
    consolidate_every_events: (
        Annotated[int, Field(strict=True, ge=1, le=MAX_SAMPLES_CEILING)] | None
    ) = 100
    consolidate_every_hours: Annotated[float, Field(gt=0, le=24 * 366)] | None = 24
    end_date: Timestamp | None = None
    # Start a run (source "dataset_improvement") when a consolidation adds or changes at least
    # this fraction of the dataset's rows; null: never.
    improvement_run_threshold: Annotated[float, Field(gt=0, le=1)] | None = None

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


GET_URL_FORMS = ("hf://datasets/", "https://huggingface.co/datasets/", "https://hf.co/datasets/")


class GetDatasetConfig(BaseModel):
    """A .jsonl or .jsonl.gz file on the Hugging Face Hub, read at run time."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, strict=True)

    mode: Literal["get"]
    url: Annotated[str, Field(min_length=1, max_length=2000)]

    @field_validator("url")
    @classmethod
    def _hub_url(cls, url: str) -> str:
        if not url.startswith(GET_URL_FORMS):
            raise ValueError(
                "url must be a Hugging Face dataset file: hf://datasets/<owner>/<name>/<file>"
                " or https://huggingface.co/datasets/<owner>/<name>/resolve/<revision>/<file>"
            )
        path = url.split("?", 1)[0]
        if not path.endswith((".jsonl", ".jsonl.gz")):
            raise ValueError("url must point at a .jsonl or .jsonl.gz file")
        return url


DatasetConfig = Annotated[PushDatasetConfig | GetDatasetConfig, Field(discriminator="mode")]


class ExactEvaluation(ExactConfig):
    type: Literal["exact"] = "exact"


class JudgeEvaluation(JudgeConfig):
    """The judge is an OpenRouter model (``model``) by default, or any endpoint already attached
    to the leaderboard as a candidate (``candidate_model_id``: custom, Hugging Face, Dr.Gero),
    whose stored credentials it then uses. Free-form endpoint configs are not accepted: a
    judge must never be able to borrow another credential of the workspace."""

    model_config = ConfigDict(extra="forbid", strict=True)

    type: Literal["judge"]
    candidate_model_id: Annotated[str, Field(min_length=1, max_length=128)] | None = None


class HumanEvaluation(BaseModel):
    """Reviewers score each output from 0 (wrong) to 1 (right), optionally with a comment."""

    model_config = ConfigDict(extra="forbid", strict=True)

    type: Literal["human"]
    instructions: Annotated[str, Field(max_length=20_000)] | None = None
    pass_threshold: Annotated[float, Field(ge=0, le=1)] = 0.5


EvaluationConfig = Annotated[
    ExactEvaluation | JudgeEvaluation | HumanEvaluation, Field(discriminator="type")
]


class InferenceConfig(BaseModel):
    """How the leaderboard's inference endpoint behaves."""

    model_config = ConfigDict(extra="forbid", strict=True)

    # On a timeout, 5xx or 429 of the selected model, try this many next-ranked models.
    fallbacks: Annotated[int, Field(strict=True, ge=0, le=5)] = 2
    # Store "[redacted]" instead of inputs and outputs in inference traces.
    redact: bool = False
    # Feed every call into this PUSH leaderboard's dataset (the production feedback loop).
    feed_dataset: bool = False
    # How long one model may take, and one request across all its fallbacks (None: the
    # deployment's ``inference_timeout_seconds`` / ``inference_deadline_seconds``).
    timeout_seconds: Annotated[float, Field(gt=0, le=600)] | None = None
    deadline_seconds: Annotated[float, Field(gt=0, le=900)] | None = None


class LeaderboardCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, strict=True)

    name: Annotated[str, Field(min_length=1, max_length=200)]
    system_prompt: Annotated[str, Field(min_length=1, max_length=100_000)]
    dataset: DatasetConfig
    evaluation: EvaluationConfig = Field(default_factory=ExactEvaluation)
    schedule: ScheduleConfig | None = None
    inference: InferenceConfig = Field(default_factory=InferenceConfig)

    @field_validator("evaluation", mode="before")
    @classmethod
    def _default_type(cls, value: Any) -> Any:
        if isinstance(value, dict) and "type" not in value:
            return {**value, "type": "exact"}
        return value


class LeaderboardUpdate(BaseModel):
    """PATCH body: only the fields given change. A dataset keeps its mode."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, strict=True)

    name: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    system_prompt: Annotated[str, Field(min_length=1, max_length=100_000)] | None = None
    dataset: dict[str, Any] | None = None
    evaluation: EvaluationConfig | None = None
    schedule: ScheduleConfig | None = None
    clear_schedule: bool = False
    inference: InferenceConfig | None = None

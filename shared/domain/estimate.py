"""Run estimates: how long a run will take and what it will cost, before it starts.

**Time.** Each candidate model's rows are cut into ``ceil(rows / shard_size)`` shards (all full
but the last). A model's shards run ``parallel_shards`` at a time, in waves; inside a shard, rows
are sent ``concurrency_per_shard`` at a time, so a shard of ``r`` rows takes
``ceil(r / concurrency_per_shard)`` row latencies, and a wave takes as long as its longest shard.
A row's latency is the model's (plus the judge's, when a judge scores each answer: the judge is
called after the candidate). Models run side by side, so the run takes as long as its slowest
model. No allowance is made for retries, rate limits or cold starts.

**Latency** is the model's measured latency from earlier runs when known, else the provider's
published figure, else ``DEFAULT_LATENCY_MS``; each model's estimate says which
(``latency_source``).

**Cost.** A model costs ``rows * (avg_prompt_tokens * prompt_price_per_token +
avg_completion_tokens * completion_price_per_token)``; the judge costs the same formula with its
own prices and token counts, once per row and model. When a price is unknown, that part's cost is
None, the run's total is None, and ``unknown_prices`` names what is missing. Token counts come
from :func:`estimate_tokens` (about four characters per token) or earlier runs.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

DEFAULT_LATENCY_MS = 5000.0
CHARS_PER_TOKEN = 4

LatencySource = Literal["measured", "published", "default"]


@dataclass(frozen=True, slots=True)
class ModelCostInput:
    """What an estimate knows about one model (a candidate, or the judge)."""

    model_id: str
    latency_ms: float | None
    latency_source: LatencySource
    prompt_price_per_token: float | None
    completion_price_per_token: float | None
    avg_prompt_tokens: float
    avg_completion_tokens: float

    def __post_init__(self) -> None:
        for name in ("avg_prompt_tokens", "avg_completion_tokens"):
            _check_non_negative(f"{self.model_id} {name}", getattr(self, name))
        for name in ("latency_ms", "prompt_price_per_token", "completion_price_per_token"):
            value = getattr(self, name)
            if value is not None:
                _check_non_negative(f"{self.model_id} {name}", value)

    @property
    def latency(self) -> tuple[float, LatencySource]:
        if self.latency_ms is None:
            return DEFAULT_LATENCY_MS, "default"
        return float(self.latency_ms), self.latency_source

    def missing_prices(self) -> list[str]:
        return [
            kind
            for kind, price in (
                ("prompt", self.prompt_price_per_token),
                ("completion", self.completion_price_per_token),
            )
            if price is None
        ]

    def cost_per_call(self) -> float | None:
        if self.prompt_price_per_token is None or self.completion_price_per_token is None:
            return None
        return (
            self.avg_prompt_tokens * self.prompt_price_per_token
            + self.avg_completion_tokens * self.completion_price_per_token
        )


@dataclass(frozen=True, slots=True)
class ModelEstimate:
    model_id: str
    seconds: float
    cost_usd: float | None
    judge_cost_usd: float | None
    latency_ms: float
    latency_source: LatencySource
    shards: int


@dataclass(frozen=True, slots=True)
class RunEstimate:
    seconds: float
    cost_usd: float | None
    candidate_cost_usd: float | None
    judge_cost_usd: float | None
    per_model: list[ModelEstimate]
    unknown_prices: list[str] = field(default_factory=list)
    basis: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def estimate_tokens(text: str) -> int:
    """About how many tokens ``text`` is: ``ceil(characters / 4)``, at least 1."""
    return max(1, math.ceil(len(text) / CHARS_PER_TOKEN))


def estimate_run(
    *,
    rows: int,
    models: list[ModelCostInput],
    concurrency_per_shard: int,
    shard_size: int,
    parallel_shards: int,
    judge: ModelCostInput | None = None,
) -> RunEstimate:
    """The time and cost of a run of ``models`` over ``rows`` rows (see the module docstring)."""
    if rows < 0:
        raise ValueError("rows must be at least 0")
    for name, value in (
        ("concurrency_per_shard", concurrency_per_shard),
        ("shard_size", shard_size),
        ("parallel_shards", parallel_shards),
    ):
        if value < 1:
            raise ValueError(f"{name} must be at least 1")
    judge_latency = judge.latency[0] if judge is not None else 0.0
    judge_call = judge.cost_per_call() if judge is not None else None
    shards = math.ceil(rows / shard_size)
    waves = _waves(rows, concurrency_per_shard, shard_size, parallel_shards)
    per_model = []
    for model in models:
        latency, source = model.latency
        call = model.cost_per_call()
        per_model.append(
            ModelEstimate(
                model_id=model.model_id,
                seconds=waves * (latency + judge_latency) / 1000,
                cost_usd=None if call is None else rows * call,
                judge_cost_usd=(
                    None if judge is None else (None if judge_call is None else rows * judge_call)
                ),
                latency_ms=latency,
                latency_source=source,
                shards=shards,
            )
        )
    unknown = [
        f"{m.model_id} ({' and '.join(m.missing_prices())} price)"
        for m in models
        if m.missing_prices()
    ]
    if judge is not None and judge.missing_prices():
        unknown.append(f"judge {judge.model_id} ({' and '.join(judge.missing_prices())} price)")
    candidate_cost = _total([m.cost_usd for m in per_model])
    judge_cost = None if judge is None else _total([m.judge_cost_usd for m in per_model])
    total = (
        None
        if candidate_cost is None or (judge is not None and judge_cost is None)
        else candidate_cost + (judge_cost or 0.0)
    )
    return RunEstimate(
        seconds=max((m.seconds for m in per_model), default=0.0),
        cost_usd=total,
        candidate_cost_usd=candidate_cost,
        judge_cost_usd=judge_cost,
        per_model=per_model,
        unknown_prices=unknown,
        basis=_basis(
            rows, per_model, judge, concurrency_per_shard, shard_size, parallel_shards, unknown
        ),
    )


def _waves(rows: int, concurrency: int, shard_size: int, parallel_shards: int) -> int:
    """How many row latencies one model's rows take, end to end."""
    if rows == 0:
        return 0
    full, rest = divmod(rows, shard_size)
    shards = full + (1 if rest else 0)
    shard_waves = math.ceil(shards / parallel_shards)
    full_time = math.ceil(shard_size / concurrency)
    # Every shard wave but the last holds only full shards; the last holds a full shard when
    # the earlier waves did not use them all up.
    last_has_full = full > (shard_waves - 1) * parallel_shards
    last_time = full_time if last_has_full else math.ceil(rest / concurrency)
    return (shard_waves - 1) * full_time + last_time


def _total(costs: list[float | None]) -> float | None:
    if any(cost is None for cost in costs):
        return None
    return math.fsum(cost for cost in costs if cost is not None)


def _basis(
    rows: int,
    per_model: list[ModelEstimate],
    judge: ModelCostInput | None,
    concurrency: int,
    shard_size: int,
    parallel_shards: int,
    unknown: list[str],
) -> str:
    shards = math.ceil(rows / shard_size)
    parts = [
        f"{rows} rows x {len(per_model)} models run side by side; per model {shards} shard(s) "
        f"of up to {shard_size} rows, {parallel_shards} at a time, {concurrency} rows at a time "
        "per shard"
    ]
    if per_model:
        latencies = ", ".join(
            f"{m.model_id} {m.latency_ms:g} ms ({m.latency_source})" for m in per_model
        )
        parts.append(f"latency per row: {latencies}")
    if judge is not None:
        latency, source = judge.latency
        parts.append(f"plus judge {judge.model_id} {latency:g} ms ({source}) per row")
    if unknown:
        parts.append("cost unknown for " + ", ".join(unknown))
    return "; ".join(parts)


def _check_non_negative(name: str, value: float) -> None:
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value}")

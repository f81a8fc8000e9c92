"""Ranking statistics: per-model scores with confidence intervals, and who ties with the leader.

Input: for each candidate model, one :class:`RowResult` per dataset row it was asked (row ids
unique per model). The rules:

- **Rows.** ``n_rows`` counts every row the model was asked. A row is an **error** when it has an
  ``error`` (whatever its score); it is **scored** when it has a score, no error and is reviewed.
  Other rows (no expected answer, a pattern that does not compile, a human review still pending)
  are neither: they count in ``n_rows`` only. ``error_rate = n_errors / n_rows``.
- **Mean score** over scored rows only; errors are never counted as 0 (they are reported in the
  error rate instead). None without scored rows. **Pass rate**: the share of scored rows whose
  score is at least ``pass_threshold`` (the evaluation's: 1 for exact, the configured one for
  judge and human); None without scored rows. It is reported, not ranked on.
- **Confidence intervals** are percentile bootstrap intervals (``confidence``, default 95%) with
  ``resamples`` resamples: a model's own interval resamples its scored rows with replacement; the
  comparison with the leader is **paired**: it resamples the rows scored by both models and takes
  the mean of the per-row differences (leader - model). Intervals are linear-interpolated
  percentiles of the resampled means and are widened, if needed, to contain the point estimate
  (rounding, or very skewed small samples, could otherwise leave it a hair outside).
- **Leader.** Only models with at least one scored row and ``error_rate <= max_leader_error_rate``
  (default 0.5) may lead: a model that fails on most rows must not win on the few it answered.
  Order: eligible models first, then the others; within each group by highest mean score, then
  lowest cost per row, then lowest p50 latency (unknown values last), then model id. ``rank`` is
  the 1-based position in that order; the leader is the first model if it is eligible.
- **Ties.** An eligible model is statistically tied with the leader unless the leader is
  significantly better: unless the paired interval of (leader - model) lies entirely above 0.
  With fewer than 2 rows scored by both, nothing can be told apart: tied. Ineligible models are
  never tied. ``tied`` lists the leader and the models tied with it, in rank order.
- **Latency** percentiles (p50, p95, p99, end to end as measured by the caller) are taken over rows
  without error that have a latency, by the nearest-rank method: the smallest measured latency
  such that at least p% of measurements are at or below it (always an observed value). Error rows
  are left out: a fast failure is not a fast answer.
- **Cost**: ``cost_total_usd`` sums the rows' costs, errors included (a failed call can be billed);
  rows without a cost add nothing, and it is None when no row has one. ``cost_per_row_usd =
  cost_total_usd / n_rows``.
- **Review**: ``reviewed_fraction`` (per model and overall) is the share of non-error rows that
  are reviewed; None without such rows. Outside human evaluation every row is reviewed.

Determinism: results depend only on the data and ``seed``, not on the order of models or rows
(every interval depends only on the multiset of values it resamples, and each one draws from its
own generator seeded with the seed and the model ids). How the intervals are drawn, and fast (20
models x 5000 rows x 2000 resamples in seconds): :mod:`shared.domain.resampling`.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from fractions import Fraction
from typing import Any

from shared.domain.resampling import bootstrap_interval, exact_mean

DEFAULT_MAX_LEADER_ERROR_RATE = 0.5


@dataclass(frozen=True, slots=True)
class RowResult:
    """One candidate model's result on one dataset row."""

    row_id: str
    score: float | None = None
    error: str | None = None
    latency_ms: float | None = None
    cost_usd: float | None = None
    reviewed: bool = True

    @property
    def scored(self) -> bool:
        return self.score is not None and self.error is None and self.reviewed


@dataclass(frozen=True, slots=True)
class ModelStats:
    """One model's line of the ranking; the ``diff_*`` fields compare it with the leader."""

    model: str
    rank: int
    n_rows: int
    n_scored: int
    n_errors: int
    error_rate: float
    mean_score: float | None
    pass_rate: float | None
    ci_low: float | None
    ci_high: float | None
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    latency_p99_ms: float | None
    cost_total_usd: float | None
    cost_per_row_usd: float | None
    reviewed_fraction: float | None
    eligible: bool
    tied_with_leader: bool
    n_common_with_leader: int | None
    diff_vs_leader: float | None
    diff_ci_low: float | None
    diff_ci_high: float | None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Ranking:
    """The models in rank order, the leader, and the models tied with it (leader included)."""

    models: list[ModelStats]
    leader: str | None
    tied: list[str]
    reviewed_fraction: float | None
    seed: int
    resamples: int
    confidence: float
    max_leader_error_rate: float

    def to_json(self) -> dict[str, Any]:
        return {
            "leader": self.leader,
            "tied": list(self.tied),
            "reviewed_fraction": self.reviewed_fraction,
            "method": {
                "interval": "percentile bootstrap over rows, paired against the leader",
                "seed": self.seed,
                "resamples": self.resamples,
                "confidence": self.confidence,
                "max_leader_error_rate": self.max_leader_error_rate,
            },
            "models": [m.to_json() for m in self.models],
        }


def rank_models(
    results: Mapping[str, Sequence[RowResult]],
    *,
    seed: int = 0,
    resamples: int = 2000,
    confidence: float = 0.95,
    max_leader_error_rate: float = DEFAULT_MAX_LEADER_ERROR_RATE,
    pass_threshold: float = 1.0,
) -> Ranking:
    """Rank the models of one run (see the module docstring for every rule)."""
    if resamples < 1:
        raise ValueError("resamples must be at least 1")
    if not 0 < confidence < 1:
        raise ValueError("confidence must be between 0 and 1, e.g. 0.95")
    if not 0 <= max_leader_error_rate <= 1:
        raise ValueError("max_leader_error_rate must be between 0 and 1")
    if not 0 <= pass_threshold <= 1:
        raise ValueError("pass_threshold must be between 0 and 1")
    scores = {model: _scores_by_row(model, rows) for model, rows in results.items()}
    own = {
        model: _own_stats(
            model, rows, scores[model], max_leader_error_rate, seed, resamples, confidence
        )
        | {"pass_rate": _pass_rate(scores[model].values(), pass_threshold)}
        for model, rows in results.items()
    }
    order = sorted(own, key=lambda model: (*_order_key(own[model]), model))
    leader = order[0] if order and own[order[0]]["eligible"] else None
    stats: list[ModelStats] = []
    for rank, model in enumerate(order, start=1):
        versus = _versus_leader(
            model, leader, scores, own[model]["eligible"], seed, resamples, confidence
        )
        stats.append(ModelStats(model=model, rank=rank, **own[model], **versus))
    reviewed, reviewable = 0, 0
    for rows in results.values():
        reviewable += sum(1 for r in rows if r.error is None)
        reviewed += sum(1 for r in rows if r.error is None and r.reviewed)
    return Ranking(
        models=stats,
        leader=leader,
        tied=[s.model for s in stats if s.tied_with_leader],
        reviewed_fraction=reviewed / reviewable if reviewable else None,
        seed=seed,
        resamples=resamples,
        confidence=confidence,
        max_leader_error_rate=max_leader_error_rate,
    )


def _scores_by_row(model: str, rows: Sequence[RowResult]) -> dict[str, float]:
    seen: set[str] = set()
    scores: dict[str, float] = {}
    for row in rows:
        if row.row_id in seen:
            raise ValueError(f"model {model!r} has two results for row {row.row_id!r}")
        seen.add(row.row_id)
        if row.scored:
            assert row.score is not None
            if not math.isfinite(row.score):
                raise ValueError(f"model {model!r} row {row.row_id!r} has score {row.score}")
            scores[row.row_id] = float(row.score)
    return scores


def _own_stats(
    model: str,
    rows: Sequence[RowResult],
    scores: dict[str, float],
    max_leader_error_rate: float,
    seed: int,
    resamples: int,
    confidence: float,
) -> dict[str, Any]:
    n_rows = len(rows)
    n_errors = sum(1 for r in rows if r.error is not None)
    error_rate = n_errors / n_rows if n_rows else 0.0
    values = list(scores.values())
    mean = exact_mean(values) if values else None
    low = high = None
    if values:
        rng = random.Random(f"{seed}\x00own\x00{model}")
        low, high = bootstrap_interval(values, rng, resamples=resamples, confidence=confidence)
    latencies = sorted(r.latency_ms for r in rows if r.error is None and r.latency_ms is not None)
    costs = [r.cost_usd for r in rows if r.cost_usd is not None]
    cost_total = math.fsum(costs) if costs else None
    reviewable = [r for r in rows if r.error is None]
    return {
        "n_rows": n_rows,
        "n_scored": len(values),
        "n_errors": n_errors,
        "error_rate": error_rate,
        "mean_score": mean,
        "ci_low": low,
        "ci_high": high,
        "latency_p50_ms": nearest_rank(latencies, 50),
        "latency_p95_ms": nearest_rank(latencies, 95),
        "latency_p99_ms": nearest_rank(latencies, 99),
        "cost_total_usd": cost_total,
        "cost_per_row_usd": cost_total / n_rows if cost_total is not None and n_rows else None,
        "reviewed_fraction": (
            sum(1 for r in reviewable if r.reviewed) / len(reviewable) if reviewable else None
        ),
        "eligible": bool(values) and error_rate <= max_leader_error_rate,
    }


def _pass_rate(values: Iterable[float], threshold: float) -> float | None:
    scored = list(values)
    return sum(1 for v in scored if v >= threshold) / len(scored) if scored else None


def _order_key(stats: Mapping[str, Any]) -> tuple[Any, ...]:
    mean, cost, p50 = stats["mean_score"], stats["cost_per_row_usd"], stats["latency_p50_ms"]
    return (
        not stats["eligible"],
        mean is None,
        -(mean or 0.0),
        cost is None,
        cost or 0.0,
        p50 is None,
        p50 or 0.0,
    )


def _versus_leader(
    model: str,
    leader: str | None,
    scores: Mapping[str, dict[str, float]],
    eligible: bool,
    seed: int,
    resamples: int,
    confidence: float,
) -> dict[str, Any]:
    versus: dict[str, Any] = {
        "tied_with_leader": model == leader,
        "n_common_with_leader": None,
        "diff_vs_leader": None,
        "diff_ci_low": None,
        "diff_ci_high": None,
    }
    if leader is None or model == leader:
        return versus
    leader_scores, model_scores = scores[leader], scores[model]
    diffs = [leader_scores[r] - model_scores[r] for r in leader_scores if r in model_scores]
    versus["n_common_with_leader"] = len(diffs)
    if diffs:
        versus["diff_vs_leader"] = exact_mean(diffs)
    if len(diffs) < 2:
        versus["tied_with_leader"] = eligible
        return versus
    rng = random.Random(f"{seed}\x00pair\x00{leader}\x00{model}")
    low, high = bootstrap_interval(diffs, rng, resamples=resamples, confidence=confidence)
    versus.update(diff_ci_low=low, diff_ci_high=high, tied_with_leader=eligible and low <= 0.0)
    return versus


def nearest_rank(sorted_values: Sequence[float], percent: float) -> float | None:
    """The nearest-rank percentile of already sorted values; None for no values."""
    if not sorted_values:
        return None
    # Exact arithmetic on the percent as written: in floats 7 / 100 * 100 is 7.000000000000001
    # (and 99.9 a hair above 99.9), which would pick the next value.
    rank = math.ceil(Fraction(str(percent)) * len(sorted_values) / 100)
    return sorted_values[max(0, rank - 1)]

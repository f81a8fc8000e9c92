"""Ranking statistics: means, bootstrap intervals, the leader and its ties."""

import itertools
import json
import math
import random
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.domain.ranking import RowResult, nearest_rank, rank_models
from shared.domain.resampling import _percentile, binomial, bootstrap_interval, multinomial


def scored(*scores, prefix="r"):
    return [RowResult(f"{prefix}{i}", s) for i, s in enumerate(scores)]


def accuracy(n, right, **kw):
    """n rows r0..r{n-1}, the first ``right`` scored 1, the rest 0."""
    return [RowResult(f"r{i}", 1.0 if i < right else 0.0, **kw) for i in range(n)]


def by_model(ranking):
    return {m.model: m for m in ranking.models}


# Per-model figures.


def test_pass_rate_is_the_share_of_scored_rows_at_the_threshold():
    rows = [
        RowResult("r1", 0.5),
        RowResult("r2", 0.49),
        RowResult("r3", 1.0),
        RowResult("r4", None, error="timeout"),  # not scored: not a failure to pass
        RowResult("r5", None),
    ]
    assert rank_models({"m": rows}, pass_threshold=0.5).models[0].pass_rate == 2 / 3
    assert rank_models({"m": rows}).models[0].pass_rate == 1 / 3  # exact: a score of 1
    assert rank_models({"m": []}).models[0].pass_rate is None
    with pytest.raises(ValueError):
        rank_models({"m": rows}, pass_threshold=1.5)


def test_counts_mean_latency_cost_by_hand():
    rows = [
        RowResult("r1", 1.0, latency_ms=100, cost_usd=0.01),
        RowResult("r2", 0.0, latency_ms=200, cost_usd=0.01),
        RowResult("r3", None, error="timeout", latency_ms=30000, cost_usd=0.01),
        RowResult("r4", None, latency_ms=400),  # no expected answer
        RowResult("r5", 1.0, error="judge unreadable", latency_ms=50),  # error wins over score
    ]
    stats = rank_models({"m": rows}).models[0]
    assert (stats.n_rows, stats.n_scored, stats.n_errors) == (5, 2, 2)
    assert stats.error_rate == 0.4
    assert stats.mean_score == 0.5
    assert (stats.latency_p50_ms, stats.latency_p95_ms, stats.latency_p99_ms) == (200, 400, 400)
    assert stats.cost_total_usd == pytest.approx(0.03)
    assert stats.cost_per_row_usd == pytest.approx(0.006)
    assert stats.reviewed_fraction == 1.0
    assert stats.rank == 1 and stats.eligible and stats.tied_with_leader


def test_nearest_rank_percentiles():
    values = [float(v) for v in range(1, 101)]
    assert [nearest_rank(values, p) for p in (50, 95, 99, 100)] == [50, 95, 99, 100]
    thousand = [float(v) for v in range(1, 1001)]
    assert [nearest_rank(thousand, p) for p in (50, 95, 99)] == [500, 950, 990]


def test_nearest_rank_is_exact_where_float_arithmetic_is_not():
    # 7 / 100 * 100 is 7.000000000000001 and 99.9 / 100 * 1000 is 999.0000000000001 in floats:
    # the rank must still be the 7th of 100 values and the 999th of 1000.
    hundred = [float(v) for v in range(1, 101)]
    assert nearest_rank(hundred, 7) == 7.0
    assert nearest_rank([float(v) for v in range(1, 26)], 28) == 7.0  # 28% of 25 rows: 7
    assert nearest_rank([float(v) for v in range(1, 1001)], 99.9) == 999.0
    assert nearest_rank(hundred, 7.5) == 8.0
    assert nearest_rank(hundred, 0) == 1.0
    assert nearest_rank([7.0], 50) == nearest_rank([7.0], 99) == 7.0
    assert nearest_rank([1.0, 2.0], 50) == 1.0
    assert nearest_rank([1.0, 2.0], 51) == 2.0
    assert nearest_rank([], 50) is None


def test_unknown_costs_and_latencies():
    stats = rank_models({"m": scored(1.0, 0.0)}).models[0]
    assert stats.cost_total_usd is None and stats.cost_per_row_usd is None
    assert stats.latency_p50_ms is None


def test_model_without_rows():
    stats = rank_models({"m": []}).models[0]
    assert (stats.n_rows, stats.error_rate, stats.mean_score, stats.ci_low) == (0, 0.0, None, None)
    assert not stats.eligible


def test_own_interval_of_constant_scores_is_the_point():
    stats = rank_models({"m": scored(0.7, 0.7, 0.7)}).models[0]
    assert (stats.ci_low, stats.mean_score, stats.ci_high) == (0.7, 0.7, 0.7)


def test_own_interval_matches_the_normal_approximation_for_a_large_binary_sample():
    stats = rank_models({"m": accuracy(1000, 500)}, resamples=4000).models[0]
    half_width = 1.96 * math.sqrt(0.25 / 1000)  # 0.031
    assert stats.ci_low == pytest.approx(0.5 - half_width, abs=0.004)
    assert stats.ci_high == pytest.approx(0.5 + half_width, abs=0.004)


def test_latency_percentiles_of_a_run_are_the_nearest_ranks():
    # 100 answered rows with latencies 1..100 ms (shuffled), plus a fast failure left out.
    latencies = [float((i * 37) % 100 + 1) for i in range(100)]
    rows = [RowResult(f"r{i}", 1.0, latency_ms=lat) for i, lat in enumerate(latencies)]
    rows.append(RowResult("failed", None, error="timeout", latency_ms=0.5))
    stats = rank_models({"m": rows}).models[0]
    assert (stats.latency_p50_ms, stats.latency_p95_ms, stats.latency_p99_ms) == (50, 95, 99)


def test_free_rows_cost_zero_not_unknown():
    stats = rank_models({"m": [RowResult("r0", 1.0, cost_usd=0.0), RowResult("r1", 0.0)]})
    m = stats.models[0]
    assert (m.cost_total_usd, m.cost_per_row_usd) == (0.0, 0.0)


# Leader, order and ties.


def test_highest_mean_leads_and_ranks_follow_means():
    ranking = rank_models(
        {"low": accuracy(200, 40), "high": accuracy(200, 180), "mid": accuracy(200, 100)}
    )
    assert [m.model for m in ranking.models] == ["high", "mid", "low"]
    assert [m.rank for m in ranking.models] == [1, 2, 3]
    assert ranking.leader == "high"
    assert ranking.tied == ["high"]


def test_equal_means_break_on_cost_then_latency_then_id():
    def rows(cost, latency):
        return [
            RowResult(f"r{i}", float(i % 2), latency_ms=latency, cost_usd=cost) for i in range(4)
        ]

    ranking = rank_models(
        {
            "b-cheap-slow": rows(0.001, 900),
            "a-cheap-slow": rows(0.001, 900),
            "cheap-fast": rows(0.001, 100),
            "pricey": rows(0.01, 10),
            "unknown-cost": rows(None, 1),
        }
    )
    assert [m.model for m in ranking.models] == [
        "cheap-fast",
        "a-cheap-slow",
        "b-cheap-slow",
        "pricey",
        "unknown-cost",
    ]


def test_unknown_latency_sorts_after_any_known_latency():
    def rows(latency):
        return [RowResult(f"r{i}", float(i % 2), latency_ms=latency) for i in range(4)]

    ranking = rank_models(
        {"a-unknown": rows(None), "b-slow": rows(5000.0), "c-fast": rows(0.5), "d-0ms": rows(0.0)}
    )
    assert [m.model for m in ranking.models] == ["d-0ms", "c-fast", "b-slow", "a-unknown"]


def test_a_free_model_is_cheaper_than_any_paid_one():
    def rows(cost):
        return [RowResult(f"r{i}", float(i % 2), cost_usd=cost) for i in range(4)]

    ranking = rank_models({"a-paid": rows(0.5), "b-free": rows(0.0), "0-unknown": rows(None)})
    assert [m.model for m in ranking.models] == ["b-free", "a-paid", "0-unknown"]
    assert by_model(ranking)["b-free"].cost_per_row_usd == 0.0


def test_ineligible_models_follow_in_the_same_order():
    def flaky(*scores):  # 6 errors out of 10 rows: not eligible at the default 0.5
        return scored(*scores) + [RowResult(f"e{i}", None, error="500") for i in range(6)]

    ranking = rank_models(
        {
            "0-no-scores": [RowResult("r0", None, error="500")],
            "a-flaky-wrong": flaky(0.0, 0.0, 0.0, 0.0),
            "b-flaky-right": flaky(1.0, 1.0, 1.0, 1.0),
            "z-steady": accuracy(10, 1),
        }
    )
    assert [m.model for m in ranking.models] == [
        "z-steady",
        "b-flaky-right",
        "a-flaky-wrong",
        "0-no-scores",
    ]
    assert [m.eligible for m in ranking.models] == [True, False, False, False]
    assert ranking.leader == "z-steady" and ranking.tied == ["z-steady"]


def test_a_perfect_score_beats_an_all_wrong_one():
    ranking = rank_models({"a-wrong": accuracy(4, 0), "b-right": accuracy(4, 4)})
    assert [m.model for m in ranking.models] == ["b-right", "a-wrong"]
    assert [m.mean_score for m in ranking.models] == [1.0, 0.0]


def test_identical_models_are_tied():
    ranking = rank_models({"a": accuracy(100, 60), "b": accuracy(100, 60)})
    b = by_model(ranking)["b"]
    assert ranking.tied == ["a", "b"]
    assert (b.diff_vs_leader, b.diff_ci_low, b.diff_ci_high) == (0.0, 0.0, 0.0)
    assert b.n_common_with_leader == 100


def test_leader_better_on_every_row_is_not_tied():
    ranking = rank_models({"a": accuracy(50, 50), "b": accuracy(50, 0)})
    b = by_model(ranking)["b"]
    assert (b.diff_vs_leader, b.diff_ci_low, b.diff_ci_high) == (1.0, 1.0, 1.0)
    assert ranking.tied == ["a"]


def test_small_difference_on_few_rows_is_a_tie_large_on_many_is_not():
    few = rank_models({"a": accuracy(10, 6), "b": accuracy(10, 5)})
    assert few.tied == ["a", "b"]
    many = rank_models({"a": accuracy(1000, 900), "b": accuracy(1000, 500)})
    assert many.tied == ["a"]
    b = by_model(many)["b"]
    assert b.diff_vs_leader == pytest.approx(0.4)
    assert b.diff_ci_low <= 0.4 <= b.diff_ci_high
    assert b.diff_ci_low > 0.3


def test_pairing_uses_rows_not_marginals():
    # Both models are right on 50 of 100 rows; b differs from a on two rows only. Unpaired
    # intervals would overlap widely; paired, a is better on 2 rows and never worse.
    a = accuracy(100, 50)
    b = [RowResult(f"r{i}", 1.0 if i < 48 else 0.0) for i in range(100)]
    stats = by_model(rank_models({"a": a, "b": b}))["b"]
    assert stats.diff_vs_leader == pytest.approx(0.02)
    assert stats.diff_ci_low >= 0.0
    assert stats.diff_ci_high <= 0.05


def test_fewer_than_two_common_rows_is_a_tie():
    a = [RowResult("r1", 1.0), RowResult("r2", 1.0)]
    b = [RowResult("r1", 0.0), RowResult("r2", None, error="boom"), RowResult("r3", 0.0)]
    ranking = rank_models({"a": a, "b": b}, max_leader_error_rate=1.0)
    stats = by_model(ranking)["b"]
    assert stats.n_common_with_leader == 1
    assert stats.diff_vs_leader == 1.0
    assert stats.diff_ci_low is None and stats.diff_ci_high is None
    assert ranking.tied == ["a", "b"]


def test_two_common_rows_are_enough_to_tell_models_apart():
    a = [RowResult("r1", 1.0), RowResult("r2", 1.0), RowResult("r3", 1.0)]
    b = [RowResult("r1", 0.0), RowResult("r2", 0.0), RowResult("r3", None, error="boom")]
    ranking = rank_models({"a": a, "b": b}, max_leader_error_rate=1.0)
    stats = by_model(ranking)["b"]
    assert stats.n_common_with_leader == 2
    assert (stats.diff_vs_leader, stats.diff_ci_low, stats.diff_ci_high) == (1.0, 1.0, 1.0)
    assert not stats.tied_with_leader and ranking.tied == ["a"]


def test_no_common_rows():
    ranking = rank_models({"a": scored(1.0, prefix="x"), "b": scored(0.0, prefix="y")})
    b = by_model(ranking)["b"]
    assert (b.n_common_with_leader, b.diff_vs_leader, b.tied_with_leader) == (0, None, True)


def test_model_better_on_common_rows_is_tied_even_with_a_lower_mean():
    # Each model errs where the other does well; on the 10 common rows b is always better.
    leader = [RowResult(f"c{i}", 0.0) for i in range(10)]
    leader += [RowResult(f"a{i}", 1.0) for i in range(30)]
    leader += [RowResult(f"b{i}", None, error="x") for i in range(30)]
    other = [RowResult(f"c{i}", 1.0) for i in range(10)]
    other += [RowResult(f"a{i}", None, error="x") for i in range(30)]
    other += [RowResult(f"b{i}", 0.0) for i in range(30)]
    ranking = rank_models({"l": leader, "o": other})
    o = by_model(ranking)["o"]
    assert ranking.leader == "l"
    assert (by_model(ranking)["l"].mean_score, o.mean_score) == (0.75, 0.25)
    assert (o.diff_ci_low, o.diff_ci_high) == (-1.0, -1.0)
    assert ranking.tied == ["l", "o"]


def test_error_rows_are_excluded_not_zero():
    a = [RowResult("r0", 1.0), RowResult("r1", 1.0), RowResult("r2", None, error="500")]
    stats = rank_models({"a": a}).models[0]
    assert stats.mean_score == 1.0
    assert stats.error_rate == pytest.approx(1 / 3)


def test_a_model_failing_most_rows_cannot_lead():
    flaky = [
        RowResult(f"r{i}", 1.0 if i < 4 else None, error=None if i < 4 else "500")
        for i in range(10)
    ]  # error rate 0.6, perfect on what it answered
    steady = accuracy(10, 7)
    ranking = rank_models({"flaky": flaky, "steady": steady})
    assert ranking.leader == "steady"
    assert [m.model for m in ranking.models] == ["steady", "flaky"]
    f = by_model(ranking)["flaky"]
    assert not f.eligible and not f.tied_with_leader and f.rank == 2
    assert ranking.tied == ["steady"]
    assert rank_models({"flaky": flaky, "steady": steady}, max_leader_error_rate=0.6).leader == (
        "flaky"
    )


def test_exactly_half_errors_may_still_lead():
    half = [
        RowResult(f"r{i}", 1.0 if i < 5 else None, error=None if i < 5 else "x") for i in range(10)
    ]
    assert rank_models({"half": half, "other": accuracy(10, 5)}).leader == "half"


def test_no_error_allowed_to_lead_at_a_zero_error_rate():
    one_error = [*accuracy(9, 9), RowResult("r9", None, error="500")]
    ranking = rank_models({"a": one_error, "b": accuracy(10, 2)}, max_leader_error_rate=0)
    assert ranking.leader == "b"
    assert [(m.model, m.eligible) for m in ranking.models] == [("b", True), ("a", False)]
    assert ranking.max_leader_error_rate == 0


def test_no_leader_without_scored_rows():
    ranking = rank_models({"a": [RowResult("r0", None, error="x")], "b": [RowResult("r0")]})
    assert ranking.leader is None and ranking.tied == []
    assert [m.rank for m in ranking.models] == [1, 2]
    assert not any(m.tied_with_leader for m in ranking.models)
    empty = rank_models({})
    assert (empty.models, empty.leader, empty.tied, empty.reviewed_fraction) == ([], None, [], None)


# Human review.


def test_unreviewed_rows_are_neither_scored_nor_errors():
    rows = [
        RowResult("r0", 1.0),
        RowResult("r1", 0.0),
        RowResult("r2", None, reviewed=False),
        RowResult("r3", 0.9, reviewed=False),  # a score without a review does not count
        RowResult("r4", None, error="timeout", reviewed=False),
    ]
    other = [RowResult("r0", 1.0), RowResult("r1", None, reviewed=False)]
    ranking = rank_models({"m": rows, "o": other})
    m = by_model(ranking)["m"]
    assert (m.n_rows, m.n_scored, m.n_errors, m.mean_score) == (5, 2, 1, 0.5)
    assert m.reviewed_fraction == 0.5  # 2 of the 4 non-error rows
    assert by_model(ranking)["o"].reviewed_fraction == 0.5
    assert ranking.reviewed_fraction == pytest.approx(3 / 6)


# Validation and output.


def test_duplicate_rows_and_bad_scores_are_refused():
    with pytest.raises(ValueError, match="two results for row 'r1'"):
        rank_models({"m": [RowResult("r1", 1.0), RowResult("r1", 0.0)]})
    with pytest.raises(ValueError, match="score nan"):
        rank_models({"m": [RowResult("r1", float("nan"))]})


@pytest.mark.parametrize(
    "kw",
    [
        {"resamples": 0},
        {"resamples": -1},
        {"confidence": 1.0},
        {"confidence": 0},
        {"confidence": -0.5},
        {"max_leader_error_rate": 2},
        {"max_leader_error_rate": 1.01},
        {"max_leader_error_rate": -0.01},
        {"pass_threshold": -0.01},
        {"pass_threshold": 1.01},
    ],
)
def test_bad_parameters_are_refused(kw):
    with pytest.raises(ValueError):
        rank_models({}, **kw)


@pytest.mark.parametrize(
    "kw",
    [
        {"resamples": 1},
        {"confidence": 0.5},
        {"max_leader_error_rate": 0},
        {"max_leader_error_rate": 1},
        {"pass_threshold": 0},
        {"pass_threshold": 1},
    ],
)
def test_boundary_parameters_are_accepted(kw):
    ranking = rank_models({"a": accuracy(20, 15), "b": accuracy(20, 5)}, **kw)
    assert ranking.leader == "a"
    for m in ranking.models:
        assert m.ci_low <= m.mean_score <= m.ci_high


def test_a_single_resample_gives_an_interval_around_the_estimate():
    stats = rank_models({"m": accuracy(20, 10)}, resamples=1).models[0]
    assert stats.ci_low <= 0.5 <= stats.ci_high
    assert rank_models({"m": accuracy(20, 10)}, resamples=1).resamples == 1


def test_a_zero_pass_threshold_passes_every_scored_row():
    rows = [RowResult("r0", 0.0), RowResult("r1", 0.3), RowResult("r2", None, error="x")]
    assert rank_models({"m": rows}, pass_threshold=0).models[0].pass_rate == 1.0


MODEL_KEYS = {
    "model", "rank", "n_rows", "n_scored", "n_errors", "error_rate", "mean_score", "pass_rate",
    "ci_low", "ci_high", "latency_p50_ms", "latency_p95_ms", "latency_p99_ms", "cost_total_usd",
    "cost_per_row_usd", "reviewed_fraction", "eligible", "tied_with_leader",
    "n_common_with_leader", "diff_vs_leader", "diff_ci_low", "diff_ci_high",
}  # fmt: skip


def test_to_json_publishes_exactly_these_keys():
    ranking = rank_models(
        {"a": accuracy(20, 15, latency_ms=10.0), "b": accuracy(20, 5)},
        seed=3,
        resamples=500,
        confidence=0.9,
        max_leader_error_rate=0.25,
    )
    data = ranking.to_json()
    assert set(data) == {"leader", "tied", "reviewed_fraction", "method", "models"}
    assert data["method"] == {
        "interval": "percentile bootstrap over rows, paired against the leader",
        "seed": 3,
        "resamples": 500,
        "confidence": 0.9,
        "max_leader_error_rate": 0.25,
    }
    assert data["reviewed_fraction"] == 1.0
    assert all(set(m) == MODEL_KEYS for m in data["models"])
    a, b = data["models"]
    assert (a["model"], a["rank"], a["eligible"], a["tied_with_leader"]) == ("a", 1, True, True)
    assert (a["n_common_with_leader"], a["diff_vs_leader"]) == (None, None)
    assert (b["model"], b["rank"], b["n_common_with_leader"]) == ("b", 2, 20)
    assert (a["pass_rate"], b["pass_rate"]) == (0.75, 0.25)
    assert b["diff_vs_leader"] == 0.5
    assert b["diff_ci_low"] <= 0.5 <= b["diff_ci_high"]


def test_to_json_is_plain_json():
    ranking = rank_models({"a": accuracy(20, 15, latency_ms=10.0), "b": accuracy(20, 5)}, seed=3)
    data = json.loads(json.dumps(ranking.to_json()))
    assert data["leader"] == "a" and data["tied"] == ["a"]
    assert data["method"]["seed"] == 3 and data["method"]["resamples"] == 2000
    assert [m["model"] for m in data["models"]] == ["a", "b"]
    assert set(data["models"][0]) >= {
        "rank", "n_rows", "n_scored", "n_errors", "error_rate", "mean_score", "ci_low", "ci_high",
        "latency_p50_ms", "latency_p95_ms", "latency_p99_ms", "cost_total_usd", "cost_per_row_usd",
        "tied_with_leader", "reviewed_fraction", "diff_vs_leader", "diff_ci_low", "diff_ci_high",
    }  # fmt: skip


def test_the_default_seed_is_zero():
    data = {"a": accuracy(30, 20), "b": scored(*[i / 29 for i in range(30)])}
    assert rank_models(data).to_json() == rank_models(data, seed=0).to_json()
    assert rank_models(data).seed == 0


def test_deterministic_for_a_seed():
    data = {"a": accuracy(60, 40), "b": accuracy(60, 35), "c": scored(*[i / 59 for i in range(60)])}
    assert rank_models(data, seed=7).to_json() == rank_models(data, seed=7).to_json()
    assert rank_models(data, seed=7).to_json() != rank_models(data, seed=8).to_json()


def test_each_interval_has_its_own_generator_from_the_seed_and_the_models():
    leader = [RowResult(f"r{i}", ((i * 7) % 11) / 10) for i in range(40)]  # mean 0.505
    other = [RowResult(f"r{i}", ((i * 7 + 3) % 11) / 10) for i in range(40)]  # mean 0.5025

    def intervals(seed, **extra):
        data = {"a": leader, "b": other, "c": other, **extra}
        ranking = rank_models(data, seed=seed, resamples=200)
        assert ranking.leader == "a"
        return {
            m.model: (m.ci_low, m.ci_high, m.diff_ci_low, m.diff_ci_high) for m in ranking.models
        }

    first = intervals(1)
    # Same data, another model: another draw, for its own interval and the paired one.
    assert first["b"][:2] != first["c"][:2]
    assert first["b"][2:] != first["c"][2:]
    # Another seed, another draw; the same seed, the same draw whatever else is ranked.
    assert intervals(2)["b"][:2] != first["b"][:2]
    assert intervals(2)["b"][2:] != first["b"][2:]
    assert intervals(1, d=accuracy(5, 1))["b"] == first["b"]


# The bootstrap machinery.


def test_percentile_interpolates_linearly_between_ranks():
    values = [0.0, 10.0, 20.0, 30.0]
    assert [_percentile(values, q) for q in (0, 0.25, 0.5, 0.9, 1)] == [0, 7.5, 15, 27, 30]
    assert _percentile([5.0], 0.0) == _percentile([5.0], 0.975) == 5.0
    assert _percentile([1.0, 3.0], 0.5) == 2.0


def reference_interval(values, rng, resamples, confidence=0.95):
    """The textbook row bootstrap, for comparison."""
    means = sorted(sum(rng.choices(values, k=len(values))) / len(values) for _ in range(resamples))
    tail = (1 - confidence) / 2
    return means[round(tail * (resamples - 1))], means[round((1 - tail) * (resamples - 1))]


@pytest.mark.parametrize(
    "values",
    [
        [1.0] * 300 + [0.0] * 200,  # exact multinomial, 2 values
        [i % 10 / 9 for i in range(1000)],  # exact multinomial, 10 values
        [((i * 7919) % 1000) / 999 for i in range(300)],  # exact row draws, many values
        [((i * 7919) % 1009) / 1008 for i in range(1009)],  # binned, many values
        [(i % 101 / 100) ** 3 for i in range(1010)],  # binned, skewed
    ],
)
def test_every_method_agrees_with_the_textbook_bootstrap(values):
    low, high = bootstrap_interval(values, random.Random(1), resamples=4000, confidence=0.95)
    ref_low, ref_high = reference_interval(values, random.Random(2), 4000)
    sd = math.sqrt(sum((v - sum(values) / len(values)) ** 2 for v in values) / len(values))
    # A 2.5% percentile of 4000 resamples has a Monte Carlo noise of about 0.06 standard errors
    # per method; 0.2 is over twice the noise of the difference.
    noise = 0.2 * sd / math.sqrt(len(values))
    assert low == pytest.approx(ref_low, abs=noise)
    assert high == pytest.approx(ref_high, abs=noise)


@pytest.mark.parametrize(("confidence", "expected"), [(0.95, (0.2, 0.8)), (0.8, (0.3, 0.7))])
def test_interval_ends_are_the_tail_percentiles_of_the_resampled_means(confidence, expected):
    # Five 0s and five 1s: a resample's mean is Binomial(10, 1/2) / 10, whose cumulative law is
    # 0.011, 0.055, 0.172, 0.377, 0.623, ... at 0.1, 0.2, 0.3, 0.4, 0.5. With 20000 resamples the
    # 2.5% / 97.5% percentiles are 0.2 / 0.8 and the 10% / 90% ones 0.3 / 0.7, whatever the seed.
    values = [0.0] * 5 + [1.0] * 5
    for seed in range(3):
        rng = random.Random(seed)
        assert bootstrap_interval(values, rng, resamples=20000, confidence=confidence) == expected


def test_binned_resamples_keep_the_weight_of_a_rare_extreme_value():
    # 1008 scores near 0 and a single 1.0: the top bin's spread carries almost all the variance
    # (the textbook bootstrap gives about (0.0005, 0.0035) for a mean of 0.0015).
    values = [i / 10**6 for i in range(1008)] + [1.0]
    low, high = bootstrap_interval(values, random.Random(0), resamples=4000, confidence=0.95)
    assert low <= 0.0005
    assert 0.0030 <= high <= 0.0040


def test_float_noise_does_not_defeat_the_exact_method():
    diffs = [a / 9 - b / 9 for a in range(1, 11) for b in range(1, 11)] * 30
    assert len(set(diffs)) > 20  # float noise: 5/9 - 3/9 != 4/9 - 2/9
    low, high = bootstrap_interval(diffs, random.Random(0), resamples=500, confidence=0.95)
    assert low < 0 < high


@pytest.mark.parametrize(("n", "p"), [(1, 0.3), (20, 0.2), (30, 0.4), (500, 0.1), (5000, 0.75)])
def test_binomial_draws_follow_the_binomial_law(n, p):
    rng = random.Random(42)
    draws = [binomial(rng, n, p) for _ in range(20000)]
    mean = sum(draws) / len(draws)
    var = sum((d - mean) ** 2 for d in draws) / len(draws)
    assert mean == pytest.approx(n * p, abs=4 * math.sqrt(n * p * (1 - p) / 20000))
    assert var == pytest.approx(n * p * (1 - p), rel=0.05)
    if n <= 30:
        freq = Counter(draws)
        for k in range(n + 1):
            pmf = math.comb(n, k) * p**k * (1 - p) ** (n - k)
            assert freq[k] / 20000 == pytest.approx(pmf, abs=0.01)


def binomial_cdf(n, p):
    log_pmf = [
        math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)
        + k * math.log(p) + (n - k) * math.log1p(-p)
        for k in range(n + 1)
    ]  # fmt: skip
    return list(itertools.accumulate(math.exp(lp) for lp in log_pmf))


@pytest.mark.parametrize(("n", "p"), [(40, 0.45), (61, 0.5), (100, 0.3), (2000, 0.1), (5000, 0.75)])
def test_binomial_law_for_large_means(n, p):
    # n * p >= 10: the transformed rejection. Its constants only shape the proposal; a wrong one
    # bends the law by a few percent, which this Kolmogorov distance sees: sqrt(draws) * D stays
    # below 1.63 with probability 99% for a correct sampler (it is about 0.5-0.9 with this seed).
    draws = 20000
    rng = random.Random(42)
    counts = Counter(binomial(rng, n, p) for _ in range(draws))
    assert set(counts) <= set(range(n + 1))
    seen, distance = 0, 0.0
    for k, cdf in enumerate(binomial_cdf(n, p)):
        seen += counts[k]
        distance = max(distance, abs(seen / draws - cdf))
    assert math.sqrt(draws) * distance < 1.63


def test_binomial_law_at_the_smallest_large_mean():
    # n * p = 10, where the transformed rejection starts and its constants matter most: a
    # chi-square test over the cells expecting at least 5 draws (k = 2..18, 16 degrees of
    # freedom) stays below 39.25 with probability 99.9% for a correct sampler (18 with this seed).
    n, p, draws = 20, 0.5, 60000
    rng = random.Random(1)
    counts = Counter(binomial(rng, n, p) for _ in range(draws))
    expected = {k: draws * math.comb(n, k) / 2**n for k in range(n + 1)}
    cells = [k for k in range(n + 1) if expected[k] >= 5]
    assert len(cells) == 17
    chi2 = sum((counts[k] - expected[k]) ** 2 / expected[k] for k in cells)
    assert chi2 < 39.25


def test_binomial_edge_cases():
    rng = random.Random(0)
    assert binomial(rng, 0, 0.5) == 0
    assert binomial(rng, 10, 0.0) == 0
    assert binomial(rng, 10, 1.0) == 10
    assert all(0 <= binomial(rng, 7, 0.99) <= 7 for _ in range(1000))


def test_binomial_certain_outcomes_draw_nothing_from_the_generator():
    rng = random.Random(0)
    state = rng.getstate()
    assert [binomial(rng, 0, 0.5), binomial(rng, 0, 0.7), binomial(rng, 5, 0.0)] == [0, 0, 0]
    assert binomial(rng, 5, 1.0) == 5
    assert rng.getstate() == state


@pytest.mark.parametrize(("n", "p"), [(10, 0.7), (400, 0.9), (5000, 0.75)])
def test_binomial_draws_above_one_half_by_reflection(n, p):
    # The transformed rejection is designed for p <= 1/2: larger p draw n - Binomial(n, 1 - p).
    above, below = random.Random(8), random.Random(8)
    assert [binomial(above, n, p) for _ in range(50)] == [
        n - binomial(below, n, 1 - p) for _ in range(50)
    ]


def test_multinomial_counts_sum_to_the_draws():
    rng = random.Random(0)
    for _ in range(200):
        counts = multinomial(rng, [5, 0, 3, 12])
        assert sum(counts) == 20 and counts[1] == 0 and all(c >= 0 for c in counts)


def test_multinomial_stops_drawing_once_every_draw_is_placed():
    rng = random.Random(0)
    assert multinomial(rng, [5, 0, 0]) == [5, 0, 0]
    assert multinomial(rng, [0, 0, 4]) == [0, 0, 4]
    assert multinomial(rng, [3]) == [3]
    assert multinomial(rng, [0, 0]) == [0, 0]


def test_multinomial_counts_follow_the_multinomial_law():
    rng = random.Random(3)
    freqs = [1, 2, 3, 4]
    draws = [multinomial(rng, freqs) for _ in range(20000)]
    for i, freq in enumerate(freqs):
        counts = [d[i] for d in draws]
        mean = sum(counts) / len(counts)
        var = sum((c - mean) ** 2 for c in counts) / len(counts)
        p = freq / 10
        assert mean == pytest.approx(10 * p, abs=4 * math.sqrt(10 * p * (1 - p) / 20000))
        assert var == pytest.approx(10 * p * (1 - p), rel=0.05)


@pytest.mark.timeout(600)
def test_smoke_20_models_5000_rows_2000_resamples():
    # No timing assertion (CI machines vary); it must finish, and quickly on a laptop (~1 s).
    rng = random.Random(5)
    results = {}
    for m in range(20):
        rows = []
        for i in range(5000):
            error = "timeout" if rng.random() < 0.02 else None
            score = None if error else float(rng.randint(1, 10) - 1) / 9
            rows.append(RowResult(f"r{i}", score, error, rng.uniform(100, 3000), 1e-4))
        results[f"model-{m:02d}"] = rows
    ranking = rank_models(results)
    assert len(ranking.models) == 20 and ranking.leader in ranking.tied


# Properties.

row_strategy = st.tuples(
    st.sampled_from([0.0, 0.25, 1.0, None]),
    st.booleans(),  # error
    st.one_of(st.none(), st.floats(0, 1000)),
    st.one_of(st.none(), st.sampled_from([0.0, 0.001, 0.002])),
    st.booleans(),  # reviewed
)
models_strategy = st.dictionaries(
    st.sampled_from(["a", "b", "c", "d"]),
    st.lists(row_strategy, max_size=12),
    max_size=4,
)


def build(data):
    return {
        model: [
            RowResult(f"r{i}", s, "err" if e else None, lat, cost, rev)
            for i, (s, e, lat, cost, rev) in enumerate(rows)
        ]
        for model, rows in data.items()
    }


@given(data=models_strategy, seed=st.integers(0, 3), shuffle_seed=st.integers(0, 10**6))
def test_ranking_does_not_depend_on_input_order(data, seed, shuffle_seed):
    results = build(data)
    shuffler = random.Random(shuffle_seed)
    models = list(results)
    shuffler.shuffle(models)
    shuffled = {}
    for model in models:
        rows = list(results[model])
        shuffler.shuffle(rows)
        shuffled[model] = rows
    kw = {"seed": seed, "resamples": 100}
    assert rank_models(shuffled, **kw).to_json() == rank_models(results, **kw).to_json()


@given(data=models_strategy)
def test_ranking_invariants(data):
    ranking = rank_models(build(data), resamples=100)
    assert [m.rank for m in ranking.models] == list(range(1, len(ranking.models) + 1))
    for m in ranking.models:
        if m.mean_score is None:
            assert m.ci_low is None and m.n_scored == 0
        else:
            assert m.ci_low <= m.mean_score <= m.ci_high
        assert m.n_scored + m.n_errors <= m.n_rows
    if ranking.leader is None:
        assert ranking.tied == []
    else:
        leader = ranking.models[0]
        assert leader.model == ranking.leader and ranking.tied[0] == ranking.leader
        eligible = [m for m in ranking.models if m.eligible]
        assert leader.mean_score == max(m.mean_score for m in eligible)
        assert all(m.eligible for m in ranking.models if m.tied_with_leader)
    if ranking.reviewed_fraction is not None:
        assert 0 <= ranking.reviewed_fraction <= 1


@given(values=st.lists(st.floats(0, 1), min_size=1, max_size=40), seed=st.integers(0, 5))
def test_interval_contains_the_mean_and_stays_within_the_values(values, seed):
    low, high = bootstrap_interval(values, random.Random(seed), resamples=200, confidence=0.95)
    mean = math.fsum(values) / len(values)
    ulps = 4 * math.ulp(max(values))  # the mean of n equal values may round away from them
    assert low - ulps <= mean <= high + ulps
    assert min(values) <= low <= high <= max(values)

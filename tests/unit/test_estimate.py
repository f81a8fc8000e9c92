"""Run estimates: time from shards and concurrency, cost from prices and tokens."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.domain.estimate import (
    DEFAULT_LATENCY_MS,
    ModelCostInput,
    estimate_run,
    estimate_tokens,
)


def model(
    model_id="m",
    latency_ms=1000.0,
    source="measured",
    prompt_price=1e-6,
    completion_price=2e-6,
    prompt_tokens=100.0,
    completion_tokens=50.0,
):
    return ModelCostInput(
        model_id=model_id,
        latency_ms=latency_ms,
        latency_source=source,
        prompt_price_per_token=prompt_price,
        completion_price_per_token=completion_price,
        avg_prompt_tokens=prompt_tokens,
        avg_completion_tokens=completion_tokens,
    )


def run(rows, models, concurrency=10, shard_size=1000, parallel=2, judge=None):
    return estimate_run(
        rows=rows,
        models=models,
        concurrency_per_shard=concurrency,
        shard_size=shard_size,
        parallel_shards=parallel,
        judge=judge,
    )


# Time.


@pytest.mark.parametrize(
    ("rows", "concurrency", "shard_size", "parallel", "latencies"),
    [
        (2500, 10, 1000, 2, 150),  # waves [1000, 1000] then [500]: 100 + 50
        (2500, 10, 1000, 3, 100),  # one wave [1000, 1000, 500]
        (3000, 10, 1000, 2, 200),  # [1000, 1000] then [1000]
        (500, 10, 1000, 2, 50),  # one partial shard
        (505, 10, 1000, 2, 51),  # ceil(505 / 10)
        (5, 10, 1000, 2, 1),  # fewer rows than concurrency
        (4500, 8, 1000, 2, 125 + 125 + 63),  # [1000, 1000], [1000, 1000], then [500]
        (4500, 8, 1000, 4, 125 + 63),  # [1000 x 4], then [500]
        (1, 1, 1, 1, 1),
        (0, 10, 1000, 2, 0),
    ],
)
def test_time_in_row_latencies(rows, concurrency, shard_size, parallel, latencies):
    estimate = run(rows, [model(latency_ms=1000.0)], concurrency, shard_size, parallel)
    assert estimate.seconds == pytest.approx(latencies * 1.0)
    assert estimate.per_model[0].shards == math.ceil(rows / shard_size)


def test_models_run_side_by_side_the_slowest_sets_the_time():
    estimate = run(2000, [model("fast", 500.0), model("slow", 2000.0)], 10, 1000, 2)
    assert [m.seconds for m in estimate.per_model] == [50.0, 200.0]
    assert estimate.seconds == 200.0


def test_latency_sources_and_default():
    estimate = run(
        10,
        [
            model("a", 800.0, "measured"),
            model("b", 1500.0, "published"),
            model("c", None, "published"),
        ],
        concurrency=10,
    )
    assert [(m.latency_ms, m.latency_source) for m in estimate.per_model] == [
        (800.0, "measured"),
        (1500.0, "published"),
        (DEFAULT_LATENCY_MS, "default"),
    ]
    assert estimate.seconds == DEFAULT_LATENCY_MS / 1000


def test_judge_adds_its_latency_to_each_row():
    judge = model("judge", 400.0, "published", 1e-7, 1e-7, 300.0, 30.0)
    estimate = run(100, [model("m", 600.0)], concurrency=10, judge=judge)
    assert estimate.seconds == pytest.approx(10 * (0.6 + 0.4))


def test_no_models_or_no_rows():
    assert run(100, []).seconds == 0.0
    assert run(100, []).cost_usd == 0.0
    assert run(100, []).judge_cost_usd is None  # no judge: no judge cost, not a zero one
    empty = run(0, [model()])
    assert (empty.seconds, empty.cost_usd) == (0.0, 0.0)


# Cost.


def test_cost_by_hand():
    # 1000 rows x (100 prompt tokens x $1e-6 + 50 completion tokens x $2e-6) = 1000 x $0.0002
    estimate = run(1000, [model("a"), model("b", prompt_price=3e-6)])
    assert [m.cost_usd for m in estimate.per_model] == [pytest.approx(0.2), pytest.approx(0.4)]
    assert estimate.candidate_cost_usd == pytest.approx(0.6)
    assert estimate.cost_usd == pytest.approx(0.6)
    assert estimate.judge_cost_usd is None
    assert estimate.unknown_prices == []


def test_judge_cost_is_per_row_and_model_and_reported_apart():
    judge = model("judge", 400.0, "published", 1e-7, 4e-7, 300.0, 25.0)  # $0.00004 per call
    estimate = run(1000, [model("a"), model("b")], judge=judge)
    assert [m.judge_cost_usd for m in estimate.per_model] == [
        pytest.approx(0.04),
        pytest.approx(0.04),
    ]
    assert estimate.judge_cost_usd == pytest.approx(0.08)
    assert estimate.candidate_cost_usd == pytest.approx(0.4)
    assert estimate.cost_usd == pytest.approx(0.48)


def test_unknown_prices_are_named_and_make_the_total_unknown():
    estimate = run(
        10,
        [
            model("a"),
            model("b", completion_price=None),
            model("c", prompt_price=None, completion_price=None),
        ],
    )
    assert [m.cost_usd is None for m in estimate.per_model] == [False, True, True]
    assert estimate.cost_usd is None and estimate.candidate_cost_usd is None
    assert estimate.unknown_prices == ["b (completion price)", "c (prompt and completion price)"]
    assert "cost unknown for b (completion price), c (prompt and completion price)" in (
        estimate.basis
    )


def test_unknown_judge_price():
    judge = model("judge", prompt_price=None)
    estimate = run(10, [model("a")], judge=judge)
    assert estimate.candidate_cost_usd == pytest.approx(0.002)
    assert estimate.judge_cost_usd is None and estimate.cost_usd is None
    assert estimate.unknown_prices == ["judge judge (prompt price)"]
    unpriced = model("j", prompt_price=None, completion_price=None)
    assert run(10, [model("a")], judge=unpriced).unknown_prices == [
        "judge j (prompt and completion price)"
    ]


def test_free_models_cost_zero_not_unknown():
    assert run(10, [model(prompt_price=0.0, completion_price=0.0)]).cost_usd == 0.0


def test_basis_explains_the_figures():
    estimate = run(
        2500,
        [model("a", 800.0), model("b", None, "published")],
        concurrency=8,
        shard_size=1000,
        parallel=2,
        judge=model("j", 300.0, "published"),
    )
    assert estimate.basis == (
        "2500 rows x 2 models run side by side; per model 3 shard(s) of up to 1000 rows, "
        "2 at a time, 8 rows at a time per shard; latency per row: a 800 ms (measured), "
        "b 5000 ms (default); plus judge j 300 ms (published) per row"
    )
    assert estimate.to_json()["per_model"][1]["latency_source"] == "default"


# Validation.


@pytest.mark.parametrize(
    "kw",
    [{"rows": -1}, {"concurrency": 0}, {"shard_size": 0}, {"parallel": 0}],
)
def test_invalid_run_parameters(kw):
    args = {"rows": 10, "concurrency": 1, "shard_size": 1, "parallel": 1} | kw
    with pytest.raises(ValueError, match="must be at least"):
        run(args["rows"], [model()], args["concurrency"], args["shard_size"], args["parallel"])


@pytest.mark.parametrize(
    "kw",
    [{"latency_ms": -1.0}, {"prompt_price": float("nan")}, {"prompt_tokens": -5.0}],
)
def test_invalid_model_figures(kw):
    with pytest.raises(ValueError, match="must be a finite number >= 0"):
        model(**kw)


# Tokens.


@pytest.mark.parametrize(
    ("text", "tokens"), [("", 1), ("a", 1), ("abcd", 1), ("abcde", 2), ("x" * 4000, 1000)]
)
def test_estimate_tokens(text, tokens):
    assert estimate_tokens(text) == tokens


# Properties.


@given(
    rows=st.integers(0, 20000),
    concurrency=st.integers(1, 64),
    shard_size=st.integers(1, 5000),
    parallel=st.integers(1, 50),
)
def test_time_matches_a_direct_simulation(rows, concurrency, shard_size, parallel):
    sizes = [min(shard_size, rows - start) for start in range(0, rows, shard_size)]
    waves = [sizes[i : i + parallel] for i in range(0, len(sizes), parallel)]
    expected = sum(max(math.ceil(s / concurrency) for s in wave) for wave in waves)
    estimate = run(rows, [model(latency_ms=1000.0)], concurrency, shard_size, parallel)
    assert estimate.seconds == pytest.approx(expected)


@given(rows=st.integers(0, 10000), more=st.integers(0, 10000))
def test_more_rows_never_take_less_time_or_cost(rows, more):
    small, large = run(rows, [model()]), run(rows + more, [model()])
    assert small.seconds <= large.seconds
    assert small.cost_usd <= large.cost_usd

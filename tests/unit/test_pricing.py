"""A candidate's price: published first, configured second; the cost of a call from it."""

from __future__ import annotations

import pytest

from shared.domain.pricing import Price

PUBLISHED = {"prompt_price_per_million": 0.5, "completion_price_per_million": 1.5}
CONFIGURED = {"pricing": {"prompt_per_million": 2.0, "completion_per_million": 4.0}}


def test_the_published_price_wins_over_the_configured_one() -> None:
    assert Price.of({"published": PUBLISHED, "config": CONFIGURED}) == Price(0.5, 1.5)
    assert Price.of({"config": CONFIGURED}) == Price(2.0, 4.0)
    assert Price.of({"published": None, "config": CONFIGURED}) == Price(2.0, 4.0)
    assert Price.of({"published": {}, "config": {"pricing": None}}) == Price(None, None)
    assert Price.of({}) == Price(None, None)
    # Each side falls back on its own.
    half = {"published": {"prompt_price_per_million": 0.5}, "config": CONFIGURED}
    assert Price.of(half) == Price(0.5, 4.0)
    other = {"published": {"completion_price_per_million": 1.5}, "config": CONFIGURED}
    assert Price.of(other) == Price(2.0, 1.5)


def test_a_call_costs_its_tokens_at_the_price_per_million() -> None:
    price = Price(2.0, 4.0)
    assert price.cost(1_000_000, 0) == 2.0  # exact: the divisor is a million, not about one
    assert price.cost(0, 1_000_000) == 4.0
    assert price.cost(300, 50) == pytest.approx((300 * 2.0 + 50 * 4.0) / 1e6)
    assert price.cost(300, None) == pytest.approx(300 * 2.0 / 1e6)  # no count: none generated
    assert price.cost(0, 0) == 0.0


def test_an_unknown_price_or_prompt_count_has_no_cost() -> None:
    assert Price(None, 4.0).cost(100, 10) is None
    assert Price(2.0, None).cost(100, 10) is None
    assert Price(2.0, 4.0).cost(None, 10) is None
    assert Price(0.0, 0.0).cost(100, 10) == 0.0  # free is a price

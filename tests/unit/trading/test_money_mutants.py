"""Exact cases for `trading/money.py` that mutation testing asked for (`python -m bench.mutation --module money`)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from gpt_trader.trading.money import ProductIncrements

D = Decimal


def whole_units(
    base_min: str = "1", base_max: str = "1000", quote_min: str = "0", quote_max: str = "1000000"
) -> ProductIncrements:
    """A grid of whole units priced in cents, so that costs can be worked out by hand."""
    return ProductIncrements("X-USD", D(1), D("0.01"), D("0.01"), D(base_min), D(base_max), D(quote_min), D(quote_max))


def test_size_bounds_may_be_equal_or_start_at_zero() -> None:
    assert whole_units(base_min="0").base_min_size == 0
    assert whole_units(base_min="5", base_max="5").base_max_size == 5
    assert whole_units(quote_min="0").quote_min_size == 0
    assert whole_units(quote_min="7", quote_max="7").quote_max_size == 7


def test_negative_or_inverted_quote_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match="quote_min_size <= quote_max_size"):
        whole_units(quote_min="10", quote_max="9")
    with pytest.raises(ValueError, match="quote_min_size <= quote_max_size"):
        whole_units(quote_min="-1")
    with pytest.raises(ValueError, match="base_min_size <= base_max_size"):
        whole_units(base_min="-1")


def test_a_budget_that_pays_exactly_for_a_size_buys_that_size() -> None:
    grid = whole_units()
    assert grid.buy_cost(D(3), D(10), D(0)) == D(30)
    assert grid.affordable_size(D(30), D(10), D(0)) == D(3)
    assert grid.affordable_size(D("29.99"), D(10), D(0)) == D(2)


def test_when_rounding_the_fee_up_overshoots_the_budget_one_unit_less_is_bought() -> None:
    grid = whole_units()
    rate = D("0.005")
    # 101 units at 1.00 cost 101 + 0.505 -> 0.51 fee = 101.51, though 101.505 / 1.005 is exactly 101 units.
    assert grid.buy_cost(D(101), D(1), rate) == D("101.51")
    assert grid.buy_cost(D(100), D(1), rate) == D("100.50")
    assert grid.affordable_size(D("101.505"), D(1), rate) == D(100)

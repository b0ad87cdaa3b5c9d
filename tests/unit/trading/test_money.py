from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpt_trader.trading.money import ProductIncrements, floor_to, is_multiple, round_to
from tests.unit.trading.conftest import COARSE, GRID

budgets = st.decimals(min_value="0", max_value="1000000", places=2)
prices = st.decimals(min_value="0.001", max_value="100000", places=3)
rates = st.sampled_from([Decimal(0), Decimal("0.0005"), Decimal("0.004"), Decimal("0.006"), Decimal("0.05")])


def test_rounding_works_on_increments_that_are_not_powers_of_ten() -> None:
    assert round_to(Decimal("1.12"), Decimal("0.05")) == Decimal("1.10")
    assert round_to(Decimal("1.125"), Decimal("0.05")) == Decimal("1.15")
    assert floor_to(Decimal("1.149"), Decimal("0.05")) == Decimal("1.10")
    assert is_multiple(Decimal("0.15"), Decimal("0.05"))
    assert not is_multiple(Decimal("0.151"), Decimal("0.05"))


def test_value_and_fee_round_half_up_to_the_quote_grid() -> None:
    value = GRID.value(Decimal("0.00012345"), Decimal("50000.01"))
    assert value == Decimal("6.17")  # 6.1725012345
    assert GRID.fee(value, Decimal("0.006")) == Decimal("0.04")  # 0.03702
    assert GRID.buy_cost(Decimal("0.00012345"), Decimal("50000.01"), Decimal("0.006")) == Decimal("6.21")


@settings(max_examples=200, deadline=None)
@given(budget=budgets, price=prices, rate=rates, coarse=st.booleans())
def test_affordable_size_fits_the_budget_and_sits_on_the_grid(
    budget: Decimal, price: Decimal, rate: Decimal, coarse: bool
) -> None:
    grid = COARSE if coarse else GRID
    size = grid.affordable_size(budget, price, rate)
    assert size >= 0
    assert is_multiple(size, grid.base_increment)
    assert grid.buy_cost(size, price, rate) <= budget
    # Nearly all of the budget is used: what is left buys at most one more increment, give or take rounding.
    left = budget - grid.buy_cost(size, price, rate)
    assert left <= grid.base_increment * price * (1 + rate) + 3 * grid.quote_increment


def test_a_grid_with_a_zero_increment_or_inverted_sizes_is_refused() -> None:
    with pytest.raises(ValueError, match="base_increment must be positive"):
        ProductIncrements("X-USD", Decimal(0), Decimal(1), Decimal(1), Decimal(0), Decimal(1), Decimal(0), Decimal(1))
    with pytest.raises(ValueError, match="base_min_size <= base_max_size"):
        ProductIncrements("X-USD", Decimal(1), Decimal(1), Decimal(1), Decimal(5), Decimal(1), Decimal(0), Decimal(1))

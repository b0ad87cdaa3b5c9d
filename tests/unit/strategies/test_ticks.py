"""Price increments: inference at import, the grid check, exact integer sums."""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_array_equal

from gpt_trader.market.bars import MAX_TICKS, Bars, infer_price_increment
from gpt_trader.market.granularity import Granularity
from gpt_trader.strategies.base import IndicatorCache
from gpt_trader.strategies.ticks import OffGridPrice, prefix_sum, price_ticks
from tests.support.synthetic_bars import off_grid_bars, tick_walk_bars


@pytest.mark.parametrize(
    ("prices", "tick"),
    [
        ([42007.13, 41985.5, 42006.72], 0.01),
        ([12.485, 18.549, 13.0], 0.001),
        ([0.846, 1.4601], 0.0001),
        ([100.0, 250.0, 3.0], 1.0),
        ([0.1 + 0.2, 0.7], 0.1),  # 0.30000000000000004 is 0.3 with float noise
        ([0.00001234, 0.00001301], 1e-8),
    ],
)
def test_infer_price_increment_finds_the_coarsest_decimal_grid(prices: list[float], tick: float) -> None:
    assert infer_price_increment(closes(prices)) == tick


@pytest.mark.parametrize(
    "prices",
    [
        [1 / 3, 2 / 3],
        [100.0, np.nan],
        [100.0, np.inf],
        [float(MAX_TICKS) * 10],
        [1e-13],
    ],
)
def test_infer_price_increment_is_none_without_a_usable_grid(prices: list[float]) -> None:
    assert infer_price_increment(closes(prices)) is None


@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.integers(-(10**8), 10**8), min_size=1, max_size=50),
    st.integers(0, 8),
)
def test_prices_printed_on_a_grid_convert_back_to_their_ticks(ticks: list[int], decimals: int) -> None:
    prices = np.round(np.array(ticks, dtype=np.int64) * 10.0**-decimals, decimals)
    bars = closes(prices.tolist())
    tick = infer_price_increment(bars)
    assert tick is not None and tick >= 10.0**-decimals - 1e-30
    converted = price_ticks(bars.with_price_increment(tick), IndicatorCache())
    assert converted is not None
    recovered = converted.close
    scale = round(tick / 10.0**-decimals)
    assert_array_equal(recovered * scale, np.array(ticks))


def test_prefix_sums_give_exact_window_sums() -> None:
    ticks = np.array([5, -2, 7, 7, 0, 3], dtype=np.int64)
    prefix = prefix_sum(ticks)
    assert prefix.tolist() == [0, 5, 3, 10, 17, 17, 20]
    assert prefix[5] - prefix[2] == ticks[2:5].sum()


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 20), st.integers(2, 40))
def test_integer_sma_comparison_agrees_with_exact_fractions(seed: int, fast: int, slow: int) -> None:
    bars = tick_walk_bars(120, seed=seed, tick=0.001, steps=(-1, 0, 0, 1))
    ticks = price_ticks(bars, IndicatorCache())
    assert ticks is not None
    prefix, closes = ticks.close_prefix, [Fraction(repr(float(c))) for c in bars.close]
    for i in range(max(fast, slow) - 1, len(bars)):
        exact = sum(closes[i - fast + 1 : i + 1]) / fast - sum(closes[i - slow + 1 : i + 1]) / slow
        end = prefix[i + 1]
        integer = (end - prefix[i + 1 - fast]) * slow - (end - prefix[i + 1 - slow]) * fast
        assert np.sign(integer) == (exact > 0) - (exact < 0)


def test_price_ticks_are_cached_and_absent_without_an_increment() -> None:
    cache = IndicatorCache()
    bars = tick_walk_bars(50, tick=0.0001)
    first = price_ticks(bars, cache)
    assert first is not None and first.tick == 0.0001
    assert price_ticks(bars, cache) is first and cache.hits == 1
    assert_array_equal(first.close, np.rint(bars.close / 0.0001))
    assert price_ticks(off_grid_bars(50), IndicatorCache()) is None
    # The grid is the increment the bars carry, whatever finer or coarser grid their prices happen to fit.
    assert price_ticks(bars.with_price_increment(None), IndicatorCache()) is None
    coarse = tick_walk_bars(50, tick=0.01)
    assert price_ticks(coarse.with_price_increment(0.0001), IndicatorCache()).tick == 0.0001


@pytest.mark.parametrize(
    ("column", "price", "what"),
    [("close", 100.005, "close 100.005"), ("high", np.nan, "high nan"), ("low", 1e12, "low 1000000000000.0")],
)
def test_a_price_off_the_increment_is_an_error_naming_its_bar(column: str, price: float, what: str) -> None:
    bars = tick_walk_bars(40, tick=0.01)
    values = getattr(bars, column).copy()
    values[23] = price
    broken = replace(bars, **{column: values})
    assert broken.first_off_grid() == (23, column)
    with pytest.raises(OffGridPrice, match=rf"TEST-USD: {what} of bar 23 \(2024-01-01T00:23:00Z\).*increment 0.01"):
        price_ticks(broken, IndicatorCache())


def closes(prices: list[float]) -> Bars:
    values = np.array(prices, dtype=np.float64)
    return Bars("TEST-USD", Granularity.ONE_MINUTE, np.arange(len(values)), values, values, values, values, values)

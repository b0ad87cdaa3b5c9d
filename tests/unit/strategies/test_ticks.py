"""Tick-grid inference and exact integer sums."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_array_equal

from gpt_trader.strategies.base import IndicatorCache
from gpt_trader.strategies.ticks import MAX_TICKS, infer_tick, prefix_sum, price_ticks, to_ticks
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
def test_infer_tick_finds_the_coarsest_decimal_grid(prices: list[float], tick: float) -> None:
    assert infer_tick(np.array(prices)) == tick


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
def test_infer_tick_is_zero_without_a_usable_grid(prices: list[float]) -> None:
    assert infer_tick(np.array(prices)) == 0.0


@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.integers(-(10**8), 10**8), min_size=1, max_size=50),
    st.integers(0, 8),
)
def test_prices_printed_on_a_grid_convert_back_to_their_ticks(ticks: list[int], decimals: int) -> None:
    prices = np.round(np.array(ticks, dtype=np.int64) * 10.0**-decimals, decimals)
    tick = infer_tick(prices)
    assert tick >= 10.0**-decimals - 1e-30
    recovered = to_ticks(prices, tick)
    scale = round(tick / 10.0**-decimals)
    assert_array_equal(recovered * scale, np.array(ticks))


def test_to_ticks_refuses_a_non_positive_tick() -> None:
    with pytest.raises(ValueError, match="tick"):
        to_ticks(np.array([1.0]), 0.0)


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


def test_price_ticks_are_cached_and_absent_off_the_grid() -> None:
    cache = IndicatorCache()
    bars = tick_walk_bars(50, tick=0.0001)
    first = price_ticks(bars, cache)
    assert first is not None and first.tick == 0.0001
    assert price_ticks(bars, cache) is first and cache.hits == 1
    assert_array_equal(first.close, np.rint(bars.close / 0.0001))
    assert price_ticks(off_grid_bars(50), IndicatorCache()) is None

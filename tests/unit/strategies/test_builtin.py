"""The built-in strategies against the slow reference, on tick-grid random walks full of exact ties."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_array_equal

from gpt_trader.market.bars import Bars
from gpt_trader.strategies import check_lookback
from gpt_trader.strategies.base import IndicatorCache
from gpt_trader.strategies.reference import reference_signals
from gpt_trader.strategies.registry import builtin_strategies, get_strategy
from tests.support.synthetic_bars import off_grid_bars, tick_walk_bars

CALM = tick_walk_bars(3_000, seed=7, steps=(-1, 0, 0, 0, 1))
"""Cents on a 100-dollar price moving a tick at most: SMAs tie on many bars."""
JUMPY = tick_walk_bars(3_000, seed=8, tick=0.001, start_ticks=20_000, steps=(-400, -30, 0, 0, 30, 400))
"""Big moves on a 0.001 grid: momentum and breakouts fire."""
FINE = tick_walk_bars(3_000, seed=9, tick=0.0001, start_ticks=9_000, steps=(-2, -1, 0, 0, 1, 2))

CASES: list[tuple[str, dict[str, Any]]] = [
    ("momentum", {}),
    ("momentum", {"lookback": 3, "threshold": 0.01}),
    ("momentum", {"lookback": 1, "threshold": 0.0}),
    ("mean_reversion", {}),
    ("mean_reversion", {"window": 5, "num_std": 1.0}),
    ("mean_reversion", {"window": 3, "num_std": 0.5}),
    ("mean_reversion", {"window": 12, "num_std": 1.5}),
    ("mean_reversion", {"window": 4, "num_std": 1.0}),
    ("mean_reversion", {"window": 5, "num_std": 2.0}),
    ("breakout", {}),
    ("breakout", {"window": 3}),
    ("ma_crossover", {}),
    ("ma_crossover", {"fast": 2, "slow": 4}),
    ("ma_crossover", {"fast": 3, "slow": 6}),
    ("ma_crossover", {"fast": 1, "slow": 2}),
    ("volatility", {}),
    ("volatility", {"atr_window": 3, "quantile_window": 10, "quantile": 0.5, "sma_window": 4}),
    ("volatility", {"atr_window": 1, "quantile_window": 5, "quantile": 0.0, "sma_window": 2}),
]


@pytest.mark.parametrize("bars", [CALM, JUMPY, FINE], ids=["calm-0.01", "jumpy-0.001", "fine-0.0001"])
@pytest.mark.parametrize(("name", "params"), CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)])
def test_numba_signals_equal_the_reference(bars: Bars, name: str, params: dict[str, Any]) -> None:
    strategy = get_strategy(name)
    signals = strategy.signals(bars, strategy.resolve(params), IndicatorCache())
    assert signals.dtype == np.int8 and len(signals) == len(bars)
    assert_array_equal(signals, reference_signals(name, bars, params))


@pytest.mark.parametrize("name", ["momentum", "mean_reversion", "breakout", "ma_crossover", "volatility"])
def test_every_strategy_fires_both_ways_on_some_data(name: str) -> None:
    strategy = get_strategy(name)
    fired = np.concatenate([strategy.signals(bars, strategy.defaults()) for bars in (CALM, JUMPY)])
    assert (fired == 1).any() and (fired == -1).any()


def tie_count(bars: Bars, fast: int, slow: int) -> int:
    """Bars where SMA(fast) equals SMA(slow) exactly (integer cents, cross-multiplied)."""
    cents = [round(price * 100) for price in bars.close.tolist()]
    return sum(
        sum(cents[i - fast + 1 : i + 1]) * slow == sum(cents[i - slow + 1 : i + 1]) * fast
        for i in range(slow - 1, len(cents))
    )


def test_the_calm_walk_is_full_of_exact_sma_ties_that_float_means_get_wrong() -> None:
    assert tie_count(CALM, 2, 4) > 200
    assert tie_count(CALM, 10, 30) > 20
    close = pd.Series(CALM.close)
    fast, slow = close.rolling(2).mean(), close.rolling(4).mean()
    float_crosses = ((fast.shift() < slow.shift()) & (fast > slow)).to_numpy()
    exact = get_strategy("ma_crossover").signals(CALM, {"fast": 2, "slow": 4}) == 1
    # The float rule sees crosses where the exact averages merely touch: the point of exactness.
    assert (float_crosses != exact).any()


def band_touches(bars: Bars, window: int, num_std: float) -> tuple[int, int]:
    """(bars whose close lies exactly on a band, bars whose window is flat), in integer cents."""
    cents = np.rint(bars.close * 100).astype(np.int64)
    touches = flat = 0
    for i in range(window - 1, len(cents)):
        values = cents[i - window + 1 : i + 1]
        total = int(values.sum())
        gap = total - window * int(cents[i])  # window·(mean − close)
        spread = window * int((values**2).sum()) - total**2  # window²·σ²
        touches += gap != 0 and gap * gap == num_std**2 * spread
        flat += spread == 0
    return touches, flat


def test_the_calm_walk_puts_closes_exactly_on_the_bands() -> None:
    assert band_touches(CALM, 20, 2.0)[0] >= 10  # the W1 defaults
    assert band_touches(CALM, 4, 1.0)[0] > 100
    touches, flat = band_touches(CALM, 5, 2.0)
    assert touches > 100 and flat > 100


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**31), st.integers(1, 12), st.integers(2, 30))
def test_crossover_equals_the_reference_on_any_walk(seed: int, fast: int, slow: int) -> None:
    if fast >= slow:
        fast, slow = slow - 1, fast + 1
    bars = tick_walk_bars(400, seed=seed, steps=(-1, 0, 0, 1))
    params = {"fast": fast, "slow": slow}
    expected = reference_signals("ma_crossover", bars, params)
    assert_array_equal(get_strategy("ma_crossover").signals(bars, params), expected)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**31), st.integers(2, 12), st.sampled_from([0.5, 1.0, 1.5, 2.0, 2.5]))
def test_mean_reversion_equals_the_reference_on_any_walk(seed: int, window: int, num_std: float) -> None:
    bars = tick_walk_bars(300, seed=seed, tick=0.001, steps=(-1, 0, 0, 1))
    params = {"window": window, "num_std": num_std}
    expected = reference_signals("mean_reversion", bars, params)
    assert_array_equal(get_strategy("mean_reversion").signals(bars, params), expected)


def test_mean_reversion_stays_exact_beside_a_window_too_wide_for_integer_sums() -> None:
    """A spike of 10**9 ticks makes the windows holding it too wide for int64 sums (they use float
    bands); every other window, before and after, is still decided exactly, bar for bar as the
    reference, and the trailing window agrees with the full history everywhere."""
    calm = tick_walk_bars(400, seed=5, tick=0.001, steps=(-1, 0, 0, 1))
    close = calm.close.copy()
    close[200:203] = 1_000_000.0
    spiked = replace(calm, close=close, high=np.maximum(calm.high, close))
    params = {"window": 12, "num_std": 1.5}
    strategy = get_strategy("mean_reversion")
    signals = strategy.signals(spiked, params)
    expected = reference_signals("mean_reversion", spiked, params)
    exact_bars = np.r_[11:200, 214:400]
    assert_array_equal(signals[exact_bars], expected[exact_bars])
    assert check_lookback(strategy, spiked, params).passed


def float_reference(name: str, bars: Bars, params: dict[str, Any]) -> np.ndarray:
    """The float rules in pandas, for prices on no grid (where ties have probability zero)."""
    close = pd.Series(bars.close)
    long = short = pd.Series(False, index=close.index)
    if name == "ma_crossover":
        fast, slow = close.rolling(params["fast"]).mean(), close.rolling(params["slow"]).mean()
        long = (fast.shift() < slow.shift()) & (fast > slow)
        short = (fast.shift() > slow.shift()) & (fast < slow)
    elif name == "mean_reversion":
        mean, std = close.rolling(params["window"]).mean(), close.rolling(params["window"]).std(ddof=0)
        long, short = close < mean - params["num_std"] * std, close > mean + params["num_std"] * std
    elif name == "volatility":
        high, low, previous = pd.Series(bars.high), pd.Series(bars.low), close.shift()
        ranges = pd.concat([high - low, (high - previous).abs(), (low - previous).abs()], axis=1)
        ranges = ranges.max(axis=1, skipna=False)
        atr = ranges.rolling(params["atr_window"]).mean()
        limit = atr.rolling(params["quantile_window"]).quantile(params["quantile"])
        sma = close.rolling(params["sma_window"]).mean()
        long, short = (close > sma) & (atr < limit), close < sma
    out = np.zeros(len(close), np.int8)
    out[short.to_numpy(dtype=bool)] = -1
    out[long.to_numpy(dtype=bool)] = 1
    return out


@pytest.mark.parametrize("name", ["ma_crossover", "mean_reversion", "volatility"])
def test_prices_off_any_grid_use_float_rules(name: str) -> None:
    bars = off_grid_bars(3_000, seed=4)
    strategy = get_strategy(name)
    params = strategy.defaults()
    signals = strategy.signals(bars, params)
    assert (signals != 0).any()
    assert_array_equal(signals, float_reference(name, bars, params))


@pytest.mark.parametrize("strategy", builtin_strategies(), ids=lambda s: s.name)
@pytest.mark.parametrize("count", [0, 1, 2, 5])
def test_fewer_bars_than_the_windows_give_holds(strategy: Any, count: int) -> None:
    signals = strategy.signals(CALM[:count], strategy.defaults())
    assert signals.dtype == np.int8 and signals.tolist() == [0] * count


def test_a_shared_cache_serves_a_sweep_and_changes_nothing() -> None:
    strategy, cache = get_strategy("volatility"), IndicatorCache()
    grid = [{"quantile": q, "sma_window": w} for q in (0.2, 0.3) for w in (5, 10, 20)]
    for point in grid:
        params = strategy.resolve(point)
        assert_array_equal(strategy.signals(JUMPY, params, cache), strategy.signals(JUMPY, params))
    assert cache.hits > cache.misses


def test_crossover_refuses_fast_not_below_slow() -> None:
    strategy = get_strategy("ma_crossover")
    with pytest.raises(ValueError, match="fast < slow, got fast=30 and slow=30"):
        strategy.resolve({"fast": 30, "slow": 30})
    with pytest.raises(ValueError, match="fast < slow"):
        strategy.signals(CALM, {"fast": 40, "slow": 30})


def test_parameters_are_checked_against_their_ranges() -> None:
    strategy = get_strategy("volatility")
    with pytest.raises(ValueError, match=r"quantile=1.5 is outside its range 0.0..1.0"):
        strategy.resolve({"quantile": 1.5})
    with pytest.raises(ValueError, match="has no parameter 'windw'"):
        get_strategy("breakout").resolve({"windw": 3})


def test_w1_defaults_are_the_documented_ones() -> None:
    defaults = {strategy.name: strategy.defaults() for strategy in builtin_strategies()}
    assert defaults == {
        "momentum": {"lookback": 10, "threshold": 0.05},
        "mean_reversion": {"window": 20, "num_std": 2.0},
        "breakout": {"window": 20},
        "ma_crossover": {"fast": 10, "slow": 30},
        "volatility": {"atr_window": 14, "quantile_window": 100, "quantile": 0.3, "sma_window": 10},
    }


@pytest.mark.parametrize("seed", range(4))
def test_mean_reversion_in_floats_decides_each_window_alone(seed: int) -> None:
    """Cents without a price increment: bands at an exact decimal tie are float noise, but the same
    noise from a trailing window as from the full history (running sums re-centred on a schedule of
    absolute bar numbers gave other bits, and another signal, at a few bars of each of these walks)."""
    bars = tick_walk_bars(3_000, seed=30 + seed, steps=(-1, 0, 0, 0, 1)).with_price_increment(None)
    report = check_lookback(get_strategy("mean_reversion"), bars, {"window": 4, "num_std": 1.0})
    assert report.passed, report.summary()

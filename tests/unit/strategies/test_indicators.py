"""Each indicator against a plain pandas (or NumPy) computation of its definition."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal

from gpt_trader.strategies import indicators as ind

SERIES = st.lists(st.floats(-1e6, 1e6, allow_nan=False, allow_subnormal=False), min_size=1, max_size=80)


def walk(count: int = 3_000, seed: int = 0, level: float = 40_000.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return level + np.cumsum(rng.normal(0, level * 1e-3, count))


def with_gaps(values: np.ndarray, seed: int = 1) -> np.ndarray:
    """A copy with a few isolated NaNs and one NaN run, as a chained indicator's output may have."""
    holed = values.copy()
    rng = np.random.default_rng(seed)
    holed[rng.choice(len(values), 5, replace=False)] = np.nan
    holed[500:530] = np.nan
    return holed


def seeded_ewm(values: pd.Series, window: int, alpha: float, first: int) -> pd.Series:
    """pandas' recursive EWM started at index `first + window - 1` from the SMA of the first values."""
    seeded = values.copy()
    seed_at = first + window - 1
    seed = values.iloc[first : seed_at + 1].mean()
    seeded.iloc[: seed_at + 1] = np.nan
    seeded.iloc[seed_at] = seed
    return seeded.ewm(alpha=alpha, adjust=False).mean()


@pytest.mark.parametrize("window", [1, 2, 20, 200])
def test_sma_matches_pandas_rolling_mean(window: int) -> None:
    values = with_gaps(walk())
    assert_allclose(ind.sma(values, window), pd.Series(values).rolling(window).mean(), rtol=1e-12)


def two_pass_std(values: np.ndarray, window: int) -> np.ndarray:
    """np.std of each window (mean first, then squared deviations): the accurate textbook computation."""
    out = np.full(len(values), np.nan)
    if len(values) >= window:
        out[window - 1 :] = np.std(np.lib.stride_tricks.sliding_window_view(values, window), axis=1)
    return out


@pytest.mark.parametrize("window", [1, 2, 20, 200])
def test_rolling_std_matches_the_two_pass_population_std(window: int) -> None:
    values = with_gaps(walk())
    result = ind.rolling_std(values, window)
    assert_allclose(result, two_pass_std(values, window), rtol=1e-9, atol=1e-11)
    # pandas' one-pass update drifts by up to ~1e-6 here; within that it agrees too.
    assert_allclose(result, pd.Series(values).rolling(window).std(ddof=0), rtol=1e-4, atol=1e-5)


def test_flat_windows_give_the_value_itself_and_zero_deviation() -> None:
    values = np.array([0.1, 0.2, 0.3] + [0.7] * 10 + [1.1] + [0.3] * 5)
    averages, deviations = ind.sma(values, 5), ind.rolling_std(values, 5)
    for i in [*range(7, 13), 18]:
        assert averages[i] == values[i]
        assert deviations[i] == 0.0


def test_bollinger_bands_are_the_mean_plus_minus_k_deviations() -> None:
    values = walk(500)
    middle, upper, lower = ind.bollinger(values, 20, 2.5)
    series = pd.Series(values).rolling(20)
    assert_allclose(middle, series.mean(), rtol=1e-12)
    assert_allclose(upper, series.mean() + 2.5 * series.std(ddof=0), rtol=1e-9)
    assert_allclose(lower, series.mean() - 2.5 * series.std(ddof=0), rtol=1e-9)


@pytest.mark.parametrize("window", [1, 3, 30])
def test_ema_is_seeded_with_the_sma_then_recursive(window: int) -> None:
    values = walk(1_000)
    expected = seeded_ewm(pd.Series(values), window, 2 / (window + 1), 0)
    result = ind.ema(values, window)
    assert np.isnan(result[: window - 1]).all()
    assert result[window - 1] == pytest.approx(values[:window].mean(), rel=1e-14)
    assert_allclose(result, expected, rtol=1e-10)


def test_smoothing_starts_after_a_leading_warm_up_and_restarts_after_a_gap() -> None:
    values = walk(300)
    chained = np.concatenate([np.full(7, np.nan), values])
    assert_array_equal(ind.ema(chained, 10)[7:], ind.ema(values, 10))
    gapped = np.concatenate([values[:100], [np.nan], values[100:]])
    assert_array_equal(ind.wilder(gapped, 10)[101:], ind.wilder(values[100:], 10))


@pytest.mark.parametrize("window", [2, 14])
def test_rsi_uses_wilder_smoothing_of_gains_and_losses(window: int) -> None:
    close = pd.Series(walk(1_000))
    change = close.diff()
    gains = seeded_ewm(change.clip(lower=0), window, 1 / window, 1)
    losses = seeded_ewm(-change.clip(upper=0), window, 1 / window, 1)
    expected = 100 * gains / (gains + losses)
    result = ind.rsi(close.to_numpy(), window)
    assert np.isnan(result[:window]).all()
    assert_allclose(result, expected, rtol=1e-9)
    assert ((result[window:] >= 0) & (result[window:] <= 100)).all()


def test_rsi_of_a_flat_series_is_neutral_and_of_a_rising_one_is_100() -> None:
    assert_array_equal(ind.rsi(np.full(20, 5.0), 5)[5:], 50.0)
    assert_array_equal(ind.rsi(np.arange(20.0), 5)[5:], 100.0)


def ohlc(count: int = 2_000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    close = walk(count, seed=3)
    high = close + rng.uniform(0, 50, count)
    low = close - rng.uniform(0, 50, count)
    return high, low, close


def test_true_range_is_undefined_on_the_first_bar() -> None:
    high, low, close = ohlc()
    previous = pd.Series(close).shift()
    expected = pd.concat(
        [pd.Series(high - low), (pd.Series(high) - previous).abs(), (pd.Series(low) - previous).abs()], axis=1
    ).max(axis=1, skipna=False)
    assert_array_equal(ind.true_range(high, low, close), expected)


@pytest.mark.parametrize("window", [1, 14])
def test_atr_simple_and_wilder(window: int) -> None:
    high, low, close = ohlc()
    ranges = pd.Series(ind.true_range(high, low, close))
    assert_allclose(ind.atr(high, low, close, window), ranges.rolling(window).mean(), rtol=1e-12)
    wilder = seeded_ewm(ranges, window, 1 / window, 1)
    assert_allclose(ind.atr(high, low, close, window, True), wilder, rtol=1e-10)


@pytest.mark.parametrize("window", [1, 5, 100])
def test_rolling_extremes_match_pandas_including_the_window_before(window: int) -> None:
    values = pd.Series(with_gaps(walk()))
    assert_array_equal(ind.rolling_max(values.to_numpy(), window), values.rolling(window).max())
    assert_array_equal(ind.rolling_min(values.to_numpy(), window), values.rolling(window).min())
    before = values.shift(1).rolling(window)
    assert_array_equal(ind.rolling_max(values.to_numpy(), window, True), before.max())
    assert_array_equal(ind.rolling_min(values.to_numpy(), window, True), before.min())


@pytest.mark.parametrize(("window", "quantile"), [(1, 0.5), (10, 0.0), (100, 0.3), (100, 1.0), (7, 0.55)])
def test_rolling_quantile_matches_pandas_to_the_bit(window: int, quantile: float) -> None:
    values = with_gaps(np.round(walk(), 0))  # rounding makes many equal values, as ATRs on a grid have
    expected = pd.Series(values).rolling(window).quantile(quantile)
    assert_array_equal(ind.rolling_quantile(values, window, quantile), expected)


def test_rolling_quantile_agrees_with_numpy_linear_interpolation() -> None:
    values = walk(600)
    windows = np.lib.stride_tricks.sliding_window_view(values, 100)
    expected = np.quantile(windows, 0.3, axis=1)
    assert_allclose(ind.rolling_quantile(values, 100, 0.3)[99:], expected, rtol=1e-14)


def test_rolling_quantile_rejects_a_quantile_outside_0_1() -> None:
    with pytest.raises(ValueError, match="quantile"):
        ind.rolling_quantile(walk(10), 3, 1.5)


@pytest.mark.parametrize("indicator", [ind.sma, ind.rolling_std, ind.ema, ind.rsi, ind.roc, ind.rolling_max])
def test_windows_below_one_bar_are_refused(indicator: object) -> None:
    with pytest.raises(ValueError, match="window"):
        indicator(walk(10), 0)  # type: ignore[operator]


def test_roc_matches_pandas_pct_change_to_the_bit() -> None:
    values = walk()
    assert_array_equal(ind.roc(values, 10), pd.Series(values).pct_change(10))


def test_crossover_and_crossunder_are_strict() -> None:
    fast = np.array([1.0, 3.0, 2.0, 2.0, 3.0, 1.0, np.nan, 3.0])
    slow = np.full(8, 2.0)
    # 1 -> 3 crosses above; 2 -> 2 -> 3 touches first, so no cross; 3 -> 1 crosses below.
    assert ind.crossover(fast, slow).tolist() == [False, True, False, False, False, False, False, False]
    assert ind.crossunder(fast, slow).tolist() == [False, False, False, False, False, True, False, False]
    a, b = pd.Series(walk(500, seed=5)), pd.Series(walk(500, seed=6))
    expected = (a.shift() < b.shift()) & (a > b)
    assert_array_equal(ind.crossover(a.to_numpy(), b.to_numpy()), expected)


@settings(max_examples=60, deadline=None)
@given(SERIES, st.integers(1, 30))
def test_window_indicators_match_pandas_on_any_series(values: list[float], window: int) -> None:
    array = np.array(values)
    series = pd.Series(array).rolling(window)
    scale = max(1.0, float(np.abs(array).max()))
    assert_allclose(ind.sma(array, window), series.mean(), rtol=1e-9, atol=1e-9 * scale)
    assert_allclose(ind.rolling_std(array, window), two_pass_std(array, window), rtol=1e-7, atol=1e-7 * scale)
    assert_array_equal(ind.rolling_max(array, window), series.max())
    assert_array_equal(ind.rolling_min(array, window), series.min())


@settings(max_examples=60, deadline=None)
@given(SERIES, st.integers(1, 30), st.floats(0, 1))
def test_rolling_quantile_matches_pandas_on_any_series(values: list[float], window: int, q: float) -> None:
    array = np.array(values)
    assert_array_equal(ind.rolling_quantile(array, window, q), pd.Series(array).rolling(window).quantile(q))


@settings(max_examples=60, deadline=None)
@given(SERIES, st.integers(1, 30), st.integers(0, 40))
def test_mean_and_std_of_a_window_are_its_own_to_the_bit(values: list[float], window: int, cut: int) -> None:
    """A trailing slice gives the same bits as the full history: nothing earlier leaks in by rounding."""
    array = np.array(values)
    full_mean, full_std = ind.rolling_mean_std(array, window)
    tail = array[min(cut, len(array)) :]
    mean, std = ind.rolling_mean_std(tail, window)
    offset = len(array) - len(tail)
    assert_array_equal(mean[window - 1 :], full_mean[offset + window - 1 :])
    assert_array_equal(std[window - 1 :], full_std[offset + window - 1 :])

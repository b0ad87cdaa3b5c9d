"""Causality: appending any bar (on or off the grid, any size) never changes an earlier signal of a built-in,
and the trailing `lookback` bars give the full history's signal at every bar.

With a price increment, a bar off it is an OffGridPrice naming that very bar (strategies that compare
prices in ticks cannot take it); without one, prices are floats from the first bar to the last.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from numpy.testing import assert_array_equal

from gpt_trader.market.bars import MAX_TICKS, Bars
from gpt_trader.strategies import check_lookback, get_strategy
from gpt_trader.strategies.ticks import OffGridPrice
from tests.support.synthetic_bars import tick_walk_bars

CASES: list[tuple[str, dict[str, Any]]] = [
    ("momentum", {}),
    ("momentum", {"lookback": 2, "threshold": 0.0}),
    ("mean_reversion", {}),
    ("mean_reversion", {"window": 3, "num_std": 0.5}),
    ("mean_reversion", {"window": 7, "num_std": 1.0}),
    ("breakout", {}),
    ("breakout", {"window": 2}),
    ("ma_crossover", {}),
    ("ma_crossover", {"fast": 1, "slow": 3}),
    ("volatility", {}),
    ("volatility", {"atr_window": 2, "quantile_window": 6, "quantile": 0.5, "sma_window": 3}),
]
TICKS = (1.0, 0.01, 0.001, 0.0001, 1e-8)

any_price = st.floats(allow_nan=True, allow_infinity=True)
"""Every float: huge, tiny, negative, zero, NaN and infinities."""


@st.composite
def on_grid_price(draw: st.DrawFn, tick: float) -> float:
    decimals = round(-np.log10(tick))
    return round(draw(st.integers(0, MAX_TICKS)) * tick, decimals)


@st.composite
def series_and_bar(draw: st.DrawFn) -> tuple[Bars, list[float]]:
    tick = draw(st.sampled_from(TICKS))
    series = tick_walk_bars(
        draw(st.integers(1, 260)),
        tick=tick,
        start_ticks=draw(st.integers(1_000, 10**8)),
        seed=draw(st.integers(0, 2**16)),
        steps=draw(st.sampled_from([(-1, 0, 0, 1), (-400, -30, 0, 0, 30, 400), (-(10**6), 0, 10**6)])),
    )
    price = st.one_of(on_grid_price(tick), any_price)
    return series, [draw(price) for _ in range(4)]


def with_bar(bars: Bars, prices: list[float]) -> Bars:
    """`bars` and one more bar: open and close from `prices`, high and low their extremes."""
    open_, close = prices[0], prices[-1]
    high, low = max(prices), min(prices)

    def longer(values: np.ndarray, value: float) -> np.ndarray:
        return np.concatenate([values, np.array([value], dtype=values.dtype)])

    return Bars(
        bars.product_id,
        bars.granularity,
        longer(bars.time, bars.time[-1] + bars.granularity.seconds),
        longer(bars.open, open_),
        longer(bars.high, high),
        longer(bars.low, low),
        longer(bars.close, close),
        longer(bars.volume, abs(close) if np.isfinite(close) else 1.0),
        price_increment=bars.price_increment,
    )


@settings(max_examples=150, deadline=None)
@given(series_and_bar(), st.sampled_from(CASES), st.booleans())
def test_appending_any_bar_never_changes_an_earlier_signal(
    drawn: tuple[Bars, list[float]], case: tuple[str, dict[str, Any]], floats: bool
) -> None:
    series, prices = drawn
    if floats:
        series = series.with_price_increment(None)
    longer = with_bar(series, prices)
    name, params = case
    strategy = get_strategy(name)
    resolved = strategy.resolve(params)
    before = strategy.signals(series, resolved)
    try:
        after = strategy.signals(longer, resolved)
    except OffGridPrice as error:
        # Only the appended bar can be off the increment, and the error names it.
        assert not floats and longer.first_off_grid() is not None
        assert longer.first_off_grid()[0] == len(series)
        assert f"of bar {len(series)} " in str(error)
        return
    assert_array_equal(after[:-1], before, err_msg=f"{name}{params} after appending {prices}")


@settings(max_examples=60, deadline=None)
@given(series_and_bar(), st.sampled_from(CASES), st.booleans())
def test_the_trailing_lookback_window_gives_the_full_history_signal_on_every_bar(
    drawn: tuple[Bars, list[float]], case: tuple[str, dict[str, Any]], floats: bool
) -> None:
    series, _ = drawn
    if floats:
        series = series.with_price_increment(None)
    name, params = case
    assume(len(series) >= 2)
    report = check_lookback(get_strategy(name), series, params)
    assert report.passed, report.summary()

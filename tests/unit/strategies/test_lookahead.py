"""The look-ahead and lookback checks, on every bar: built-ins pass, cheaters and short memories are caught."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pytest

from gpt_trader.errors import UserError
from gpt_trader.market.bars import Bars
from gpt_trader.strategies import (
    IndicatorCache,
    Param,
    Params,
    Strategy,
    check_lookahead,
    check_lookback,
    checked_signals,
    trailing_signal,
)
from gpt_trader.strategies.indicators import sma
from gpt_trader.strategies.registry import builtin_strategies
from tests.support.synthetic_bars import tick_walk_bars

BARS = tick_walk_bars(1_500, seed=11, tick=0.001, start_ticks=20_000, steps=(-300, -20, -1, 0, 1, 20, 300))
SMALL_WINDOWS: dict[str, dict[str, Any]] = {
    "momentum": {"lookback": 3, "threshold": 0.01},
    "mean_reversion": {"window": 5, "num_std": 1.0},
    "breakout": {"window": 4},
    "ma_crossover": {"fast": 2, "slow": 5},
    "volatility": {"atr_window": 3, "quantile_window": 8, "quantile": 0.4, "sma_window": 4},
}


@pytest.mark.parametrize("strategy", builtin_strategies(), ids=lambda s: s.name)
@pytest.mark.parametrize("small", [False, True], ids=["defaults", "small-windows"])
def test_every_builtin_is_causal_and_its_lookback_suffices(strategy: Strategy, small: bool) -> None:
    params = SMALL_WINDOWS[strategy.name] if small else None
    assert (strategy.signals(BARS, strategy.resolve(params)) != 0).any()
    ahead = check_lookahead(strategy, BARS, params)
    assert ahead.passed, ahead.summary()
    behind = check_lookback(strategy, BARS, params)
    assert behind.passed, behind.summary()


@pytest.mark.parametrize("strategy", builtin_strategies(), ids=lambda s: s.name)
def test_every_builtin_lookback_is_tight(strategy: Strategy) -> None:
    """One bar less than `lookback` changes some signal: the declared history is all needed."""

    class OneBarShort(type(strategy)):  # type: ignore[misc]
        def lookback(self, params: Params) -> int:
            return int(super().lookback(params)) - 1

    params = SMALL_WINDOWS[strategy.name]
    assert check_lookback(strategy, BARS, params).passed
    assert not check_lookback(OneBarShort(), BARS, params).passed


class PeeksAhead(Strategy):
    """Buys when the *next* close is higher: profitable in a backtest, impossible to trade."""

    name = "peeks_ahead"
    params: ClassVar[dict[str, Param]] = {}

    def lookback(self, params: Params) -> int:
        return 1

    def signals(self, bars: Bars, params: Params, cache: IndicatorCache | None = None) -> np.ndarray:
        out = np.zeros(len(bars), np.int8)
        out[:-1] = np.sign(bars.close[1:] - bars.close[:-1])
        return out


class CentredAverage(Strategy):
    """Compares the close with a centred moving average, a subtler way to read the future."""

    name = "centred"
    params: ClassVar[dict[str, Param]] = {"window": Param(9, 3, 51)}

    def lookback(self, params: Params) -> int:
        return int(params["window"])

    def signals(self, bars: Bars, params: Params, cache: IndicatorCache | None = None) -> np.ndarray:
        window = int(params["window"])
        centred = np.roll(sma(bars.close, window), -(window // 2))
        return np.sign(bars.close - np.nan_to_num(centred, nan=np.inf)).astype(np.int8)


@pytest.mark.parametrize("cheat", [PeeksAhead(), CentredAverage()], ids=lambda s: s.name)
def test_strategies_reading_later_bars_are_caught(cheat: Strategy) -> None:
    report = check_lookahead(cheat, BARS)
    assert not report.passed
    bar = report.first_mismatch
    assert bar is not None
    full = cheat.signals(BARS, cheat.defaults())
    assert report.full_signal == full[bar] != report.truncated_signal
    assert report.mismatch_time == int(BARS.time[bar])
    assert f"FAILED at bar {bar}" in report.summary() and "reads later bars" in report.summary()


def test_the_report_names_the_earliest_bar_that_changed() -> None:
    report = check_lookahead(PeeksAhead(), BARS)
    full = PeeksAhead().signals(BARS, {})
    # Hiding everything after bar t changes the signal of bar t itself (it read bar t + 1): the first
    # bar with a non-zero signal is the first one reported.
    assert report.first_mismatch == int(np.flatnonzero(full)[0])


class PeeksOnce(Strategy):
    """Causal except at one bar, where it reads the next close: only a check of every bar sees it."""

    name = "peeks_once"
    params: ClassVar[dict[str, Param]] = {"at": Param(1_234, 0, 10**6)}

    def lookback(self, params: Params) -> int:
        return 1

    def signals(self, bars: Bars, params: Params, cache: IndicatorCache | None = None) -> np.ndarray:
        out = np.zeros(len(bars), np.int8)
        at = int(params["at"])
        if at + 1 < len(bars):
            out[at] = 1 if bars.close[at + 1] >= bars.close[at] else -1
        return out


def test_one_peek_in_fifteen_hundred_bars_is_caught_by_both_checks() -> None:
    ahead, behind = check_lookahead(PeeksOnce(), BARS), check_lookback(PeeksOnce(), BARS)
    assert (ahead.first_mismatch, behind.first_mismatch) == (1_234, 1_234)
    assert "reads later bars" in ahead.summary() and "lookback() is shorter" in behind.summary()


class ShortMemory(Strategy):
    """Uses a 20-bar SMA but claims to need only 5 bars."""

    name = "short_memory"
    params: ClassVar[dict[str, Param]] = {}

    def lookback(self, params: Params) -> int:
        return 5

    def signals(self, bars: Bars, params: Params, cache: IndicatorCache | None = None) -> np.ndarray:
        return np.sign(bars.close - np.nan_to_num(sma(bars.close, 20), nan=np.inf)).astype(np.int8)


def test_a_lookback_shorter_than_the_signal_memory_is_caught() -> None:
    assert check_lookahead(ShortMemory(), BARS).passed
    report = check_lookback(ShortMemory(), BARS)
    assert not report.passed
    assert "lookback() is shorter" in report.summary()


def test_the_passing_summary_says_what_was_checked() -> None:
    strategy = builtin_strategies()[0]
    summary = check_lookahead(strategy, BARS).summary()
    assert summary == f"momentum(lookback=10, threshold=0.05): lookahead check passed (every one of {len(BARS)} bars)"


def test_checks_need_two_bars() -> None:
    with pytest.raises(UserError, match="at least 2 bars, got 1"):
        check_lookahead(PeeksAhead(), BARS[:1])


class Broken(Strategy):
    name = "broken"
    params: ClassVar[dict[str, Param]] = {}

    def __init__(self, output: Any) -> None:
        self.output = output

    def lookback(self, params: Params) -> int:
        return 1

    def signals(self, bars: Bars, params: Params, cache: IndicatorCache | None = None) -> np.ndarray:
        return self.output


@pytest.mark.parametrize(
    ("output", "message"),
    [
        (np.zeros(3, np.int8), r"expected 10 signals \(one per bar\), got shape \(3,\)"),
        (np.full(10, 2, np.int8), "signal 2 at bar 0; signals must be -1, 0 or 1"),
        (np.full(10, 0.5), "signals must be integers -1, 0 or 1, got dtype float64"),
        ([0] * 10, "must be a 1-D NumPy array, got list"),
    ],
)
def test_signals_breaking_the_contract_are_named(output: Any, message: str) -> None:
    with pytest.raises(UserError, match=message):
        checked_signals(Broken(output), BARS[:10], {})


def test_other_dtypes_with_valid_values_become_int8() -> None:
    signals = checked_signals(Broken(np.array([1, 0, -1] * 3 + [0])), BARS[:10], {})
    assert signals.dtype == np.int8 and signals[:3].tolist() == [1, 0, -1]


@pytest.mark.parametrize("strategy", builtin_strategies(), ids=lambda s: s.name)
def test_the_engines_trailing_signal_on_a_growing_buffer_is_the_backtests(strategy: Strategy) -> None:
    params = strategy.resolve(SMALL_WINDOWS[strategy.name])
    full = strategy.signals(BARS, params)
    assert [trailing_signal(strategy, BARS[: end + 1], params) for end in range(len(BARS))] == full.tolist()


def test_trailing_signal_names_what_it_cannot_work_with() -> None:
    with pytest.raises(UserError, match="peeks_ahead: no bars to compute a signal from"):
        trailing_signal(PeeksAhead(), BARS[:0], {})

    class NoMemory(PeeksAhead):
        def lookback(self, params: Params) -> int:
            return 0

    with pytest.raises(UserError, match=r"lookback\(\) must be at least 1 bar, got 0"):
        trailing_signal(NoMemory(), BARS, {})
    with pytest.raises(UserError, match=r"lookback\(\) must be at least 1 bar, got 0"):
        check_lookahead(NoMemory(), BARS)

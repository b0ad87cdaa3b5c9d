"""The signal tape (signals computed once over a replay's history) equals evaluating each closed bar's
trailing window through the engine's bar buffer, for every built-in, on every bar."""

from __future__ import annotations

from decimal import Decimal

import pytest

from gpt_trader.market.bars import Bars
from gpt_trader.market.buffer import BarBuffer
from gpt_trader.market.events import BarClosed
from gpt_trader.strategies import get_strategy, trailing_signal
from gpt_trader.strategies.builtin import BUILTIN_NAMES
from gpt_trader.trading.instance import InstanceSpec
from gpt_trader.trading.tape import SignalTape
from tests.support.synthetic_bars import off_grid_bars, tick_walk_bars

SMALL_WINDOWS = {
    "ma_crossover": {"fast": 3, "slow": 9},
    "momentum": {"lookback": 4, "threshold": 0.0005},
    "mean_reversion": {"window": 8, "num_std": 1.0},
    "breakout": {"window": 6},
    "volatility": {"atr_window": 5, "quantile_window": 30, "quantile": 0.4, "sma_window": 4},
}


STEPS = (-60, -20, -2, -1, 0, 0, 0, 1, 2, 20, 60)
"""Ticks per bar: mostly still (ties), sometimes large (so every built-in's threshold is crossed)."""


def walk() -> Bars:
    return tick_walk_bars(1_500, seed=7, steps=STEPS, start_ticks=4_000, product_id="BTC-USD")


def bar_by_bar(name: str, params: dict[str, object], bars_increment: float | None) -> list[int]:
    bars = walk()
    strategy = get_strategy(name)
    resolved = strategy.resolve(params)
    buffer = BarBuffer("BTC-USD", bars.granularity, price_increment=bars_increment)
    signals = []
    for row in range(len(bars)):
        buffer.append(BarClosed("BTC-USD", 60, int(bars.time[row]), float(bars.open[row]), float(bars.high[row]),
                                float(bars.low[row]), float(bars.close[row]), float(bars.volume[row])))  # fmt: skip
        signals.append(trailing_signal(strategy, buffer.view(strategy.lookback(resolved)), resolved))
    return signals


@pytest.mark.parametrize("name", BUILTIN_NAMES)
@pytest.mark.parametrize("small", [False, True], ids=["defaults", "small windows"])
@pytest.mark.parametrize("increment", [0.01, None], ids=["exact ticks", "floats"])
def test_the_tape_is_bar_by_bar_evaluation(name: str, small: bool, increment: float | None) -> None:
    params = SMALL_WINDOWS[name] if small else {}
    bars = walk()
    spec = InstanceSpec(name, params, "BTC-USD", "a", Decimal(1))
    tape = SignalTape.record([spec], {"BTC-USD": bars}, {"BTC-USD": increment})
    recorded = tape.signals_of("a")
    assert recorded is not None
    expected = bar_by_bar(name, params, increment)
    assert recorded.tolist() == expected
    assert sum(1 for signal in expected if signal) > 3, "a tape of holds proves little"


def test_a_strategy_that_cannot_run_over_the_history_gets_no_tape() -> None:
    bars = off_grid_bars(200)
    spec = InstanceSpec("ma_crossover", {}, bars.product_id, "a", Decimal(1))
    tape = SignalTape.record([spec], {bars.product_id: bars}, {bars.product_id: 0.01})
    assert tape.signals_of("a") is None
    assert tape.times_of(bars.product_id) is not None

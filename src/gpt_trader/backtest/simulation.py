"""Simulation results for people: run the kernel on Bars and read equity, trades and metrics.

`run_simulation` is one full backtest (per-bar equity, trade records); `summarize` only its metric
vector, the sweep's call. Both wrap `backtest.kernel`, which does the work.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from gpt_trader.backtest.kernel import (
    TR_ENTRY_BAR,
    TR_ENTRY_PRICE,
    TR_EXIT_BAR,
    TR_EXIT_PRICE,
    TR_EXIT_REASON,
    TR_FEES,
    TR_PNL,
    TR_RETURN,
    TR_SIDE,
    TR_UNITS,
    simulate,
    summarize_into,
)
from gpt_trader.backtest.metrics import N_METRICS, Metrics
from gpt_trader.backtest.settings import SimulationSettings
from gpt_trader.market.bars import Bars
from gpt_trader.strategies.base import valid_signals
from gpt_trader.trading.rules import EXIT_REASONS

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True, eq=False)
class SimulationResult:
    """One backtest's outputs: per-bar equity, cash and units, the trade rows and the metrics."""

    bars: Bars
    settings: SimulationSettings
    equity: np.ndarray
    cash: np.ndarray
    units: np.ndarray
    trade_rows: np.ndarray
    metrics: Metrics

    @property
    def final_equity(self) -> float:
        return float(self.equity[-1])

    @property
    def n_trades(self) -> int:
        """Entries, an open position at the end included."""
        return len(self.trade_rows)

    @property
    def fees(self) -> float:
        return self.metrics.fees

    def equity_curve(self) -> pd.Series:
        """Equity at each bar's close, indexed by the bar's UTC open time."""
        import pandas as pd

        index = pd.DatetimeIndex(pd.to_datetime(self.bars.time, unit="s", utc=True), name="time")
        return pd.Series(self.equity, index=index, name="equity")

    def trades(self) -> pd.DataFrame:
        """One row per entry: bars and times, side, units, fill prices, fees, pnl, return, exit reason.

        A position open at the end has exit reason "open": its exit is the mark at the last bar.
        """
        import pandas as pd

        rows = self.trade_rows
        entry_bar = rows[:, TR_ENTRY_BAR].astype(np.int64)
        exit_bar = rows[:, TR_EXIT_BAR].astype(np.int64)
        return pd.DataFrame(
            {
                "entry_bar": entry_bar,
                "exit_bar": exit_bar,
                "entry_time": pd.to_datetime(self.bars.time[entry_bar], unit="s", utc=True),
                "exit_time": pd.to_datetime(self.bars.time[exit_bar], unit="s", utc=True),
                "side": np.where(rows[:, TR_SIDE] > 0, "long", "short"),
                "units": rows[:, TR_UNITS],
                "entry_price": rows[:, TR_ENTRY_PRICE],
                "exit_price": rows[:, TR_EXIT_PRICE],
                "fees": rows[:, TR_FEES],
                "pnl": rows[:, TR_PNL],
                "return": rows[:, TR_RETURN],
                "exit_reason": [EXIT_REASONS[int(code)] for code in rows[:, TR_EXIT_REASON]],
            }
        )


def run_simulation(
    bars: Bars, signals: np.ndarray, settings: SimulationSettings | None = None
) -> SimulationResult:
    """Simulate `signals` (one int8 per bar: LONG, SHORT, HOLD) on `bars` under `settings` (defaults)."""
    settings = settings or SimulationSettings()
    equity, cash, units, rows, metrics = simulate(
        bars.open, bars.high, bars.low, bars.close, bars.time, _signals(bars, signals),
        settings.kernel_params(), float(bars.granularity.seconds),
    )
    return SimulationResult(bars, settings, equity, cash, units, rows, Metrics.from_array(metrics))


def summarize(bars: Bars, signals: np.ndarray, settings: SimulationSettings | None = None) -> np.ndarray:
    """The metric vector (slots named by `METRIC_NAMES`; `Metrics.from_array` reads it) of one backtest.

    Same numbers as `run_simulation(...).metrics`, without per-bar arrays or trade rows: the sweep's call.
    A hot loop may call `summarize_into` directly with `settings.kernel_params()` computed once.
    """
    settings = settings or SimulationSettings()
    out = np.empty(N_METRICS)
    summarize_into(
        out, bars.open, bars.high, bars.low, bars.close, bars.time, _signals(bars, signals),
        settings.kernel_params(), float(bars.granularity.seconds),
    )
    return out


def _signals(bars: Bars, signals: np.ndarray) -> np.ndarray:
    if len(bars) == 0:
        raise ValueError(f"{bars.product_id}: no bars to simulate")
    return valid_signals(signals, len(bars), bars.product_id)

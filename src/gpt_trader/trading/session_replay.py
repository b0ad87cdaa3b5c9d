"""Paper accounts on replayed candles: the session's trader when the feed is a replay of stored bars.

On a replay every account trades bars the session already holds, so the exact fills are the backtest
kernel's (the engine's bar fill model is held equal to it by the parity tests). `advance` re-simulates an
account from its first bar, with the bars before it as the strategy's history, up to the end of a step, and
writes what that step added to the trading record: the round trips it closed, an equity snapshot per
`SNAPSHOT_SECONDS` of market time and at the step's end, and where the position stands. Every write is
idempotent in the store (a round trip is unique per account and exit time; a snapshot per account and time;
the position state per account), so a step replayed after a crash writes nothing twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal

import numpy as np

from gpt_trader.backtest.settings import SimulationSettings
from gpt_trader.backtest.simulation import SimulationResult, run_simulation
from gpt_trader.market.bars import Bars
from gpt_trader.store.writer import StoreWriter
from gpt_trader.strategies.base import checked_signals
from gpt_trader.strategies.registry import get_strategy
from gpt_trader.trading.rules import EXIT_REASONS
from gpt_trader.trading.session_file import Candidate

SNAPSHOT_SECONDS = 3600
_CENT = Decimal("0.01")
_UNIT = Decimal("0.00000001")


def market_time(seconds: int | float) -> datetime:
    return datetime.fromtimestamp(int(seconds), UTC)


class ReplayTrader:
    """Trades paper accounts over `bars` (by product) under `settings`, writing through `writer`."""

    def __init__(self, bars: Mapping[str, Bars], settings: SimulationSettings, writer: StoreWriter) -> None:
        self.bars = bars
        self.settings = settings
        self.writer = writer

    def simulate(self, candidate: Candidate, started: int, until: int) -> SimulationResult | None:
        """The account's record from open time `started` to `until` (exclusive); None before its first bar."""
        strategy = get_strategy(candidate.strategy)
        bars = self.bars[candidate.product_id].slice(None, until)
        first = int(np.searchsorted(bars.time, started))
        if first >= len(bars):
            return None
        signals = checked_signals(strategy, bars, strategy.resolve(candidate.params))[first:]
        return run_simulation(bars[first:], signals, self.settings)

    def advance(self, account_id: int, candidate: Candidate, started: int, since: int, until: int) -> None:
        """Write what the account did in market time [since, until), having traded since `started`."""
        result = self.simulate(candidate, started, until)
        if result is None:
            return
        bars = result.bars
        closes = bars.time + bars.granularity.seconds
        trades = result.trades()
        for trade in trades.itertuples(index=False):
            # A round trip belongs to the step in which its exit bar opened.
            if trade.exit_reason == EXIT_REASONS[-1] or int(trade.exit_time.timestamp()) < since:
                continue
            self.writer.add_round_trip(
                account_id,
                product_id=candidate.product_id,
                side="BUY" if trade.side == "long" else "SELL",
                units=_units(trade.units),
                entry_time=trade.entry_time.to_pydatetime(),
                entry_price=_price(trade.entry_price),
                exit_time=trade.exit_time.to_pydatetime(),
                exit_price=_price(trade.exit_price),
                fees=_cash(trade.fees),
                pnl=_cash(trade.pnl),
                exit_reason=trade.exit_reason,
            )
        in_step = (closes > since) & (closes <= until)
        snapshot = in_step & ((closes % SNAPSHOT_SECONDS == 0) | (np.arange(len(bars)) == len(bars) - 1))
        for index in np.flatnonzero(snapshot):
            units = float(result.units[index])
            cash = _cash(result.cash[index])
            self.writer.add_equity_snapshot(
                account_id,
                cash=cash,
                position_value=_cash(result.equity[index]) - cash,
                units=_units(units),
                time=market_time(closes[index]),
            )
        last = len(bars) - 1
        open_trade = trades.iloc[-1] if len(trades) and trades.iloc[-1]["exit_reason"] == EXIT_REASONS[-1] else None
        self.writer.save_position_state(
            account_id,
            product_id=candidate.product_id,
            units=_units(float(result.units[last])),
            entry_price=None if open_trade is None else _price(open_trade["entry_price"]),
            entry_time=None if open_trade is None else open_trade["entry_time"].to_pydatetime(),
            last_bar_time=market_time(bars.time[last]),
            time=market_time(closes[last]),
        )


def _cash(value: float) -> Decimal:
    return Decimal(repr(float(value))).quantize(_CENT)


def _units(value: float) -> Decimal:
    return Decimal(repr(float(value))).quantize(_UNIT)


def _price(value: float) -> Decimal:
    return Decimal(repr(float(value)))

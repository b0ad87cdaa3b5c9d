"""A signal tape: each instance's signals over a replayed history, computed once with the strategy's own code.

Evaluating `Strategy.signals` on the trailing window of every closed bar costs tens of microseconds per
instance-bar; a replay knows its whole history up front, so it may compute the signals once over all of it
instead (what the backtest does) and read them bar by bar. The two agree because every strategy's signal
at a bar depends only on the bars up to it (the contract `check_lookback` enforces); a test holds the tape
equal to bar-by-bar evaluation for every built-in. A strategy that raises while the tape is computed gets
no tape: the engine evaluates it bar by bar, so it fails at the bar where it fails.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

import numpy as np

from gpt_trader.market.bars import Bars
from gpt_trader.strategies import checked_signals
from gpt_trader.trading.instance import InstanceSpec, resolve_strategy


class SignalTape:
    """Signals by account name, and the bar open times they belong to by product."""

    def __init__(self) -> None:
        self._signals: dict[str, np.ndarray] = {}
        self._times: dict[str, np.ndarray] = {}

    @classmethod
    def record(
        cls, specs: Sequence[InstanceSpec], history: Mapping[str, Bars], increments: Mapping[str, float | None]
    ) -> SignalTape:
        """The tape of every instance of `specs` over its product's `history`, its bars on `increments`' grid."""
        tape = cls()
        on_grid = {
            product_id: replace(bars, price_increment=increments.get(product_id, bars.price_increment))
            for product_id, bars in history.items()
        }
        for product_id, bars in on_grid.items():
            tape._times[product_id] = bars.time
        for spec in specs:
            replayed = on_grid.get(spec.product_id)
            if replayed is None or len(replayed) == 0:
                continue
            strategy, params, _ = resolve_strategy(spec)
            try:
                signals = checked_signals(strategy, replayed, params)
            except Exception:  # evaluated bar by bar instead, where the error is recorded
                continue
            tape._signals[spec.account] = signals
        return tape

    def signals_of(self, account: str) -> np.ndarray | None:
        return self._signals.get(account)

    def times_of(self, product_id: str) -> np.ndarray | None:
        return self._times.get(product_id)

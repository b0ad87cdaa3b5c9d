"""A strategy file whose signal is always long, and minutes of BTC-USD to trade it on: shared by the engine's
ledger and close-out tests."""

from __future__ import annotations

from gpt_trader.market.bars import Bars
from tests.support.synthetic_bars import tick_walk_bars

ALWAYS_LONG = """\
import numpy as np
from gpt_trader.strategies import Strategy


class AlwaysLong(Strategy):
    name = "always_long"

    def lookback(self, params):
        return 1

    def signals(self, bars, params, cache=None):
        return np.ones(len(bars), dtype=np.int8)
"""


def walk(count: int = 500) -> Bars:
    """Minutes of BTC-USD at about $20,000 that move up to 0.3 % a bar (through stop levels a few
    tenths of a percent away)."""
    steps = (-6000, -2000, -200, -100, 0, 0, 100, 200, 2000, 6000)
    return tick_walk_bars(count, seed=11, start_ticks=2_000_000, steps=steps, product_id="BTC-USD")

"""An RSI strategy written the way a user writes one, in a file of its own.

Nothing needs installing: wherever a strategy is asked for, give the file as
`docs/examples/rsi_strategy.py` (or `docs/examples/rsi_strategy.py:RsiReversal`), or from Python:

    from gpt_trader.strategies import check_lookahead, load_strategy_file
    [strategy] = load_strategy_file("docs/examples/rsi_strategy.py")

A strategy file defines one or more subclasses of `Strategy`: a `name`, its tunable `params` (default
and the range a sweep may explore), how many bars its signal depends on (`lookback`), and `signals`,
one int8 per bar: LONG (+1) to buy, SHORT (-1) to sell, HOLD (0) to do nothing. The signal at bar i
may read bars 0..i only, and the trailing `lookback` bars must give the same signal as the whole
history (paper trading evaluates just those): `check_lookahead` and `check_lookback` verify both on
every bar.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from gpt_trader.market.bars import Bars
from gpt_trader.strategies import HOLD, LONG, SHORT, IndicatorCache, Param, Params, Strategy, indicator_cache
from gpt_trader.strategies.indicators import rsi


class RsiReversal(Strategy):
    """Buy when RSI drops below `oversold`, sell when it climbs above `overbought`."""

    name = "rsi_reversal"
    description = "Buy oversold (low RSI), sell overbought (high RSI)."
    params: ClassVar[dict[str, Param]] = {
        "window": Param(14, 2, 200, "RSI period (Wilder smoothing)"),
        "oversold": Param(30.0, 1.0, 50.0, "buy below this RSI"),
        "overbought": Param(70.0, 50.0, 99.0, "sell above this RSI"),
    }

    def validate(self, params: Params) -> None:
        if params["oversold"] >= params["overbought"]:
            raise ValueError("oversold must be below overbought")

    def lookback(self, params: Params) -> int:
        # Wilder smoothing never forgets: after n bars the start still weighs (1 - 1/window)**n. After
        # ten periods that is e**-10, enough to move an RSI sitting next to a threshold across it; after
        # fifty it is e**-50 ~ 2e-22, below float64 resolution, and the RSI comes out to the bit.
        return 50 * int(params["window"])

    def signals(self, bars: Bars, params: Params, cache: IndicatorCache | None = None) -> np.ndarray:
        window = int(params["window"])
        cache = indicator_cache(bars, cache)
        # A sweep over oversold/overbought computes the RSI once per window and shares it.
        strength = cache.get(("rsi", window), lambda: rsi(bars.close, window))
        out = np.full(len(bars), HOLD, dtype=np.int8)
        out[strength < params["oversold"]] = LONG
        out[strength > params["overbought"]] = SHORT
        return out

"""Candles replayed as market events, as fast as the CPU allows: the engine's simulation feed.

For each bar, at its end (`start + granularity`), the replay yields a `Quote` derived from the bar and
then the bar's `BarClosed`; the bars of several products interleave by end time (then in the order
the products were given), so the engine sees history as a live feed would have shown it.

The spread rule: bid = close × (1 − h) and ask = close × (1 + h), with h = `half_spread_bps` / 10 000,
each written as the shortest decimal that reads back as the same float, so a fill at the quote is
priced exactly as the backtest prices a fill at the bar's close with the same half spread. Both sides
show the bar's volume as their size: what traded in the bar. The half spread must be positive, since
a zero spread would be a locked quote, which no venue shows and the paper broker refuses.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from decimal import Decimal

import numpy as np

from gpt_trader.market.bars import Bars
from gpt_trader.market.events import BarClosed, MarketEvent, Quote

DEFAULT_HALF_SPREAD_BPS = 1.0
_BPS = 1e-4


class CandleReplay:
    """`bars` (one product's, or several products') replayed as Quote + BarClosed per bar."""

    def __init__(self, bars: Bars | Sequence[Bars], *, half_spread_bps: float = DEFAULT_HALF_SPREAD_BPS) -> None:
        self.bars = [bars] if isinstance(bars, Bars) else list(bars)
        if not 0.0 < half_spread_bps < 10_000.0:
            raise ValueError(
                f"the replay's half spread must be above 0 and below 10000 basis points, not {half_spread_bps}; "
                "a zero spread would make every quote locked (bid equal to ask)"
            )
        self.half_spread_bps = half_spread_bps
        self.market_time = 0.0
        """The end of the bar being replayed (Unix seconds): the clock of everything driven by the replay."""

    def clock(self) -> float:
        return self.market_time

    def quote(self, bars: Bars, row: int) -> Quote:
        """The quote the spread rule derives from bar `row` of `bars`."""
        close = float(bars.close[row])
        half = self.half_spread_bps * _BPS
        size = Decimal(repr(float(bars.volume[row])))
        end = float(bars.time[row] + bars.granularity.seconds)
        return Quote(
            bars.product_id, end, Decimal(repr(close * (1.0 - half))), Decimal(repr(close * (1.0 + half))), size, size
        )

    def __iter__(self) -> Iterator[MarketEvent]:
        """Every event in market-time order."""
        ends = [bars.time + bars.granularity.seconds for bars in self.bars]
        owner = np.concatenate([np.full(len(bars), index, dtype=np.int64) for index, bars in enumerate(self.bars)])
        rows = np.concatenate([np.arange(len(bars), dtype=np.int64) for bars in self.bars])
        order = np.argsort(np.concatenate(ends), kind="stable") if len(rows) else rows
        for index, row in zip(owner[order].tolist(), rows[order].tolist(), strict=True):
            bars = self.bars[index]
            quote = self.quote(bars, row)
            self.market_time = quote.time
            yield quote
            yield BarClosed(
                bars.product_id, bars.granularity.seconds, int(bars.time[row]), float(bars.open[row]),
                float(bars.high[row]), float(bars.low[row]), float(bars.close[row]), float(bars.volume[row]),
                synthetic=bool(bars.synthetic[row]) if bars.synthetic is not None else False,
            )

    async def events(self) -> AsyncIterator[MarketEvent]:
        """The same events as an async iterator, the form every feed of the engine takes."""
        for event in self:
            yield event

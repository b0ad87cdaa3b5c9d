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

from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from decimal import Decimal
from operator import attrgetter

import numpy as np

from gpt_trader.market.bars import Bars
from gpt_trader.market.events import BarClosed, MarketEvent, Quote

DEFAULT_HALF_SPREAD_BPS = 1.0
_BPS = 1e-4
_PRICE_COLUMNS = ("open", "high", "low", "close", "volume")
_CHUNK = 8192
"""Bars whose columns are converted to Python values at a time: vectorised, in bounded memory."""


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

    def __iter__(self) -> Iterator[MarketEvent]:
        """Every event in market-time order."""
        columns = self._columns()
        for first in range(0, len(columns[0]), _CHUNK):
            yield from self._events(*(column[first : first + _CHUNK].tolist() for column in columns))

    def _columns(self) -> list[np.ndarray]:
        """Every product's bars laid end to end in market-time order, column by column as `_events` takes
        them, with the quote prices of the spread rule computed for all bars at once."""

        def joined(values: Callable[[Bars], np.ndarray]) -> np.ndarray:
            return np.concatenate([values(bars) for bars in self.bars])

        product = joined(lambda bars: np.full(len(bars), bars.product_id, dtype=object))
        seconds = joined(lambda bars: np.full(len(bars), bars.granularity.seconds, dtype=np.int64))
        start = joined(lambda bars: bars.time)
        open_, high, low, close, volume = (joined(attrgetter(name)) for name in _PRICE_COLUMNS)
        synthetic = joined(lambda bars: np.zeros(len(bars), np.bool_) if bars.synthetic is None else bars.synthetic)
        end = start + seconds
        half = self.half_spread_bps * _BPS
        columns = [product, seconds, start, end.astype(np.float64), open_, high, low, close, volume,
                   close * (1.0 - half), close * (1.0 + half), synthetic]  # fmt: skip
        order = np.argsort(end, kind="stable")
        return [column[order] for column in columns]

    def _events(
        self, product_ids: list[str], seconds: list[int], starts: list[int], ends: list[float], opens: list[float],
        highs: list[float], lows: list[float], closes: list[float], volumes: list[float], bids: list[float],
        asks: list[float], synthetic: list[bool],
    ) -> Iterator[MarketEvent]:  # fmt: skip
        for product_id, granularity, start, end, open_, high, low, close, volume, bid, ask, invented in zip(
            product_ids, seconds, starts, ends, opens, highs, lows, closes, volumes, bids, asks, synthetic, strict=True
        ):
            self.market_time = end
            size = Decimal(repr(volume))
            yield Quote(product_id, end, Decimal(repr(bid)), Decimal(repr(ask)), size, size)
            yield BarClosed(product_id, granularity, start, open_, high, low, close, volume, synthetic=invented)

    async def events(self) -> AsyncIterator[MarketEvent]:
        """The same events as an async iterator, the form every feed of the engine takes."""
        for event in self:
            yield event

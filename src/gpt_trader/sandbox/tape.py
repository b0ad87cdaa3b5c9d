"""One product's replay: the bar being replayed, its trades so far, the quote, the book and the candles.

`ProductTape` is the state `MarketReplay` keeps per product, and the market's vocabulary (`Quote`,
`Trade`, `BookChange`, `Candle` and the events) lives here with it. Prices and sizes are kept as whole
numbers of the product's increments (as `ticks` makes them) and become exact Decimals on the way out.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import NamedTuple

import numpy as np

from gpt_trader.market.bars import Bars
from gpt_trader.sandbox.ticks import (
    MAKER_SELL,
    BarTicks,
    TickGrid,
    bar_ticks,
    book_sides,
    level_step,
    product_key,
)

CANDLE_SECONDS = 300
"""The WebSocket `candles` channel carries five-minute candles only."""
DAY = 86_400
YEAR = 365 * DAY
RECENT_TRADES = 1_000
LEVEL_CACHE = 20_000
"""Book levels a tape keeps made (see `ProductTape.level`)."""


@dataclass(frozen=True, slots=True)
class Quote:
    """The best bid and ask (with their sizes) and the last trade price, at market time `time` (Unix s)."""

    bid: Decimal
    ask: Decimal
    bid_size: Decimal
    ask_size: Decimal
    last: Decimal
    time: float


@dataclass(frozen=True, slots=True)
class Trade:
    """One trade; `side` is the maker's side (`BUY` or `SELL`), as Coinbase reports it."""

    product_id: str
    trade_id: int
    price: Decimal
    size: Decimal
    side: str
    time: float


@dataclass(frozen=True, slots=True)
class BookChange:
    """A level-2 change: the new size at a price (`0` removes the level); `side` is `bid` or `offer`."""

    side: str
    price: Decimal
    size: Decimal


@dataclass(frozen=True, slots=True)
class Candle:
    product_id: str
    start: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal


@dataclass(frozen=True, slots=True)
class MarketTick:
    """A trade, the quote right after it, and the book levels that changed with it."""

    product_id: str
    trade: Trade
    quote: Quote
    book_changes: tuple[BookChange, ...]


@dataclass(frozen=True, slots=True)
class CandleUpdate:
    """The forming (or just closed) five-minute candle of a product."""

    candle: Candle


MarketEvent = MarketTick | CandleUpdate
Emit = Callable[[MarketEvent], None]


class CandleTable(NamedTuple):
    """Candles as columns, newest first; `start` is each bucket's open time (Unix seconds)."""

    start: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray


@dataclass(frozen=True)
class DayStats:
    """Rolling statistics for the ticker: the last 24 hours and 52 weeks of market time."""

    open_24h: float
    high_24h: float
    low_24h: float
    volume_24h: float
    high_52w: float
    low_52w: float


@dataclass(frozen=True)
class TapeSettings:
    seed: int
    trades_per_bar: int
    depth: int
    spread_bps: float
    depth_bps: float


class ProductTape:
    """One product's replay state: the bar being replayed, its trades so far, quote, book, candles."""

    def __init__(self, product_id: str, bars: Bars, grid: TickGrid, settings: TapeSettings) -> None:
        self.product_id = product_id
        self.bars = bars
        self.grid = grid
        self.settings = settings
        self.seconds = bars.granularity.seconds
        self._key = product_key(product_id)
        traded = bars.volume[bars.volume > 0]
        self._median_volume = float(np.median(traded)) if len(traded) else 0.0
        self._typical_level = self._median_volume / grid.base_float / settings.trades_per_bar * 3
        self._volume_sums = np.concatenate([[0.0], np.cumsum(bars.volume)])
        self.index = -1
        self._ticks = BarTicks.empty()
        self._next = 0
        self._trade_id = 0
        self.trades: deque[Trade] = deque(maxlen=RECENT_TRADES)
        self.quote: Quote | None = None
        self.bids: dict[int, int] = {}
        self.asks: dict[int, int] = {}
        self._bar: list[int] | None = None  # the bar being replayed so far: open, high, low, close, volume
        self._candle: list[int] | None = None  # the forming 5-minute candle: start, open, high, low, close, volume
        self.candle_dirty = False
        self.candle_sent_at = -math.inf
        self._year_extremes: tuple[int, float, float] = (-1, math.nan, math.nan)
        self._levels: dict[tuple[str, int, int], BookChange] = {}

    # -- replay ------------------------------------------------------------------------------------

    def warm_up(self, start: int) -> None:
        """Silently replay up to `start`: recent trades from the previous bar, the current bar so far,
        and the five-minute candle forming at `start` (its earlier bars taken whole)."""
        current = int(np.searchsorted(self.bars.time, start, side="right")) - 1
        if current < 0:
            return
        if current > 0:
            self._load(current - 1)
            self.advance(float(self.bars.time[current]) - 1e-9, None)
        self._load(current)
        bucket = start // CANDLE_SECONDS * CANDLE_SECONDS
        earlier = self.bars.slice(bucket, int(self.bars.time[current]))
        if len(earlier):
            ohlc = np.array([earlier.open[0], earlier.high.max(), earlier.low.min(), earlier.close[-1]])
            prices = np.rint(ohlc / self.grid.price_float).astype(np.int64).tolist()
            self._candle = [bucket, *prices, int(earlier.volume.sum() / self.grid.base_float + 1e-9)]
        self.advance(float(start), None)
        self.candle_dirty = False

    def advance(self, now: float, emit: Emit | None) -> int:
        """Replay the trades up to market time `now`, calling `emit` with each event (None: silently)."""
        replayed = 0
        bars = self.bars
        while True:
            if self._next >= len(self._ticks):
                following = self.index + 1
                if following >= len(bars) or bars.time[following] > now:
                    return replayed
                self._load(following)
                continue
            when = float(bars.time[self.index]) + float(self._ticks.offset[self._next])
            if when > now:
                return replayed
            self._apply(self._next, when, emit)
            self._next += 1
            replayed += 1

    def next_time(self) -> float:
        """The market time of the next trade to replay, or no later (the next bar's open); inf at the end."""
        if self._next < len(self._ticks):
            return float(self.bars.time[self.index]) + float(self._ticks.offset[self._next])
        following = self.index + 1
        return float(self.bars.time[following]) if following < len(self.bars) else math.inf

    def _load(self, index: int) -> None:
        bars = self.bars
        self.index = index
        self._next = 0
        self._bar = None
        volume = float(bars.volume[index])
        wanted = 0
        if volume > 0 and self._median_volume > 0:
            scale = math.sqrt(volume / self._median_volume)
            wanted = int(np.clip(round(self.settings.trades_per_bar * scale), 1, 4 * self.settings.trades_per_bar))
        rng = np.random.default_rng([self.settings.seed, self._key, int(bars.time[index])])
        ohlcv = (
            float(bars.open[index]),
            float(bars.high[index]),
            float(bars.low[index]),
            float(bars.close[index]),
            volume,
        )
        self._ticks = bar_ticks(ohlcv, self.seconds, self.grid, rng, wanted, self.settings.spread_bps)

    def _apply(self, i: int, when: float, emit: Emit | None) -> None:
        ticks = self._ticks
        price, size = int(ticks.price[i]), int(ticks.size[i])
        self._bar = _merged(self._bar, price, size)
        bucket = int(when) // CANDLE_SECONDS * CANDLE_SECONDS
        if self._candle is not None and self._candle[0] != bucket:
            if self.candle_dirty and emit is not None:
                closed = self.forming_candle()
                if closed is not None:
                    emit(CandleUpdate(closed))
            self._candle = None
        self._candle = [bucket, *_merged(self._candle[1:] if self._candle else None, price, size)]
        self.candle_dirty = True

        self._trade_id += 1
        side = "SELL" if ticks.maker_side[i] == MAKER_SELL else "BUY"
        trade = Trade(self.product_id, self._trade_id, self.price(price), self.size(size), side, when)
        self.trades.append(trade)
        changes = self._move_book(int(ticks.bid[i]), int(ticks.ask[i]))
        bid, ask = int(ticks.bid[i]), int(ticks.ask[i])
        self.quote = Quote(
            self.price(bid), self.price(ask), self.size(self.bids[bid]), self.size(self.asks[ask]), trade.price, when
        )
        if emit is not None:
            emit(MarketTick(self.product_id, trade, self.quote, changes))

    def _move_book(self, bid: int, ask: int) -> tuple[BookChange, ...]:
        """Rebuild the book around the new quote; the changed levels, removed ones with size 0."""
        depth = self.settings.depth
        step = level_step(bid, self.settings.depth_bps)
        bid_prices, bid_sizes, ask_prices, ask_sizes = book_sides(
            bid, ask, depth, step, self._typical_level, self._key
        )
        new_bids = dict(zip(bid_prices.tolist(), bid_sizes.tolist(), strict=True))
        new_asks = dict(zip(ask_prices.tolist(), ask_sizes.tolist(), strict=True))
        changes = [*self._diff("bid", self.bids, new_bids), *self._diff("offer", self.asks, new_asks)]
        self.bids, self.asks = new_bids, new_asks
        return tuple(changes)

    def _diff(self, side: str, old: dict[int, int], new: dict[int, int]) -> list[BookChange]:
        changed = [self.level(side, p, s) for p, s in new.items() if old.get(p) != s]
        return changed + [self.level(side, p, 0) for p in old if p not in new]

    # -- values ------------------------------------------------------------------------------------

    def price(self, increments: int) -> Decimal:
        return Decimal(increments) * self.grid.price

    def size(self, increments: int) -> Decimal:
        return Decimal(increments) * self.grid.base

    def level(self, side: str, price: int, size: int) -> BookChange:
        # A level's size depends only on its price, so the same few hundred levels recur as the quote wanders:
        # making each once saves most of the replay's time (two Decimals and a frozen object per change).
        key = (side, price, size)
        level = self._levels.get(key)
        if level is None:
            if len(self._levels) >= LEVEL_CACHE:
                self._levels.clear()
            level = self._levels[key] = BookChange(side, self.price(price), self.size(size))
        return level

    def forming_candle(self) -> Candle | None:
        if self._candle is None:
            return None
        start, open_, high, low, close, volume = self._candle
        return Candle(
            self.product_id,
            start,
            self.price(open_),
            self.price(high),
            self.price(low),
            self.price(close),
            self.size(volume),
        )

    def candles(self, seconds: int, start: int, end: int, now: float) -> CandleTable:
        if seconds % self.seconds:
            raise ValueError(
                f"{self.product_id} is replayed from {self.seconds} s bars; candles of {seconds} s cannot be "
                f"made from them (use a multiple of {self.seconds} s)"
            )
        bars = self.bars
        first = -(-start // seconds) * seconds
        last = -(-end // seconds) * seconds
        lo = int(np.searchsorted(bars.time, first))
        hi = int(np.searchsorted(bars.time, last))
        # Bars over by `now` come whole from the data; the one being replayed, as traded so far.
        closed = min(hi, int(np.searchsorted(bars.time, now - self.seconds, side="right")))
        columns = [getattr(bars, name)[lo:closed] for name in ("time", "open", "high", "low", "close", "volume")]
        if self._bar is not None and max(lo, closed) <= self.index < hi:
            step, base = self.grid.price_float, self.grid.base_float
            row = [bars.time[self.index], *(p * step for p in self._bar[:4]), self._bar[4] * base]
            columns = [np.append(column, value) for column, value in zip(columns, row, strict=True)]
        times = columns[0].astype(np.int64)
        if len(times) == 0:
            empty = np.zeros(0)
            return CandleTable(times, empty, empty, empty, empty, empty)
        bucket = times // seconds * seconds
        starts = np.flatnonzero(np.r_[True, bucket[1:] != bucket[:-1]])
        ends = np.r_[starts[1:], len(times)] - 1
        table = CandleTable(
            bucket[starts],
            columns[1][starts],
            np.maximum.reduceat(columns[2], starts),
            np.minimum.reduceat(columns[3], starts),
            columns[4][ends],
            np.add.reduceat(columns[5], starts),
        )
        keep = (table.start >= start) & (table.start < end)
        return CandleTable(*(column[keep][::-1] for column in table))

    def stats(self, now: float) -> DayStats | None:
        """24-hour and 52-week figures of closed bars plus the bar being replayed."""
        if self.quote is None:
            return None
        bars = self.bars
        lo = int(np.searchsorted(bars.time, now - DAY))
        hi = self.index  # bars before the one being replayed are closed
        step, base = self.grid.price_float, self.grid.base_float
        forming = self._bar
        highs = [float(bars.high[lo:hi].max())] if hi > lo else []
        lows = [float(bars.low[lo:hi].min())] if hi > lo else []
        volume = float(self._volume_sums[hi] - self._volume_sums[min(lo, hi)])
        if forming is not None:
            highs.append(forming[1] * step)
            lows.append(forming[2] * step)
            volume += forming[4] * base
        last = float(self.quote.last)
        open_24h = float(bars.open[lo]) if hi > lo else (forming[0] * step if forming else last)
        high_52w, low_52w = self._year(now)
        high_24h, low_24h = max(highs, default=last), min(lows, default=last)
        return DayStats(open_24h, high_24h, low_24h, volume, max(high_52w, high_24h), min(low_52w, low_24h))

    def _year(self, now: float) -> tuple[float, float]:
        """High and low of the closed bars in the 52 weeks before the current market day (cached per day)."""
        day = int(now) // DAY
        cached_day, high, low = self._year_extremes
        if cached_day != day:
            bars = self.bars
            lo = int(np.searchsorted(bars.time, day * DAY - YEAR))
            hi = int(np.searchsorted(bars.time, day * DAY))
            high = float(bars.high[lo:hi].max()) if hi > lo else -math.inf
            low = float(bars.low[lo:hi].min()) if hi > lo else math.inf
            self._year_extremes = (day, high, low)
        return high, low


def _merged(candle: list[int] | None, price: int, size: int) -> list[int]:
    """An [open, high, low, close, volume] candle (None: none yet) after one more trade."""
    if candle is None:
        return [price, price, price, price, size]
    return [candle[0], max(candle[1], price), min(candle[2], price), price, candle[4] + size]

"""`MarketReplay`: candles replayed as a live market — trades, quotes, a level-2 book, forming candles.

Market time runs `speed` times faster than the wall clock from `start`:
`market_time = start + (clock() - t0) * speed`, less what was held back while the pace was below one
(the WebSocket hub slows the clock when its clients cannot take more; see `pacing`). Each call to
`step()` (the server calls it every few milliseconds) replays every trade up to the market time
reached, product by product (each product's `tape.ProductTape`), and hands each subscriber a
`MarketTick` per trade (the trade, the quote after it and the book levels it changed) and a
`CandleUpdate` for the forming five-minute candle at most once a wall-clock second per product (and
once more when a bucket closes). The trades inside a bar come from `ticks.bar_ticks`, seeded by
(seed, product, bar time), so a replay is the same whenever and however fast it runs.

Everything that reads the market (REST, WebSocket, the matching engine) reads this object, on the
event loop's thread, so one consistent market time holds for all of them.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import NamedTuple

import numpy as np

from gpt_trader.market.bars import Bars
from gpt_trader.sandbox.catalog import decimal_text as plain_decimal_text
from gpt_trader.sandbox.tape import (
    CANDLE_SECONDS,
    BookChange,
    Candle,
    CandleTable,
    CandleUpdate,
    DayStats,
    Emit,
    MarketEvent,
    MarketTick,
    ProductTape,
    Quote,
    TapeSettings,
    Trade,
)
from gpt_trader.sandbox.ticks import TickGrid

log = logging.getLogger(__name__)
pace_log = logging.getLogger(f"{__name__}.pace")
"""Where the market says, every `REPORT_EVERY` seconds, that it runs slower than asked."""

SPEED_SAMPLES = 6
"""Once-a-second (wall time, market time) samples the effective speed is measured over."""
SLICE = 1.0
"""A step on a budget replays a market second at a time (or up to the next trade), checking the budget
between: a few trades per slice however fast the market runs."""
SLOWED = 0.95
"""The share of `speed` below which the market counts as slowed."""
REPORT_EVERY = 10.0
"""Wall seconds between two warnings that the market is slowed."""

__all__ = [
    "CANDLE_SECONDS",
    "BookChange",
    "Candle",
    "CandleTable",
    "CandleUpdate",
    "DayStats",
    "MarketEvent",
    "MarketReplay",
    "MarketTick",
    "Quote",
    "TickGrid",
    "Trade",
    "decimal_text",
    "infer_grid",
    "rfc3339",
]


class _SpeedSample(NamedTuple):
    """Wall time, market time and the market seconds held back so far by the clients and by the replay."""

    wall: float
    market: float
    by_clients: float
    by_replay: float


class MarketReplay:
    """Replays `bars_by_product` as a market; see the module doc.

    `grids` gives each product's price and size increments (default: inferred from the data, see
    `infer_grid`); `trades_per_bar` is the typical number of trades in a bar of median volume;
    `depth` the book levels per side; `spread_bps` the quoted spread (at least one increment);
    `depth_bps` the distance between book levels behind the best one.
    """

    def __init__(
        self,
        bars_by_product: Mapping[str, Bars],
        speed: float,
        start: int,
        clock: Callable[[], float] = time.monotonic,
        *,
        grids: Mapping[str, TickGrid] | None = None,
        seed: int = 0,
        trades_per_bar: int = 24,
        depth: int = 25,
        spread_bps: float = 0.05,
        depth_bps: float = 0.5,
        candle_interval: float = 1.0,
    ) -> None:
        if speed <= 0:
            raise ValueError(f"speed must be positive, not {speed}")
        if not bars_by_product:
            raise ValueError("a market needs at least one product's bars")
        self.speed = float(speed)
        self.start = int(start)
        self.clock = clock
        self.candle_interval = candle_interval
        self._t0 = clock()
        self.market_time = float(start)
        self.pace = 1.0
        """The share of `speed` the clock runs at: below 1 while the market is offered faster than it is sent."""
        self._pacer: Callable[[], float] | None = None
        self._held_by_clients = 0.0  # market seconds lost to a pace below 1
        self._held_by_replay = 0.0  # market seconds lost to steps out of budget
        self.behind = False
        """Whether the last step ran out of its budget before reaching the clock's time."""
        self._last_step = self._t0
        self._speed_samples: deque[_SpeedSample] = deque(maxlen=SPEED_SAMPLES)
        self._subscribers: list[Emit] = []
        grids = grids or {}
        self._tapes = {
            product: ProductTape(
                product,
                bars,
                grids.get(product) or infer_grid(bars),
                TapeSettings(seed, trades_per_bar, depth, spread_bps, depth_bps),
            )
            for product, bars in bars_by_product.items()
        }
        for tape in self._tapes.values():
            tape.warm_up(self.start)

    # -- time --------------------------------------------------------------------------------------

    def products(self) -> list[str]:
        return list(self._tapes)

    def pace_by(self, pacer: Callable[[], float]) -> None:
        """Before each step of `run`, set the pace to `pacer()` (a share of `speed`, 0 < pace <= 1)."""
        self._pacer = pacer

    def effective_speed(self) -> float:
        """Market seconds per wall second over the last few seconds of `run` (`speed` before any)."""
        if len(self._speed_samples) < 2:
            return self.speed
        first, last = self._speed_samples[0], self._speed_samples[-1]
        return (last.market - first.market) / (last.wall - first.wall) if last.wall > first.wall else self.speed

    def step(self, budget: float | None = None) -> int:
        """Replay every trade up to the market time the clock has reached; returns how many.

        With a `budget` (wall seconds) the step replays slice by slice and stops once the budget is
        spent: the clock then stays at the last time replayed, held back by the rest. So a server asked
        for more than it can replay slows its market instead of blocking for ever longer steps.
        """
        wall = self.clock()
        if self.pace < 1:
            self._held_by_clients += (wall - self._last_step) * self.speed * (1 - self.pace)
        self._last_step = wall
        held_back = self._held_by_clients + self._held_by_replay
        target = max(self.market_time, self.start + (wall - self._t0) * self.speed - held_back)
        if budget is None:
            replayed = self._advance(target)
        else:
            replayed, reached = 0, self.market_time
            while reached < target and (replayed == 0 or self.clock() - wall < budget):
                upcoming = min(tape.next_time() for tape in self._tapes.values())
                reached = min(target, max(reached + SLICE, upcoming))
                replayed += self._advance(reached)
            self._held_by_replay += target - reached
            self.behind = reached < target
        for tape in self._tapes.values():
            if tape.candle_dirty and wall - tape.candle_sent_at >= self.candle_interval:
                tape.candle_sent_at = wall
                tape.candle_dirty = False
                candle = tape.forming_candle()
                if candle is not None:
                    self._publish(CandleUpdate(candle))
        return replayed

    def _advance(self, now: float) -> int:
        self.market_time = now
        return sum(tape.advance(now, self._publish) for tape in self._tapes.values())

    async def run(self, interval: float = 0.02) -> None:
        """Step every `interval` wall seconds until cancelled, paced by the pacer given to `pace_by`. A step
        may take half the interval; one that ran out of it is followed at once by the next, after the other
        work waiting (sends, heartbeats, requests) has had its turn."""
        sampled = reported = -math.inf
        while True:
            if self._pacer is not None:
                self.pace = self._pacer()
            self.step(budget=interval / 2)
            if self._last_step - sampled >= 1.0:
                sampled = self._last_step
                self._speed_samples.append(
                    _SpeedSample(sampled, self.market_time, self._held_by_clients, self._held_by_replay)
                )
                if self.slowed and sampled - reported >= REPORT_EVERY:
                    reported = sampled
                    pace_log.warning("%s", self.slowdown())
            await asyncio.sleep(0 if self.behind else interval)

    @property
    def slowed(self) -> bool:
        """Whether the market runs noticeably slower than `speed` (see `slowdown`)."""
        return self.effective_speed() < SLOWED * self.speed

    def slowdown(self) -> str:
        """What slowed the market most over the last few seconds: the server's replaying or its clients."""
        if len(self._speed_samples) < 2:
            return f"the market runs at {self.speed:g}x"
        first, last = self._speed_samples[0], self._speed_samples[-1]
        by_clients, by_replay = last.by_clients - first.by_clients, last.by_replay - first.by_replay
        why = "the server cannot replay faster" if by_replay >= by_clients else "its WebSocket clients cannot take more"
        return f"the market runs at {self.effective_speed():.0f}x instead of {self.speed:g}x: {why}"

    # -- subscribers -------------------------------------------------------------------------------

    def subscribe(self, callback: Emit) -> Callable[[], None]:
        """Call `callback(event)` for every market event; returns a function that unsubscribes."""
        self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback)

    def _publish(self, event: MarketEvent) -> None:
        for callback in list(self._subscribers):
            try:
                callback(event)
            except Exception:
                # One broken subscriber must not stop the market for the others.
                log.exception("market subscriber %r failed on %s", callback, type(event).__name__)

    # -- reading the market ------------------------------------------------------------------------

    def _tape(self, product_id: str) -> ProductTape:
        return self._tapes[product_id]

    def quote(self, product_id: str) -> Quote | None:
        """The current quote, or None before the product's first bar."""
        return self._tape(product_id).quote

    def book(self, product_id: str, depth: int | None = None) -> tuple[list[BookChange], list[BookChange]]:
        """Bid levels (best first) and ask levels (best first), `depth` per side (default: all)."""
        tape = self._tape(product_id)
        bids = sorted(tape.bids.items(), reverse=True)[:depth]
        asks = sorted(tape.asks.items())[:depth]
        return [tape.level("bid", p, s) for p, s in bids], [tape.level("offer", p, s) for p, s in asks]

    def recent_trades(self, product_id: str, limit: int) -> list[Trade]:
        """Up to `limit` most recent trades, newest first."""
        trades = self._tape(product_id).trades
        return [trades[-1 - i] for i in range(min(limit, len(trades)))]

    def candles(self, product_id: str, seconds: int, start: int, end: int) -> CandleTable:
        """Candles of `seconds` whose open time lies in [start, end), newest first, as at market time.

        Buckets already closed come from the bars; the one still forming holds what has traded so
        far. Buckets without a bar are absent. Raises ValueError when `seconds` is not a multiple of
        the bars' granularity.
        """
        return self._tape(product_id).candles(seconds, start, end, self.market_time)

    def stats(self, product_id: str) -> DayStats | None:
        return self._tape(product_id).stats(self.market_time)


def infer_grid(bars: Bars) -> TickGrid:
    """The coarsest power-of-ten price increment the data's prices sit on (up to 8 decimals), and a
    base increment of 0.00000001: a fallback for products the catalogue does not know."""
    sample = np.concatenate([bars.open[:500], bars.close[:500]])
    for decimals in range(9):
        scaled = sample * 10**decimals
        if np.all(np.abs(scaled - np.rint(scaled)) < 1e-6 * np.maximum(1.0, np.abs(scaled))):
            return TickGrid(Decimal(1).scaleb(-decimals), Decimal("0.00000001"))
    return TickGrid(Decimal("0.00000001"), Decimal("0.00000001"))


def decimal_text(value: Decimal | float) -> str:
    """A market figure as Coinbase writes market data: positional, no trailing zeros (`65083.7`, `126296`).

    Order, fill and account payloads keep the trailing zeros instead (`"10000.50"`, `"100.00"`), so the
    exchange uses `catalog.decimal_text`; the two are different on purpose.
    """
    text = plain_decimal_text(value) if isinstance(value, Decimal) else np.format_float_positional(value, trim="-")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


_SECOND_TEXT: dict[int, str] = {}


def rfc3339(seconds: float, digits: int = 9) -> str:
    """`2026-08-09T21:05:48.298032046Z`: RFC 3339 UTC with `digits` fractional digits."""
    whole = math.floor(seconds)
    # Split before scaling: seconds * 1e9 would lose the nanoseconds to float rounding.
    carry, fraction = divmod(round((seconds - whole) * 1e9), 1_000_000_000)
    whole += carry
    text = _SECOND_TEXT.get(whole)
    if text is None:
        if len(_SECOND_TEXT) > 4096:
            _SECOND_TEXT.clear()
        text = _SECOND_TEXT[whole] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
    return f"{text}.{fraction:09d}"[: len(text) + 1 + digits] + "Z"

"""A level-2 order book rebuilt from a snapshot and level changes, in the engine's language.

Each side keeps size by price in a dict, and its prices in a list sorted so that the best level is
the last item: a change near the top of the book, the usual case, moves few pointers, and the best
bid and ask are read in constant time. Prices and sizes are floats: the book prices quotes and fills,
while money is booked exactly (Decimal) by the ledger, rounded to the product's increments.

The book reads `BookUpdate` events (`market/events.py`), or (price, size) pairs of anything `float()`
reads, so a venue adapter can keep it without first building events::

    book = OrderBook("BTC-USD")
    ok = book.apply(update)         # a snapshot replaces the book, an update changes levels
    if not ok:                      # crossed, or a level could not be read: ask the feed to re-snapshot
        ...
"""

from __future__ import annotations

import math
from bisect import bisect_left, insort
from collections.abc import Iterable
from decimal import Decimal
from typing import NamedTuple

from gpt_trader.market.events import BookUpdate

Number = str | float | Decimal
"""A price or size as a venue wrote it, or already converted."""
LevelChange = tuple[Number, Number]
"""A level's price and the size now resting there (a `BookLevel` is one); size zero removes the level."""


class Level(NamedTuple):
    price: float
    size: float


class _Side:
    """Size by price, with the prices sorted so the best is last: bids ascending, asks by negated price."""

    __slots__ = ("keys", "sign", "sizes")

    def __init__(self, sign: float) -> None:
        self.sign = sign
        self.sizes: dict[float, float] = {}
        self.keys: list[float] = []

    def set(self, price: float, size: float) -> None:
        sizes = self.sizes
        if size > 0.0:
            if price not in sizes:
                insort(self.keys, self.sign * price)
            sizes[price] = size
        elif sizes.pop(price, None) is not None:
            del self.keys[bisect_left(self.keys, self.sign * price)]

    def replace(self, sizes: dict[float, float]) -> None:
        self.sizes = sizes
        self.keys = sorted(self.sign * price for price in sizes)

    def best(self) -> float | None:
        return self.sign * self.keys[-1] if self.keys else None

    def top(self, count: int) -> list[Level]:
        sizes, sign = self.sizes, self.sign
        return [Level(sign * key, sizes[sign * key]) for key in reversed(self.keys[-count:])] if count > 0 else []


class OrderBook:
    """The level-2 book of one product.

    `needs_snapshot` is true until the first snapshot, after `invalidate()` (the feed lost messages),
    once an update left the book crossed (best bid at or above best ask), or once a level could not
    be read; a snapshot clears it.
    """

    def __init__(self, product_id: str) -> None:
        self.product_id = product_id
        self._bids = _Side(1.0)
        self._asks = _Side(-1.0)
        self._sound = False
        self.unreadable_levels = 0

    def apply(self, update: BookUpdate) -> bool:
        """Apply a snapshot or an update; True while the book can be trusted (see `needs_snapshot`)."""
        if update.snapshot:
            return self.apply_snapshot(update.bids, update.asks)
        return self.apply_changes(update.bids, update.asks)

    def apply_snapshot(self, bids: Iterable[LevelChange], asks: Iterable[LevelChange]) -> bool:
        """Replace the whole book with these levels."""
        self._sound = True
        bid_sizes = self._collect(bids)
        ask_sizes = self._collect(asks)
        self._bids.replace(bid_sizes)
        self._asks.replace(ask_sizes)
        if self.crossed:
            self._sound = False
        return self._sound

    def apply_changes(self, bids: Iterable[LevelChange], asks: Iterable[LevelChange]) -> bool:
        """Set the size of each changed level (zero removes the level)."""
        for side, changes in ((self._bids, bids), (self._asks, asks)):
            for change in changes:
                read = self._read(change)
                if read is not None:
                    side.set(*read)
        if self.crossed:
            # A venue never sends a crossed book: messages were lost, and later updates cannot repair that.
            self._sound = False
        return self._sound

    def _collect(self, levels: Iterable[LevelChange]) -> dict[float, float]:
        sizes: dict[float, float] = {}
        for level in levels:
            read = self._read(level)
            if read is None:
                continue
            if read[1] > 0.0:
                sizes[read[0]] = read[1]
            else:
                sizes.pop(read[0], None)
        return sizes

    def _read(self, change: LevelChange) -> tuple[float, float] | None:
        """Price and size of a level, or None (counted, and the book distrusted) if they are not numbers."""
        raw_price, raw_size = change
        try:
            price, size = float(raw_price), float(raw_size)
        except ValueError:
            price = size = math.nan
        if price > 0.0 and math.isfinite(price) and size >= 0.0 and math.isfinite(size):
            return price, size
        self.unreadable_levels += 1
        self._sound = False
        return None

    def invalidate(self) -> None:
        """Mark the book untrustworthy until the next snapshot (the feed lost messages)."""
        self._sound = False

    @property
    def needs_snapshot(self) -> bool:
        return not self._sound

    @property
    def crossed(self) -> bool:
        bid, ask = self._bids.best(), self._asks.best()
        return bid is not None and ask is not None and bid >= ask

    def best_bid(self) -> Level | None:
        price = self._bids.best()
        return None if price is None else Level(price, self._bids.sizes[price])

    def best_ask(self) -> Level | None:
        price = self._asks.best()
        return None if price is None else Level(price, self._asks.sizes[price])

    def mid(self) -> float | None:
        bid, ask = self._bids.best(), self._asks.best()
        return None if bid is None or ask is None else (bid + ask) / 2.0

    def spread(self) -> float | None:
        bid, ask = self._bids.best(), self._asks.best()
        return None if bid is None or ask is None else ask - bid

    def depth(self, levels: int = 10) -> tuple[list[Level], list[Level]]:
        """The best `levels` bids and asks, each best first."""
        return self._bids.top(levels), self._asks.top(levels)

    def __len__(self) -> int:
        """Price levels on both sides."""
        return len(self._bids.sizes) + len(self._asks.sizes)

    def __repr__(self) -> str:
        return f"OrderBook({self.product_id!r}, bid={self.best_bid()}, ask={self.best_ask()}, levels={len(self)})"

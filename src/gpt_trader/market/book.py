"""A level-2 order book rebuilt from a snapshot and level updates (Coinbase's `level2` channel).

Each side keeps size by price in a dict, and its prices in a list sorted so that the best level is
the last item: a change near the top of the book, the usual case, moves few pointers, and the best
bid and ask are read in constant time. Prices and sizes are floats: the book prices quotes and fills,
while money is booked exactly (Decimal) by the ledger, rounded to the product's increments.

The book is fed anything shaped like a level update (`side`, `price_level`, `new_quantity` as text), so
it does not depend on the venue's message types::

    book = OrderBook("BTC-USD")
    ok = book.apply(event)          # an l2_data event: a snapshot replaces, an update changes levels
    if not ok:                      # crossed, or a level could not be read: ask the feed to re-snapshot
        ...
"""

from __future__ import annotations

import math
from bisect import bisect_left, insort
from collections.abc import Iterable
from typing import NamedTuple, Protocol

BID_SIDES = frozenset({"bid"})
ASK_SIDES = frozenset({"offer", "ask"})
"""Coinbase names the ask side `offer`; `ask` is accepted too."""


class LevelChange(Protocol):
    @property
    def side(self) -> str: ...
    @property
    def price_level(self) -> str: ...
    @property
    def new_quantity(self) -> str:
        """The size now resting at the level; zero removes it."""
        ...


class BookEvent(Protocol):
    @property
    def type(self) -> str:
        """`snapshot` (the whole book) or `update`."""
        ...
    @property
    def updates(self) -> Iterable[LevelChange]: ...


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
    once an update left the book crossed (best bid at or above best ask), or once an update could not
    be read; a snapshot clears it. Levels of a side this book does not know are skipped and counted in
    `unknown_sides`.
    """

    def __init__(self, product_id: str) -> None:
        self.product_id = product_id
        self._bids = _Side(1.0)
        self._asks = _Side(-1.0)
        self._sound = False
        self.unknown_sides = 0
        self.unreadable_levels = 0

    def apply(self, event: BookEvent) -> bool:
        """Apply a snapshot or an update event; True while the book can be trusted (see `needs_snapshot`).

        An event of another type is ignored.
        """
        if event.type == "snapshot":
            return self.apply_snapshot(event.updates)
        if event.type == "update":
            return self.apply_updates(event.updates)
        return self._sound

    def apply_snapshot(self, levels: Iterable[LevelChange]) -> bool:
        """Replace the whole book with `levels`."""
        bids: dict[float, float] = {}
        asks: dict[float, float] = {}
        self._sound = True
        for level in levels:
            side = bids if level.side in BID_SIDES else asks if level.side in ASK_SIDES else None
            if side is None:
                self.unknown_sides += 1
                continue
            read = self._read(level)
            if read is None:
                continue
            if read[1] > 0.0:
                side[read[0]] = read[1]
            else:
                side.pop(read[0], None)
        self._bids.replace(bids)
        self._asks.replace(asks)
        if self.crossed:
            self._sound = False
        return self._sound

    def apply_updates(self, changes: Iterable[LevelChange]) -> bool:
        """Set the size of each changed level (zero removes the level)."""
        bids, asks = self._bids, self._asks
        for change in changes:
            side = bids if change.side in BID_SIDES else asks if change.side in ASK_SIDES else None
            if side is None:
                self.unknown_sides += 1
                continue
            read = self._read(change)
            if read is not None:
                side.set(*read)
        if self.crossed:
            # Coinbase never sends a crossed book: messages were lost, and later updates cannot repair that.
            self._sound = False
        return self._sound

    def _read(self, change: LevelChange) -> tuple[float, float] | None:
        """Price and size of a level, or None (counted, and the book distrusted) if they are not numbers."""
        try:
            price, size = float(change.price_level), float(change.new_quantity)
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

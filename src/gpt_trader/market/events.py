"""The engine's language: venue-neutral market events.

A feed adapter (the Coinbase WebSocket in `coinbase/feed.py`, a replay of candles or of a recorded
capture) turns what its venue sends into these events; the trading engine, the paper broker and the
store know nothing else. Prices and sizes are exact (`Decimal`, as the venue wrote them), because the
ledger fills against them; closed bars carry floats, because strategies compute on float arrays.
Times are the venue's (market) time in Unix seconds, so a replay and a live run read alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import NamedTuple

from gpt_trader.market.feed import FeedHealth, HealthKind


class Side(StrEnum):
    """The one name of a direction, for orders, fills and trades in every mode."""

    BUY = "BUY"
    SELL = "SELL"

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY

    @property
    def sign(self) -> int:
        """+1 for a buy, -1 for a sell: the change of a position's units per unit traded."""
        return 1 if self is Side.BUY else -1


@dataclass(frozen=True, slots=True)
class Trade:
    """A trade printed on the venue."""

    product_id: str
    time: float
    price: Decimal
    size: Decimal
    aggressor: Side | None = None
    """The taker's side, where the venue tells it (Coinbase reports the maker's side; the adapter flips it)."""
    trade_id: str = ""


@dataclass(frozen=True, slots=True)
class Quote:
    """The top of a product's book: best bid and best ask with their sizes."""

    product_id: str
    time: float
    bid: Decimal
    ask: Decimal
    bid_size: Decimal
    ask_size: Decimal

    @property
    def crossed(self) -> bool:
        return self.bid >= self.ask


class BookLevel(NamedTuple):
    """One price level; in an update, size 0 removes the level.

    A named tuple rather than a frozen dataclass: a snapshot carries tens of thousands of levels, and
    a tuple is built about ten times faster.
    """

    price: Decimal
    size: Decimal


@dataclass(frozen=True, slots=True)
class BookUpdate:
    """Changes to a product's level-2 book; a snapshot replaces the whole book."""

    product_id: str
    time: float
    bids: tuple[BookLevel, ...]
    asks: tuple[BookLevel, ...]
    snapshot: bool = False


@dataclass(frozen=True, slots=True)
class BarClosed:
    """A finished bar of `granularity` seconds that opened at `start` (Unix seconds)."""

    product_id: str
    granularity: int
    start: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    backfilled: bool = False
    """Fetched by REST after a feed gap rather than built from the feed's own trades."""
    synthetic: bool = False
    """Invented by the `fill-flat` gap policy for a bucket without trades (as `Bars.synthetic` marks)."""

    @property
    def end(self) -> int:
        return self.start + self.granularity


MarketEvent = Trade | Quote | BookUpdate | BarClosed | FeedHealth
"""Everything a feed yields, in the order it learned it."""

__all__ = [
    "BarClosed",
    "BookLevel",
    "BookUpdate",
    "FeedHealth",
    "HealthKind",
    "MarketEvent",
    "Quote",
    "Side",
    "Trade",
]

"""From one candle to a plausible tape: the trades inside a bar, the quote after each, and a book.

Pure NumPy, one bar at a time (a bar's ticks are made in one vectorised pass when the replay
reaches it). Prices are whole numbers of the product's price increment and sizes whole numbers of
its base increment (integers here; `market` turns them into Decimals), so every price the sandbox
quotes is one an order could be placed at.

The path of a bar: the first trade is at the open, the bar's high and low are each touched once (in
a random order, more often low-then-high in a rising bar), the last trade is at the close, and the
trades between follow the straight lines joining these anchors plus noise, clipped to [low, high].
So candles rebuilt from the trades have the bar's open, high, low and close, and their volume is
the bar's (less any part smaller than one base increment).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from decimal import Decimal

import numpy as np

MAKER_BUY = 0
MAKER_SELL = 1
"""The maker's side of a trade: a trade at the ask took a resting sell (MAKER_SELL), one at the bid a buy."""

_GOLDEN = 0.6180339887498949


@dataclass(frozen=True)
class TickGrid:
    """A product's order grid: prices are multiples of `price`, sizes of `base`."""

    price: Decimal
    base: Decimal

    @property
    def price_float(self) -> float:
        return float(self.price)

    @property
    def base_float(self) -> float:
        return float(self.base)


@dataclass(frozen=True)
class BarTicks:
    """The trades of one bar, oldest first, and the best bid and ask right after each.

    `offset` is seconds from the bar's open; prices are in price increments, sizes in base increments.
    """

    offset: np.ndarray
    price: np.ndarray
    size: np.ndarray
    maker_side: np.ndarray
    bid: np.ndarray
    ask: np.ndarray

    def __len__(self) -> int:
        return len(self.offset)

    @classmethod
    def empty(cls) -> BarTicks:
        none = np.zeros(0, dtype=np.int64)
        return cls(np.zeros(0), none, none, none, none, none)


def product_key(product_id: str) -> int:
    """A stable 32-bit number for a product: mixed into seeds so products get different paths."""
    return int.from_bytes(hashlib.sha256(product_id.encode()).digest()[:4], "big")


def bar_ticks(
    ohlcv: tuple[float, float, float, float, float],
    seconds: int,
    grid: TickGrid,
    rng: np.random.Generator,
    trades: int,
    spread_bps: float,
) -> BarTicks:
    """The tape of one bar `(open, high, low, close, volume)` lasting `seconds`, with about `trades` trades.

    Fewer trades are made when the volume holds fewer base increments than that; none when it holds none.
    """
    open_, high, low, close, volume = ohlcv
    step = grid.price_float
    anchors = np.rint(np.array([open_, high, low, close]) / step).astype(np.int64)
    anchors = np.maximum(anchors, 1)
    units = int(volume / grid.base_float + 1e-9)
    count = min(trades, units)
    if count <= 0:
        return BarTicks.empty()

    price = _path(anchors, count, rng)
    offset = np.concatenate([[0.0], np.sort(rng.random(count - 1)) * seconds])
    # Sizes: one increment each, the rest shared out in exponential proportions (a few large trades).
    weights = rng.exponential(size=count)
    size = 1 + np.floor(weights / weights.sum() * (units - count)).astype(np.int64)
    size[np.argmax(weights)] += units - int(size.sum())

    # An up-tick lifted the offer (its maker sold); a down-tick hit the bid; a flat tick is a coin toss.
    move = np.diff(price, prepend=price[0])
    maker_side = np.where(move > 0, MAKER_SELL, np.where(move < 0, MAKER_BUY, rng.integers(0, 2, count)))
    spread = max(1, round(open_ * spread_bps / 1e4 / step))
    at_ask = maker_side == MAKER_SELL
    bid = np.maximum(np.where(at_ask, price - spread, price), 1)
    ask = np.maximum(np.where(at_ask, price, price + spread), bid + 1)
    return BarTicks(offset, price, size, maker_side.astype(np.int64), bid, ask)


def _path(anchors: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """`count` prices (in increments) from open to close touching high and low; see the module doc."""
    open_, high, low, close = (int(value) for value in anchors)
    low_first = rng.random() < (0.7 if close >= open_ else 0.3)
    extremes = [low, high] if low_first else [high, low]
    if count < 4:
        chosen = {1: [close], 2: [open_, close], 3: [open_, extremes[0], close]}[count]
        return np.array(chosen, dtype=np.int64)
    first, second = np.sort(rng.choice(np.arange(1, count - 1), size=2, replace=False))
    where = np.array([0, first, second, count - 1])
    line = np.interp(np.arange(count), where, [open_, extremes[0], extremes[1], close])
    noise = rng.standard_normal(count) * (high - low) * 0.2
    noise[where] = 0.0
    return np.clip(np.rint(line + noise), low, high).astype(np.int64)


def level_step(price: int, depth_bps: float) -> int:
    """Distance, in price increments, between the book's levels behind the best one."""
    return max(1, round(price * depth_bps / 1e4))


def book_sides(
    bid: int, ask: int, depth: int, step: int, typical_size: float, salt: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Bid prices (best first), their sizes, ask prices (best first), their sizes: `depth` levels each.

    The best levels sit at the quote; the others on a fixed lattice of `step` increments, so a small
    move of the quote changes only a few levels (as in a real book). A level's size depends only on
    its price and side, so it stays put while the level exists. Bids are all below asks: never crossed.
    """
    below = (bid - 1) // step * step
    bids = np.concatenate([[bid], below - step * np.arange(depth - 1)])
    above = -(-(ask + 1) // step) * step
    asks = np.concatenate([[ask], above + step * np.arange(depth - 1)])
    bids = bids[bids > 0]
    return bids, level_sizes(bids, typical_size, salt), asks, level_sizes(asks, typical_size, salt + 1)


def level_sizes(prices: np.ndarray, typical_size: float, salt: int) -> np.ndarray:
    """Sizes (in base increments, at least one) of the levels at `prices`: a fixed scramble of the price."""
    scramble = (prices * _GOLDEN + salt * _GOLDEN**2) % 1.0
    return np.maximum(np.rint(typical_size * (0.2 + 1.8 * scramble**2)), 1).astype(np.int64)

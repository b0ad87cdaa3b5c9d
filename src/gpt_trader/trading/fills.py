"""What a paper order may take from the market: the broker's exact book and its fill models.

`DepthBook` is one product's level-2 book in Decimal, as the feed's `BookUpdate`s (or, for a feed without
level 2, its `Quote`s) show it, plus what the broker's own orders have already taken from each level. Size
taken at a level stays taken until the book shows that level again (an update of that price, or a new
snapshot), so two orders never fill against the same displayed size. (`market/book.py` keeps the feed's
book in floats for quotes and display; money needs the venue's exact numbers, and the consumed size.)

Fill models decide how deep a taker may go:

* `TOUCH` — the best level only, limited to the size displayed there: what a trader at the touch can be
  sure to get. The rest of a market order is cancelled, as Coinbase cancels an unfilled IOC remainder.
* `BOOK` — walks the level-2 book level by level, at each level's price: partial fills, real slippage.

A bar fill (at a bar's open or close, exactly as the backtest kernel fills) needs no book: the engine gives
the price, and `PaperBroker.fill_at` books it.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal

from gpt_trader.market.events import BookLevel, BookUpdate, Quote, Side
from gpt_trader.trading.money import ZERO, ProductIncrements


class BookSide:
    """Size by price for one side, prices kept sorted so the best is last, and the size taken per level."""

    __slots__ = ("_keys", "_sign", "consumed", "sizes", "taken_through", "untaken")

    def __init__(self, best_is_highest: bool) -> None:
        self._sign = 1 if best_is_highest else -1
        self.sizes: dict[Decimal, Decimal] = {}
        self._keys: list[Decimal] = []
        self.consumed: dict[Decimal, Decimal] = {}
        self.untaken = ZERO
        """The displayed size no paper order took, over every level: once orders took it all, the next ones
        at the same book need not walk its levels to find nothing."""
        self.taken_through = 0
        """How many levels from the best paper orders took in full (at least): a walk for size starts after
        them, so the orders of one bar do not each walk past what the ones before them took."""

    def set(self, price: Decimal, size: Decimal) -> None:
        """The level now displays `size` (zero removes it); what was taken there is available again."""
        taken = self.consumed.pop(price, ZERO)
        if self.taken_through:
            self._reopen(price, size)
        if size > 0:
            shown = self.sizes.get(price)
            if shown is None:
                insort(self._keys, self._sign * price)
                shown = ZERO
            self.sizes[price] = size
            self.untaken += size - shown + taken
        elif (shown := self.sizes.pop(price, None)) is not None:
            del self._keys[bisect_left(self._keys, self._sign * price)]
            self.untaken -= shown - taken

    def replace(self, levels: Iterable[BookLevel]) -> None:
        self.sizes = {level.price: level.size for level in levels if level.size > 0}
        self._keys = sorted(self._sign * price for price in self.sizes)
        self.consumed = {}
        self.untaken = sum(self.sizes.values(), ZERO)
        self.taken_through = 0

    def _reopen(self, price: Decimal, size: Decimal) -> None:
        """Keep `taken_through` true as the level at `price` comes to show `size`: a level shown again is
        no longer taken, one that goes no longer counts among the taken."""
        keys, key = self._keys, self._sign * price
        if key < keys[len(keys) - self.taken_through]:
            return  # beyond the levels taken in full: they stay as they are
        better = len(keys) - bisect_right(keys, key)
        if size > 0:
            self.taken_through = min(self.taken_through, better)
        elif price in self.sizes:
            self.taken_through -= 1

    def best(self) -> Decimal | None:
        return self._sign * self._keys[-1] if self._keys else None

    def displayed(self, price: Decimal) -> Decimal:
        return self.sizes.get(price, ZERO)

    def available(self, price: Decimal) -> Decimal:
        """What the book shows at `price` that no earlier paper order took."""
        return self.sizes.get(price, ZERO) - self.consumed.get(price, ZERO)

    def levels(self, skip: int = 0) -> Iterator[tuple[Decimal, Decimal]]:
        """(price, available size) of each displayed level from the best outwards, after the first `skip`; a
        level taken in full still counts as a level (available 0), so the touch stays the touch."""
        keys, sign = self._keys, self._sign
        for index in range(len(keys) - 1 - skip, -1, -1):
            price = sign * keys[index]
            yield price, self.available(price)

    def consume(self, price: Decimal, size: Decimal) -> None:
        consumed = self.consumed
        consumed[price] = consumed.get(price, ZERO) + size
        self.untaken -= size
        keys, sizes, sign = self._keys, self.sizes, self._sign
        while self.taken_through < len(keys):
            level = sign * keys[len(keys) - 1 - self.taken_through]
            if sizes[level] > consumed.get(level, ZERO):
                return
            self.taken_through += 1


class DepthBook:
    """One product's book as the broker trusts it.

    It is trusted after a level-2 snapshot (or, for a product fed only quotes, after an uncrossed quote),
    and distrusted when the feed reports lost messages (`invalidate`) or an update leaves it crossed, until
    the next snapshot. A product that ever had a snapshot is priced by its level-2 book alone; quotes then
    only serve triggers.
    """

    __slots__ = ("_trusted", "asks", "bids", "has_depth", "product_id", "updated")

    def __init__(self, product_id: str) -> None:
        self.product_id = product_id
        self.bids = BookSide(best_is_highest=True)
        self.asks = BookSide(best_is_highest=False)
        self.has_depth = False
        self.updated: float | None = None
        self._trusted = False

    def apply_update(self, update: BookUpdate) -> None:
        if update.snapshot:
            self.bids.replace(update.bids)
            self.asks.replace(update.asks)
            self.has_depth = self._trusted = True
        elif not self.has_depth:
            return
        else:
            for level in update.bids:
                self.bids.set(level.price, level.size)
            for level in update.asks:
                self.asks.set(level.price, level.size)
        self.updated = update.time
        if self.crossed:
            self._trusted = False

    def apply_quote(self, quote: Quote) -> None:
        if self.has_depth:
            return
        for side, price, size in ((self.bids, quote.bid, quote.bid_size), (self.asks, quote.ask, quote.ask_size)):
            if side.best() != price or side.displayed(price) != size:
                side.replace((BookLevel(price, size),))
        self.updated = quote.time
        self._trusted = not self.crossed

    def invalidate(self) -> None:
        """The feed lost messages: trust nothing until the next snapshot (or quote, for a quote-fed product)."""
        self._trusted = False

    @property
    def crossed(self) -> bool:
        bid, ask = self.bids.best(), self.asks.best()
        return bid is not None and ask is not None and bid >= ask

    def problem(self, now: float, stale_after: float | None) -> str | None:
        """Why no order may fill against this book at `now`, or None when it may.

        A book with an empty side is refused too: every fill carries the quote it met, and a one-sided book
        on a listed product means lost data rather than a market.
        """
        if self.updated is None:
            return f"no quote or book for {self.product_id} has arrived yet"
        if self.bids.best() is None or self.asks.best() is None:
            return f"the {self.product_id} book has {'no bids' if self.bids.best() is None else 'no asks'}"
        if self.crossed:
            return f"the {self.product_id} book is crossed (bid {self.bids.best()} >= ask {self.asks.best()})"
        if not self._trusted:
            return f"the {self.product_id} book lost messages and awaits a fresh snapshot"
        if stale_after is not None and now - self.updated > stale_after:
            return (
                f"the {self.product_id} book is stale: nothing for {now - self.updated:g} s (limit {stale_after:g} s)"
            )
        return None

    def top(self, time: float) -> Quote | None:
        bid, ask = self.bids.best(), self.asks.best()
        if bid is None or ask is None:
            return None
        return Quote(self.product_id, time, bid, ask, self.bids.sizes[bid], self.asks.sizes[ask])

    def taken_by(self, side: Side) -> BookSide:
        """The side an order of `side` takes from: a buy lifts the asks, a sell hits the bids."""
        return self.asks if side is Side.BUY else self.bids


@dataclass(frozen=True, slots=True)
class FillModel:
    """How deep a taker may go: `depth` levels from the best (None: the whole book)."""

    name: str
    depth: int | None

    def liquidity(self, side: BookSide) -> Iterator[tuple[Decimal, Decimal]]:
        if side.untaken <= 0:
            return  # every level shown was taken: nothing to walk for
        if self.depth is None:
            yield from side.levels(skip=side.taken_through)  # the whole book: what earlier orders left of it
            return
        for count, level in enumerate(side.levels()):
            if count >= self.depth:
                return
            yield level


TOUCH = FillModel("touch", 1)
BOOK = FillModel("book", None)
FILL_MODELS = {model.name: model for model in (TOUCH, BOOK)}


def plan_take(
    levels: Iterable[tuple[Decimal, Decimal]],
    side: Side,
    grid: ProductIncrements,
    rate: Decimal,
    *,
    base_size: Decimal | None = None,
    budget: Decimal | None = None,
    limit: Decimal | None = None,
) -> list[tuple[Decimal, Decimal]]:
    """The (price, size) a taker of `side` gets from `levels` (best first): up to `base_size` units, or, for a
    buy, as much as `budget` pays for at `rate`; never beyond `limit`. Sizes are on the base grid."""
    if (base_size is None) == (budget is None):
        raise ValueError("plan_take needs exactly one of base_size and budget")
    remaining = base_size if base_size is not None else ZERO
    money = budget if budget is not None else ZERO
    taken: list[tuple[Decimal, Decimal]] = []
    for price, available in levels:
        if limit is not None and (price > limit if side is Side.BUY else price < limit):
            break
        if available <= 0:
            continue
        size = grid.floor_size(available)
        if base_size is not None:
            size = min(size, remaining)
        else:
            # A whole level the money pays for is taken without solving for the size the money affords.
            cost = grid.buy_cost(size, price, rate)
            if cost > money:
                size = min(size, grid.affordable_size(money, price, rate))
                if size <= 0:
                    break
                cost = grid.buy_cost(size, price, rate)
        if size <= 0:
            continue
        taken.append((price, size))
        if base_size is not None:
            remaining -= size
            if remaining <= 0:
                break
        else:
            money -= cost
    return taken

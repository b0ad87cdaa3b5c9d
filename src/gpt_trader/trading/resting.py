"""Paper orders waiting on the market, indexed by price so that an event only looks at those it can reach.

A feed event moves the market to a price; the orders it can fill or trigger are those on one side of that
price. `PriceLadder` keeps items by price (first come, first served at each price) with the prices sorted, so
finding them costs a binary search and touches nothing else: with hundreds of accounts waiting, an event
that reaches no order does constant work.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Generic, TypeVar

from gpt_trader.market.events import Side
from gpt_trader.trading.ledger import Account
from gpt_trader.trading.money import ZERO
from gpt_trader.trading.orders import Order

Item = TypeVar("Item")


class PriceLadder(Generic[Item]):
    """Items by price, in arrival order at each price."""

    __slots__ = ("_at", "_prices")

    def __init__(self) -> None:
        self._at: dict[Decimal, list[Item]] = {}
        self._prices: list[Decimal] = []

    def add(self, price: Decimal, item: Item) -> None:
        queue = self._at.get(price)
        if queue is None:
            queue = self._at[price] = []
            insort(self._prices, price)
        queue.append(item)

    def remove(self, price: Decimal, item: Item) -> None:
        queue = self._at[price]
        queue.remove(item)
        if not queue:
            del self._at[price]
            del self._prices[bisect_left(self._prices, price)]

    def at(self, price: Decimal) -> list[Item]:
        return self._at.get(price, [])

    def __bool__(self) -> bool:
        return bool(self._prices)

    def from_highest(self, down_to: Decimal | None, *, inclusive: bool = True) -> list[Item]:
        """Items priced at or above `down_to` (above, when not `inclusive`), the highest price first."""
        if down_to is None:
            return []
        prices = self._prices
        start = bisect_left(prices, down_to) if inclusive else bisect_right(prices, down_to)
        return [item for price in reversed(prices[start:]) for item in self._at[price]]

    def from_lowest(self, up_to: Decimal | None, *, inclusive: bool = True) -> list[Item]:
        """Items priced at or below `up_to` (below, when not `inclusive`), the lowest price first."""
        if up_to is None:
            return []
        prices = self._prices
        end = bisect_right(prices, up_to) if inclusive else bisect_left(prices, up_to)
        return [item for price in prices[:end] for item in self._at[price]]

    def __iter__(self) -> Iterator[Item]:
        return (item for price in self._prices for item in self._at[price])


@dataclass(slots=True, eq=False)
class RestingOrder:
    """A limit order waiting in the simulated queue at `price`."""

    order: Order
    account: Account
    side: Side
    price: Decimal
    queue_ahead: Decimal
    """Displayed size at `price` that arrived before this order and must trade first."""
    hold_rate: Decimal
    """The fee rate the held cash of a resting buy was reckoned at."""
    hold: Decimal = ZERO
    """Cash (a buy) or units (a sale) this order keeps from other orders."""


@dataclass(slots=True)
class Waiting:
    """One product's waiting paper orders: resting limit orders by price and stop orders by stop price."""

    buys: PriceLadder[RestingOrder] = field(default_factory=PriceLadder)
    sells: PriceLadder[RestingOrder] = field(default_factory=PriceLadder)
    buy_stops: PriceLadder[Order] = field(default_factory=PriceLadder)
    sell_stops: PriceLadder[Order] = field(default_factory=PriceLadder)

    def resting(self, side: Side) -> PriceLadder[RestingOrder]:
        return self.buys if side is Side.BUY else self.sells

    def stops(self, side: Side) -> PriceLadder[Order]:
        return self.buy_stops if side is Side.BUY else self.sell_stops

    def __bool__(self) -> bool:
        """Whether any order waits: the market's moves concern the broker only then."""
        return bool(self.buys or self.sells or self.buy_stops or self.sell_stops)

"""The pure part of matching: what an order costs and what it does on arrival, given the quote, the book and funds.

Nothing here changes state, so a refused order (missing funds, a post-only cross) leaves no trace, and a
preview is the same computation as a real order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from gpt_trader.sandbox.catalog import ProductSpec, decimal_text
from gpt_trader.sandbox.exchange.model import (
    LIMIT_FOK,
    ZERO,
    FeeRates,
    Level,
    OrderRequest,
    Quote,
    Side,
    floor_to,
    round_to,
)
from gpt_trader.sandbox.exchange.validation import UNKNOWN_FAILURE, Rejection


@dataclass(frozen=True, slots=True)
class Take:
    """One taker fill: `size` at one book level's `price`."""

    size: Decimal
    price: Decimal


@dataclass(frozen=True, slots=True)
class Arrival:
    """An accepted order's first moments: the `takes` it makes from the book, then `rest_size` left,
    holding `rest_hold` (quote currency for a buy, base for a sell). `marketable`: what is left still
    crosses the book, so it keeps taking on later quotes rather than resting. `no_market`: a market
    order with no quote to fill against."""

    takes: tuple[Take, ...] = ()
    rest_size: Decimal = ZERO
    rest_hold: Decimal = ZERO
    marketable: bool = False
    no_market: bool = False

    @property
    def taker_size(self) -> Decimal:
        return sum((take.size for take in self.takes), ZERO)


def fill_cost(product: ProductSpec, size: Decimal, price: Decimal, rate: Decimal) -> tuple[Decimal, Decimal]:
    """The value of `size` at `price` and the fee on it, each rounded to the quote increment."""
    value = round_to(size * price, product.quote_increment)
    return value, round_to(value * rate, product.quote_increment)


def total_cost(product: ProductSpec, size: Decimal, price: Decimal, rate: Decimal) -> Decimal:
    value, fee = fill_cost(product, size, price, rate)
    return value + fee


def affordable_size(product: ProductSpec, budget: Decimal, price: Decimal, rate: Decimal) -> Decimal:
    """The largest base size whose cost at `price`, fee at `rate` included, fits in `budget`."""
    per_unit = price * (1 + rate)
    size = floor_to(budget / per_unit, product.base_increment)
    if total_cost(product, size, price, rate) > budget:
        # Rounding the value and the fee up by half an increment each can overshoot; this cannot.
        size = floor_to(max(budget - 2 * product.quote_increment, ZERO) / per_unit, product.base_increment)
    if size <= 0 or size < product.base_min_size:
        raise Rejection(
            UNKNOWN_FAILURE,
            "PREVIEW_INVALID_QUOTE_SIZE_TOO_SMALL",
            f"quote_size {decimal_text(budget)} buys less than {product.product_id}'s base_min_size "
            f"{decimal_text(product.base_min_size)} at {decimal_text(price)}",
        )
    return size


def reaches(side: Side, limit: Decimal, quote: Quote) -> bool:
    """Whether `limit` meets the quote's other side: the ask is at or below a bid, or the bid at or above
    an ask. On arrival (or while still marketable) that means taking; for a resting order, being filled."""
    return 0 < quote.ask <= limit if side is Side.BUY else quote.bid >= limit > 0


def walk(
    side: Side, limit: Decimal, levels: Sequence[Level], size: Decimal, base_increment: Decimal
) -> tuple[Take, ...]:
    """What an order of `size` takes from the other side's `levels` (best first): each level's size, at
    its price, while the price is within `limit` and size is left."""
    takes = []
    left = size
    for level in levels:
        if left <= 0 or level.price <= 0 or (level.price > limit if side is Side.BUY else level.price < limit):
            break
        taken = min(left, floor_to(level.size, base_increment))
        if taken > 0:
            takes.append(Take(taken, level.price))
            left -= taken
    return tuple(takes)


def remaining_hold(request: OrderRequest, remaining: Decimal, fees: FeeRates) -> Decimal:
    """What a live order holds for its `remaining` size: that size of base for a sell; for a buy, its
    cost at the limit price and the taker rate, as Coinbase's holds do."""
    if request.side is Side.SELL:
        return remaining
    return total_cost(request.product, remaining, request.limit_price or ZERO, fees.taker)


def plan_arrival(
    request: OrderRequest, quote: Quote | None, levels: Sequence[Level], fees: FeeRates, available: Decimal
) -> Arrival:
    """What `request` does on arrival, given the quote and the other side's book `levels` (best first);
    raises `Rejection` when `available` (quote currency for a buy, base for a sell) cannot pay for it,
    or when a post-only order would cross."""
    product, side = request.product, request.side
    touch = ZERO if quote is None else quote.ask if side is Side.BUY else quote.bid
    if request.is_market:
        if touch <= 0:
            return Arrival(no_market=True)
        size = request.base_size
        if size is None:
            size = affordable_size(product, request.quote_size or ZERO, touch, fees.taker)
        if side is Side.SELL:
            _require(request, size, available)
        else:
            _require(request, request.quote_size or total_cost(product, size, touch, fees.taker), available)
        return Arrival(takes=(Take(size, touch),))

    size, limit = request.base_size or ZERO, request.limit_price or ZERO
    crosses = quote is not None and reaches(side, limit, quote)
    if crosses and request.post_only:
        raise Rejection(
            "INVALID_LIMIT_PRICE_POST_ONLY",
            "PREVIEW_INVALID_LIMIT_PRICE_POST_ONLY",
            f"post-only {side.value} at {decimal_text(limit)} would cross the "
            f"{'ask' if side is Side.BUY else 'bid'} at {decimal_text(touch)}",
        )
    takes = walk(side, limit, levels, size, product.base_increment) if crosses else ()
    taken = sum((take.size for take in takes), ZERO)
    if request.kind == LIMIT_FOK and taken < size:
        takes, taken = (), ZERO
    rest = size - taken if request.rests else ZERO
    arrival = Arrival(takes, rest, remaining_hold(request, rest, fees), marketable=crosses and rest > 0)
    if side is Side.SELL:
        _require(request, size, available)
    else:
        # The whole order must be affordable at its limit even when part of it fills cheaper on arrival.
        taker_cost = sum((total_cost(product, take.size, take.price, fees.taker) for take in takes), ZERO)
        _require(request, max(total_cost(product, size, limit, fees.taker), taker_cost + arrival.rest_hold), available)
    return arrival


def _require(request: OrderRequest, required: Decimal, available: Decimal) -> None:
    if required > available:
        raise Rejection(
            "INSUFFICIENT_FUND",
            "PREVIEW_INSUFFICIENT_FUND",
            f"the order needs {decimal_text(required)} {request.funding_currency}; "
            f"{decimal_text(available)} is available",
        )

"""The pure part of matching: what an order costs and what it does on arrival, given the quote and funds.

Nothing here changes state, so a refused order (missing funds, a post-only cross) leaves no trace, and a
preview is the same computation as a real order.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from gpt_trader.sandbox.catalog import ProductSpec, decimal_text
from gpt_trader.sandbox.exchange.model import LIMIT_FOK, ZERO, FeeRates, OrderRequest, Quote, Side, floor_to, round_to
from gpt_trader.sandbox.exchange.validation import UNKNOWN_FAILURE, Rejection


@dataclass(frozen=True, slots=True)
class Arrival:
    """An accepted order's first moments: take `taker_size` at `taker_price`, then rest `rest_size`,
    holding `rest_hold` (quote currency for a buy, base for a sell). `no_market`: a market order with no
    quote to fill against."""

    taker_size: Decimal = ZERO
    taker_price: Decimal = ZERO
    rest_size: Decimal = ZERO
    rest_hold: Decimal = ZERO
    no_market: bool = False


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
    """Whether a resting order at `limit` is reached: the ask came down to a bid, or the bid up to an ask."""
    return 0 < quote.ask <= limit if side is Side.BUY else quote.bid >= limit > 0


def plan_arrival(request: OrderRequest, quote: Quote | None, fees: FeeRates, available: Decimal) -> Arrival:
    """What `request` does on arrival; raises `Rejection` when `available` (quote currency for a buy, base
    for a sell) cannot pay for it, or when a post-only order would cross."""
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
        return Arrival(taker_size=size, taker_price=touch)

    size, limit = request.base_size or ZERO, request.limit_price or ZERO
    crosses = touch > 0 and (limit >= touch if side is Side.BUY else limit <= touch)
    if crosses and request.post_only:
        raise Rejection(
            "INVALID_LIMIT_PRICE_POST_ONLY",
            "PREVIEW_INVALID_LIMIT_PRICE_POST_ONLY",
            f"post-only {side.value} at {decimal_text(limit)} would cross the "
            f"{'ask' if side is Side.BUY else 'bid'} at {decimal_text(touch)}",
        )
    shown = ZERO
    if crosses and quote is not None:
        shown = floor_to(quote.ask_size if side is Side.BUY else quote.bid_size, product.base_increment)
    taker = min(size, shown)
    if request.kind == LIMIT_FOK and taker < size:
        taker = ZERO
    rest = size - taker if request.rests else ZERO
    if side is Side.SELL:
        _require(request, size, available)
        return Arrival(taker_size=taker, taker_price=touch, rest_size=rest, rest_hold=rest)
    # A resting buy holds its cost at the limit price and the taker rate, as Coinbase's holds do; the
    # whole order must be affordable at its limit even when part of it fills cheaper on arrival.
    rest_hold = total_cost(product, rest, limit, fees.taker)
    taker_cost = total_cost(product, taker, touch, fees.taker)
    _require(request, max(total_cost(product, size, limit, fees.taker), taker_cost + rest_hold), available)
    return Arrival(taker_size=taker, taker_price=touch, rest_size=rest, rest_hold=rest_hold)


def _require(request: OrderRequest, required: Decimal, available: Decimal) -> None:
    if required > available:
        raise Rejection(
            "INSUFFICIENT_FUND",
            "PREVIEW_INSUFFICIENT_FUND",
            f"the order needs {decimal_text(required)} {request.funding_currency}; "
            f"{decimal_text(available)} is available",
        )

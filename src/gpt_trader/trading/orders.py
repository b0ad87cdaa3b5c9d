"""Orders a broker is given, what becomes of them, and the fills they get.

Three kinds, in Coinbase's terms: a market order (immediate or cancel; a buy sized in base units or in
quote currency to spend, a sell in base units), a limit order (good till cancelled, immediate or cancel, or
fill or kill; a good-till-cancelled one may be post-only, so it never takes), and a stop order (waits for the
market to reach its stop price, then becomes a market order, or a limit order when it has a limit price).
`check_request` holds a request to the product's grid before a broker looks at the market.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from gpt_trader.market.events import Quote, Side
from gpt_trader.trading.fees import Liquidity
from gpt_trader.trading.money import ZERO, ProductIncrements, is_multiple


class OrderType(StrEnum):
    MARKET = "MARKET"
    LIMIT = "LIMIT"
    STOP = "STOP"


class TimeInForce(StrEnum):
    GTC = "GOOD_UNTIL_CANCELLED"
    IOC = "IMMEDIATE_OR_CANCEL"
    FOK = "FILL_OR_KILL"


class OrderStatus(StrEnum):
    OPEN = "OPEN"
    """Resting (a limit order) or waiting for its trigger (a stop order)."""
    FILLED = "FILLED"
    CANCELLED = "CANCELLED"
    """Ended before filling in full: cancelled, or what an immediate-or-cancel order could not fill."""
    REJECTED = "REJECTED"
    """Refused; `Order.rejection` says why. Nothing was filled or held."""


class RejectReason(StrEnum):
    INVALID_ORDER = "INVALID_ORDER"
    INVALID_SIZE = "INVALID_SIZE"
    INVALID_PRICE = "INVALID_PRICE"
    UNKNOWN_ACCOUNT = "UNKNOWN_ACCOUNT"
    UNKNOWN_PRODUCT = "UNKNOWN_PRODUCT"
    INSUFFICIENT_FUNDS = "INSUFFICIENT_FUNDS"
    INSUFFICIENT_UNITS = "INSUFFICIENT_UNITS"
    POST_ONLY_WOULD_CROSS = "POST_ONLY_WOULD_CROSS"
    NO_MARKET = "NO_MARKET"
    """No trustworthy price: no book yet, or a stale, gapped or crossed one."""


@dataclass(frozen=True, slots=True)
class Rejection:
    reason: RejectReason
    message: str
    """What was wrong and how to put it right, for a person."""


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """An order as a strategy's rules ask for it; build one with `market`, `limit` or `stop`.

    `reason` says why it was placed (a signal, a stop-loss): when its fill closes a position, it is the
    round trip's exit reason.
    """

    account_id: str
    product_id: str
    side: Side
    type: OrderType
    base_size: Decimal | None = None
    quote_size: Decimal | None = None
    """Quote currency a market buy spends, fees included."""
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    time_in_force: TimeInForce = TimeInForce.GTC
    post_only: bool = False
    reason: str = ""

    @classmethod
    def market(
        cls,
        account_id: str,
        product_id: str,
        side: Side,
        *,
        base_size: Decimal | None = None,
        quote_size: Decimal | None = None,
        reason: str = "",
    ) -> OrderRequest:
        return cls(
            account_id, product_id, side, OrderType.MARKET, base_size, quote_size,
            time_in_force=TimeInForce.IOC, reason=reason,
        )  # fmt: skip

    @classmethod
    def limit(
        cls,
        account_id: str,
        product_id: str,
        side: Side,
        base_size: Decimal,
        limit_price: Decimal,
        *,
        time_in_force: TimeInForce = TimeInForce.GTC,
        post_only: bool = False,
        reason: str = "",
    ) -> OrderRequest:
        return cls(
            account_id, product_id, side, OrderType.LIMIT, base_size, limit_price=limit_price,
            time_in_force=time_in_force, post_only=post_only, reason=reason,
        )  # fmt: skip

    @classmethod
    def stop(
        cls,
        account_id: str,
        product_id: str,
        side: Side,
        base_size: Decimal,
        stop_price: Decimal,
        *,
        limit_price: Decimal | None = None,
        reason: str = "",
    ) -> OrderRequest:
        """A buy stop triggers when the market rises to `stop_price`, a sell stop when it falls to it."""
        return cls(
            account_id, product_id, side, OrderType.STOP, base_size, limit_price=limit_price,
            stop_price=stop_price, reason=reason,
        )  # fmt: skip

    def triggered(self) -> OrderRequest:
        """What a stop order becomes once triggered: a limit order at its limit price, else a market order."""
        if self.limit_price is None:
            return OrderRequest.market(
                self.account_id, self.product_id, self.side, base_size=self.base_size, reason=self.reason
            )
        return OrderRequest.limit(
            self.account_id, self.product_id, self.side, self.base_size or ZERO, self.limit_price, reason=self.reason
        )


@dataclass(frozen=True, slots=True)
class Fill:
    """One execution: `size` at `price`, worth `value` and costing `fee` (both quote currency, on the quote grid).

    `quote` is the top of the book the fill was made against; None for a fill at a price the engine gave
    (a bar's open or close, for parity with the backtest).
    """

    order_id: str
    account_id: str
    product_id: str
    side: Side
    price: Decimal
    size: Decimal
    value: Decimal
    fee: Decimal
    liquidity: Liquidity
    time: float
    quote: Quote | None
    reason: str = ""


@dataclass(slots=True, eq=False)
class Order:
    """An order a broker received, and what has happened to it since."""

    order_id: str
    request: OrderRequest
    created_time: float
    status: OrderStatus = OrderStatus.OPEN
    fills: list[Fill] = field(default_factory=list)
    rejection: Rejection | None = None
    cancel_message: str = ""
    filled_size: Decimal = ZERO
    filled_value: Decimal = ZERO
    notional: Decimal = ZERO
    """Σ size × price over the fills, unrounded: the size-weighted average price is exact from it."""
    fees: Decimal = ZERO

    @property
    def is_open(self) -> bool:
        return self.status is OrderStatus.OPEN

    @property
    def remaining_size(self) -> Decimal:
        """Base size still to fill (zero for a market buy sized in quote currency)."""
        return ZERO if self.request.base_size is None else self.request.base_size - self.filled_size

    @property
    def average_price(self) -> Decimal | None:
        return self.notional / self.filled_size if self.filled_size else None

    def record(self, fill: Fill) -> None:
        self.fills.append(fill)
        self.filled_size += fill.size
        self.filled_value += fill.value
        self.notional += fill.size * fill.price
        self.fees += fill.fee

    def reject(self, reason: RejectReason, message: str) -> Order:
        self.status = OrderStatus.REJECTED
        self.rejection = Rejection(reason, message)
        return self

    def cancel(self, message: str) -> Order:
        self.status = OrderStatus.CANCELLED
        self.cancel_message = message
        return self


def check_request(request: OrderRequest, grid: ProductIncrements) -> Rejection | None:
    """Why `request` cannot be placed on `grid` as it stands, or None when its shape, sizes and prices are fine."""
    problem = _shape_problem(request)
    if problem is not None:
        return Rejection(RejectReason.INVALID_ORDER, problem)
    name = f"{request.side.value} {request.type.value} order on {request.product_id}"
    if request.base_size is not None:
        problem = _size_problem(request.base_size, grid)
        if problem is not None:
            return Rejection(RejectReason.INVALID_SIZE, f"{name}: {problem}")
    if request.quote_size is not None:
        spend = request.quote_size
        if not (grid.quote_min_size <= spend <= grid.quote_max_size and is_multiple(spend, grid.quote_increment)):
            return Rejection(
                RejectReason.INVALID_SIZE,
                f"{name}: quote_size {spend} must be a multiple of {grid.quote_increment} between "
                f"{grid.quote_min_size} and {grid.quote_max_size}",
            )
    for label, price in (("limit_price", request.limit_price), ("stop_price", request.stop_price)):
        if price is not None and (price <= 0 or not is_multiple(price, grid.price_increment)):
            return Rejection(
                RejectReason.INVALID_PRICE,
                f"{name}: {label} {price} must be a positive multiple of the price increment {grid.price_increment}",
            )
    price = request.limit_price or request.stop_price
    if price is not None and request.base_size is not None:
        return value_problem(name, request.base_size, price, grid)
    return None


def value_problem(name: str, size: Decimal, price: Decimal, grid: ProductIncrements) -> Rejection | None:
    """Why an order of `size` priced at `price` is worth too little or too much for `grid`, or None."""
    value = size * price
    if grid.quote_min_size <= value <= grid.quote_max_size:
        return None
    return Rejection(
        RejectReason.INVALID_SIZE,
        f"{name}: worth {value} at {price}; orders must be worth between {grid.quote_min_size} and "
        f"{grid.quote_max_size}",
    )


def _shape_problem(request: OrderRequest) -> str | None:
    sizes = (request.base_size is not None) + (request.quote_size is not None)
    if sizes != 1:
        return "give exactly one of base_size and quote_size"
    if request.quote_size is not None and not (request.type is OrderType.MARKET and request.side is Side.BUY):
        return "only a market buy can be sized in quote currency (quote_size); give base_size"
    if request.type is OrderType.MARKET:
        if request.limit_price is not None or request.stop_price is not None:
            return "a market order takes no limit_price or stop_price"
        if request.time_in_force is not TimeInForce.IOC or request.post_only:
            return "a market order is immediate-or-cancel and cannot be post-only"
    elif request.type is OrderType.LIMIT:
        if request.limit_price is None or request.stop_price is not None:
            return "a limit order needs a limit_price and takes no stop_price"
        if request.post_only and request.time_in_force is not TimeInForce.GTC:
            return "post-only applies to good-till-cancelled limit orders only"
    else:
        if request.stop_price is None:
            return "a stop order needs a stop_price"
        if request.time_in_force is not TimeInForce.GTC or request.post_only:
            return "a stop order is good till cancelled and cannot be post-only"
    return None


def _size_problem(size: Decimal, grid: ProductIncrements) -> str | None:
    if not is_multiple(size, grid.base_increment):
        return f"base_size {size} is not a multiple of the base increment {grid.base_increment}"
    if not grid.base_min_size <= size <= grid.base_max_size or size <= 0:
        return f"base_size {size} must lie between {grid.base_min_size} and {grid.base_max_size}"
    return None

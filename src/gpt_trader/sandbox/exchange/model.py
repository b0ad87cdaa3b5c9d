"""What the matching engine works with: quotes, fee rates, validated requests, orders and fills.

Money is `Decimal` throughout. Prices and sizes sit on the product's increments (validated on entry);
amounts of quote currency are rounded to the quote increment, once per fill.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal, localcontext
from enum import StrEnum
from typing import Any, Protocol

from gpt_trader.sandbox.catalog import ProductSpec

ZERO = Decimal(0)
_AVERAGE_PRECISION = Decimal("1e-10")
_DECIMAL_TEXT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]{1,10})?")
MAX_DECIMAL_CHARS = 64


class Quote(Protocol):
    """The best bid and ask of a product, as the market replay publishes them."""

    @property
    def bid(self) -> Decimal: ...

    @property
    def ask(self) -> Decimal: ...

    @property
    def bid_size(self) -> Decimal: ...

    @property
    def ask_size(self) -> Decimal: ...


class Level(Protocol):
    """One price level of a book: the size shown at a price."""

    @property
    def price(self) -> Decimal: ...

    @property
    def size(self) -> Decimal: ...


class QuoteSource(Protocol):
    """Where the engine reads the market: a product's current quote (None before the market has one)
    and its book, bids and asks each best first. Both raise `LookupError` for a product the market does
    not trade at all."""

    def quote(self, product_id: str) -> Quote | None: ...

    def book(self, product_id: str) -> tuple[Sequence[Level], Sequence[Level]]: ...


@dataclass(frozen=True, slots=True)
class FeeRates:
    """Maker and taker fee rates; Coinbase's entry tier (under $10k of 30-day volume) by default."""

    maker: Decimal = Decimal("0.004")
    taker: Decimal = Decimal("0.006")


class Side(StrEnum):
    BUY = "BUY"
    SELL = "SELL"


class OrderStatus(StrEnum):
    PENDING = "PENDING"
    OPEN = "OPEN"
    FILLED = "FILLED"
    CANCELLED = "CANCELLED"
    EXPIRED = "EXPIRED"
    FAILED = "FAILED"

    @property
    def is_live(self) -> bool:
        return self in (OrderStatus.PENDING, OrderStatus.OPEN)


class Liquidity(StrEnum):
    MAKER = "MAKER"
    TAKER = "TAKER"


MARKET_IOC = "market_market_ioc"
SOR_LIMIT_IOC = "sor_limit_ioc"
LIMIT_GTC = "limit_limit_gtc"
LIMIT_GTD = "limit_limit_gtd"
LIMIT_FOK = "limit_limit_fok"

TIME_IN_FORCE = {
    MARKET_IOC: "IMMEDIATE_OR_CANCEL",
    SOR_LIMIT_IOC: "IMMEDIATE_OR_CANCEL",
    LIMIT_GTC: "GOOD_UNTIL_CANCELLED",
    LIMIT_GTD: "GOOD_UNTIL_DATE_TIME",
    LIMIT_FOK: "FILL_OR_KILL",
}
"""The order configurations the sandbox executes, with their time in force."""


def round_to(amount: Decimal, increment: Decimal, rounding: str = ROUND_HALF_UP) -> Decimal:
    """`amount` as a whole number of `increment`s (increments need not be powers of ten)."""
    return (amount / increment).to_integral_value(rounding=rounding) * increment


def floor_to(amount: Decimal, increment: Decimal) -> Decimal:
    return round_to(amount, increment, ROUND_DOWN)


def is_multiple(amount: Decimal, increment: Decimal) -> bool:
    # Exactly, even for amounts with more digits than the default 28-digit context keeps.
    with localcontext(prec=200):
        return amount % increment == 0


def strict_decimal(text: str) -> Decimal | None:
    """`text` as a Decimal when it is a plain decimal number (`0.01`, `-5`, `1e-3`), else None.

    Stricter than `Decimal(text)`, which also takes surrounding spaces, `_` between digits, non-ASCII
    digits, `NaN` and `Infinity`; none of those is a number a client means to send.
    """
    if len(text) > MAX_DECIMAL_CHARS or not _DECIMAL_TEXT.fullmatch(text):
        return None
    return Decimal(text)


def utc_now() -> datetime:
    return datetime.now(UTC)


def rfc3339(moment: datetime) -> str:
    """`2026-08-09T21:05:48.298032Z`: the UTC form Coinbase uses for order and fill times.

    Not `market.rfc3339` (float seconds, nanoseconds): going through a float timestamp could turn
    .298032 into .298031, and the exchange does not depend on the market replay.
    """
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """A create-order body that passed validation: sizes and prices on the product's grid.

    Exactly one of `base_size` and `quote_size` is set (`quote_size` only for a market order).
    `configuration` is the `order_configuration` as the client sent it, echoed back in responses.
    """

    client_order_id: str
    product: ProductSpec
    side: Side
    kind: str
    configuration: dict[str, Any]
    base_size: Decimal | None = None
    quote_size: Decimal | None = None
    limit_price: Decimal | None = None
    post_only: bool = False
    end_time: datetime | None = None

    @property
    def is_market(self) -> bool:
        return self.kind == MARKET_IOC

    @property
    def rests(self) -> bool:
        """Whether what does not fill on arrival waits in the book (GTC, GTD) rather than being cancelled."""
        return self.kind in (LIMIT_GTC, LIMIT_GTD)

    @property
    def time_in_force(self) -> str:
        return TIME_IN_FORCE[self.kind]

    @property
    def order_type(self) -> str:
        return "MARKET" if self.is_market else "LIMIT"

    @property
    def funding_currency(self) -> str:
        """What the order spends and holds: the quote currency for a buy, the base currency for a sell."""
        return self.product.quote_currency if self.side is Side.BUY else self.product.base_currency


@dataclass(frozen=True, slots=True)
class Fill:
    """One execution of an order. `value` is size × price rounded to the quote increment;
    `commission` is the fee on `value`, in quote currency, rounded likewise."""

    sequence: int
    """Order of execution across the exchange (the fills list pages by it)."""
    entry_id: str
    trade_id: str
    order_id: str
    key_name: str
    user_id: str
    product_id: str
    side: Side
    price: Decimal
    size: Decimal
    value: Decimal
    commission: Decimal
    liquidity: Liquidity
    time: datetime


@dataclass(slots=True, eq=False)
class Order:
    """An order the engine accepted, and what has happened to it since."""

    sequence: int
    """Order of arrival across the exchange (the orders list pages by it)."""
    order_id: str
    key_name: str
    user_id: str
    request: OrderRequest
    created_time: datetime
    status: OrderStatus = OrderStatus.PENDING
    filled_size: Decimal = ZERO
    filled_value: Decimal = ZERO
    notional: Decimal = ZERO
    """Sum of size × price over the fills, unrounded: the base of the average fill price."""
    total_fees: Decimal = ZERO
    hold: Decimal = ZERO
    """What this order still holds: quote currency for a buy, base currency for a sell."""
    fills: list[Fill] = field(default_factory=list)
    last_fill_time: datetime | None = None
    cancel_message: str = ""
    reject_reason: str = ""
    reject_message: str = ""
    marketable: bool = False
    """Still crossing the book after arrival: it keeps taking the book on each quote, as taker, until a
    quote no longer crosses its limit; only then does it rest (and later fill as maker)."""

    @property
    def product(self) -> ProductSpec:
        return self.request.product

    @property
    def side(self) -> Side:
        return self.request.side

    @property
    def remaining_size(self) -> Decimal:
        """Base size still to fill (zero for a market order sized in quote currency once it is done)."""
        if self.request.base_size is None:
            return ZERO
        return self.request.base_size - self.filled_size

    @property
    def average_price(self) -> Decimal:
        """The size-weighted fill price: exact when it lies on the price grid, else to 10 decimals."""
        if not self.filled_size:
            return ZERO
        average = self.notional / self.filled_size
        on_grid = average.quantize(self.product.price_increment)
        return on_grid if on_grid == average else average.quantize(_AVERAGE_PRECISION)

    @property
    def value_after_fees(self) -> Decimal:
        """What the buyer paid in all, or what the seller received net of fees."""
        if self.side is Side.BUY:
            return self.filled_value + self.total_fees
        return self.filled_value - self.total_fees

    @property
    def completion(self) -> Decimal:
        """Percent done: of the base size, or of the quote size for a market buy sized in quote."""
        if self.request.quote_size is not None:
            return self.value_after_fees / self.request.quote_size * 100
        size = self.request.base_size
        return self.filled_size / size * 100 if size else ZERO

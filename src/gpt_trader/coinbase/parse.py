"""Typed decoding of Coinbase's REST payloads: public market data, then accounts, orders and fills.

Coinbase writes every decimal, and candle times, as JSON strings (`"65083.67"`, `"1712192400"`),
and an absent optional value as `""` or null. Decimals become `Decimal` (exact, for the order path);
candle values become floats (they feed float64 arrays). A payload without the documented shape
raises `MalformedResponse` naming the endpoint and the field.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

import msgspec

from gpt_trader.coinbase import constants
from gpt_trader.coinbase.errors import MalformedResponse
from gpt_trader.errors import UserError

T = TypeVar("T")


class Candle(msgspec.Struct, frozen=True):
    """One candle as Coinbase sends it; `start` is the bucket's open time in Unix seconds."""

    start: int
    low: float
    high: float
    open: float
    close: float
    volume: float


class _CandlesResponse(msgspec.Struct, frozen=True):
    candles: list[Candle]


# strict=False lets msgspec read the numbers Coinbase sends as strings.
_candles_decoder = msgspec.json.Decoder(_CandlesResponse, strict=False)


def decode_candles(body: bytes) -> list[Candle]:
    """The candles of a `/candles` response, in the order sent (newest first)."""
    try:
        return _candles_decoder.decode(body).candles
    except msgspec.DecodeError as error:
        raise MalformedResponse("candles response", str(error)) from None


@dataclass(frozen=True)
class ServerTime:
    iso: datetime
    epoch_seconds: int
    epoch_millis: int


@dataclass(frozen=True)
class Product:
    """A product's listing: identity, order grid and trading status (the fields GPT-Trader uses)."""

    product_id: str
    price: Decimal | None
    price_percentage_change_24h: Decimal | None
    volume_24h: Decimal | None
    base_increment: Decimal
    quote_increment: Decimal
    price_increment: Decimal
    base_min_size: Decimal
    base_max_size: Decimal
    quote_min_size: Decimal
    quote_max_size: Decimal
    status: str
    trading_disabled: bool
    cancel_only: bool
    limit_only: bool
    post_only: bool
    auction_mode: bool
    product_type: str
    base_currency_id: str
    quote_currency_id: str
    alias: str
    alias_to: tuple[str, ...]
    display_name: str


@dataclass(frozen=True)
class Trade:
    trade_id: str
    product_id: str
    price: Decimal
    size: Decimal
    time: datetime
    side: str
    bid: Decimal | None
    ask: Decimal | None
    exchange: str


@dataclass(frozen=True)
class Ticker:
    """Recent trades of a product (newest first) and the best bid and ask."""

    trades: tuple[Trade, ...]
    best_bid: Decimal | None
    best_ask: Decimal | None


@dataclass(frozen=True)
class PriceLevel:
    price: Decimal
    size: Decimal


@dataclass(frozen=True)
class ProductBook:
    """The top of a product's order book: bids best (highest) first, asks best (lowest) first."""

    product_id: str
    bids: tuple[PriceLevel, ...]
    asks: tuple[PriceLevel, ...]
    time: datetime
    last: Decimal | None
    mid_market: Decimal | None
    spread_bps: Decimal | None
    spread_absolute: Decimal | None


def decode_json(body: bytes, what: str) -> dict[str, Any]:
    """The JSON object of a response body."""
    try:
        document = msgspec.json.decode(body)
    except msgspec.DecodeError as error:
        raise MalformedResponse(what, f"not JSON ({error})") from None
    if not isinstance(document, dict):
        raise MalformedResponse(what, f"expected a JSON object, got {type(document).__name__}")
    return document


def parse_server_time(document: dict[str, Any]) -> ServerTime:
    fields = _Fields(document, "server time")
    return ServerTime(
        fields.time("iso"), fields.integer("epochSeconds"), fields.integer("epochMillis")
    )


def parse_products(document: dict[str, Any]) -> list[Product]:
    """The products of a `/market/products` response."""
    return [parse_product(item) for item in _Fields(document, "products list").items("products")]


def parse_product(document: dict[str, Any]) -> Product:
    fields = _Fields(document, "product")
    fields.what = f"product {fields.text('product_id')}"
    alias_to = document.get("alias_to") or []
    if not isinstance(alias_to, list):
        raise MalformedResponse(fields.what, f"alias_to is {alias_to!r}, not a list")
    return Product(
        product_id=fields.text("product_id"),
        price=fields.optional_decimal("price"),
        price_percentage_change_24h=fields.optional_decimal("price_percentage_change_24h"),
        volume_24h=fields.optional_decimal("volume_24h"),
        base_increment=fields.decimal("base_increment"),
        quote_increment=fields.decimal("quote_increment"),
        price_increment=fields.decimal("price_increment"),
        base_min_size=fields.decimal("base_min_size"),
        base_max_size=fields.decimal("base_max_size"),
        quote_min_size=fields.decimal("quote_min_size"),
        quote_max_size=fields.decimal("quote_max_size"),
        status=fields.text("status", required=False),
        trading_disabled=fields.flag("trading_disabled"),
        cancel_only=fields.flag("cancel_only"),
        limit_only=fields.flag("limit_only"),
        post_only=fields.flag("post_only"),
        auction_mode=fields.flag("auction_mode"),
        product_type=fields.text("product_type"),
        base_currency_id=fields.text("base_currency_id", required=False),
        quote_currency_id=fields.text("quote_currency_id", required=False),
        alias=fields.text("alias", required=False),
        alias_to=tuple(str(name) for name in alias_to),
        display_name=fields.text("display_name", required=False),
    )


def parse_ticker(document: dict[str, Any]) -> Ticker:
    fields = _Fields(document, "ticker")
    return Ticker(
        trades=tuple(_parse_trade(item) for item in fields.items("trades")),
        best_bid=fields.optional_decimal("best_bid"),
        best_ask=fields.optional_decimal("best_ask"),
    )


def _parse_trade(document: dict[str, Any]) -> Trade:
    fields = _Fields(document, "ticker trade")
    return Trade(
        trade_id=fields.text("trade_id"),
        product_id=fields.text("product_id"),
        price=fields.decimal("price"),
        size=fields.decimal("size"),
        time=fields.time("time"),
        side=fields.text("side"),
        bid=fields.optional_decimal("bid"),
        ask=fields.optional_decimal("ask"),
        exchange=fields.text("exchange", required=False),
    )


def parse_product_book(document: dict[str, Any]) -> ProductBook:
    outer = _Fields(document, "product book")
    pricebook = document.get("pricebook")
    if not isinstance(pricebook, dict):
        raise MalformedResponse("product book", "field pricebook is missing or not an object")
    book = _Fields(pricebook, "product book")
    return ProductBook(
        product_id=book.text("product_id"),
        bids=tuple(_parse_level(item) for item in book.items("bids")),
        asks=tuple(_parse_level(item) for item in book.items("asks")),
        time=book.time("time"),
        last=outer.optional_decimal("last"),
        mid_market=outer.optional_decimal("mid_market"),
        spread_bps=outer.optional_decimal("spread_bps"),
        spread_absolute=outer.optional_decimal("spread_absolute"),
    )


def _parse_level(document: dict[str, Any]) -> PriceLevel:
    fields = _Fields(document, "product book level")
    return PriceLevel(fields.decimal("price"), fields.decimal("size"))


class _Fields:
    """Reads typed fields of one JSON object, naming the object and field in every error."""

    def __init__(self, document: dict[str, Any], what: str) -> None:
        if not isinstance(document, dict):
            raise MalformedResponse(what, f"expected a JSON object, got {type(document).__name__}")
        self.document = document
        self.what = what

    def _value(self, key: str) -> Any:
        if key not in self.document:
            raise MalformedResponse(self.what, f"field {key} is missing")
        return self.document[key]

    def text(self, key: str, required: bool = True) -> str:
        value = self._value(key) if required else self.document.get(key)
        if value is None and not required:
            return ""
        if not isinstance(value, str) or (required and not value):
            raise MalformedResponse(self.what, f"field {key} is {value!r}, not a non-empty string")
        return value

    def decimal(self, key: str) -> Decimal:
        value = self._value(key)
        try:
            number = Decimal(value) if isinstance(value, str | int) else None
        except InvalidOperation:
            number = None
        if number is None or not number.is_finite():
            raise MalformedResponse(self.what, f"field {key} is {value!r}, not a decimal")
        return number

    def optional_decimal(self, key: str) -> Decimal | None:
        """A decimal, or None where Coinbase leaves the value empty (`""`, null or absent)."""
        if self.document.get(key) in ("", None):
            return None
        return self.decimal(key)

    def integer(self, key: str) -> int:
        value = self._value(key)
        try:
            return int(value)
        except (TypeError, ValueError):
            raise MalformedResponse(self.what, f"field {key} is {value!r}, not an integer") from None

    def flag(self, key: str) -> bool:
        value = self.document.get(key, False)
        if not isinstance(value, bool):
            raise MalformedResponse(self.what, f"field {key} is {value!r}, not true or false")
        return value

    def time(self, key: str) -> datetime:
        value = self._value(key)
        try:
            return datetime.fromisoformat(value)
        except (TypeError, ValueError):
            raise MalformedResponse(self.what, f"field {key} is {value!r}, not an RFC 3339 time") from None

    def items(self, key: str) -> list[dict[str, Any]]:
        value = self._value(key)
        if not isinstance(value, list):
            raise MalformedResponse(self.what, f"field {key} is not a list")
        return value


# -- authenticated endpoints -------------------------------------------------------------------
#
# These payloads are decoded with msgspec: money becomes Decimal, times datetime, and numbers sent
# as strings ("2") their type. Fields beyond the identity of a record have defaults, unknown fields
# are ignored, and enumerations (status, order_type, ...) stay text so a new value never breaks a
# client. Coinbase writes an absent decimal or time as "" or null; both read as None.


class Balance(msgspec.Struct, frozen=True):
    value: Decimal
    currency: str


class Account(msgspec.Struct, frozen=True):
    """One currency wallet: what is available to trade, and what open orders hold."""

    uuid: str
    currency: str
    available_balance: Balance
    hold: Balance | None = None
    name: str = ""
    default: bool = False
    active: bool = True
    type: str = ""
    ready: bool = True
    created_at: datetime | None = None
    updated_at: datetime | None = None
    deleted_at: datetime | None = None
    retail_portfolio_id: str = ""


class AccountsPage(msgspec.Struct, frozen=True):
    """One page of accounts; pass `cursor` back for the next while `has_next`."""

    accounts: list[Account]
    has_next: bool = False
    cursor: str = ""
    size: int = 0


class Order(msgspec.Struct, frozen=True):
    """An order as `GET /orders/historical/...` reports it."""

    order_id: str
    product_id: str
    side: str
    status: str
    client_order_id: str = ""
    user_id: str = ""
    order_configuration: dict[str, dict[str, Any]] = msgspec.field(default_factory=dict)
    order_type: str = ""
    time_in_force: str = ""
    created_time: datetime | None = None
    last_fill_time: datetime | None = None
    completion_percentage: Decimal | None = None
    filled_size: Decimal | None = None
    average_filled_price: Decimal | None = None
    filled_value: Decimal | None = None
    number_of_fills: int = 0
    fee: Decimal | None = None
    total_fees: Decimal | None = None
    total_value_after_fees: Decimal | None = None
    outstanding_hold_amount: Decimal | None = None
    size_in_quote: bool = False
    size_inclusive_of_fees: bool = False
    pending_cancel: bool = False
    settled: bool = False
    trigger_status: str = ""
    reject_reason: str = ""
    reject_message: str = ""
    cancel_message: str = ""
    product_type: str = ""
    order_placement_source: str = ""

    @property
    def is_open(self) -> bool:
        """True while the order may still trade (pending, open or queued)."""
        return self.status in constants.OPEN_ORDER_STATUSES


class OrdersPage(msgspec.Struct, frozen=True):
    orders: list[Order]
    has_next: bool = False
    cursor: str = ""
    sequence: int = 0


class Fill(msgspec.Struct, frozen=True):
    """One execution of an order; `commission` is charged in the quote currency."""

    trade_id: str
    order_id: str
    product_id: str
    price: Decimal
    size: Decimal
    commission: Decimal
    trade_time: datetime
    side: str = ""
    entry_id: str = ""
    trade_type: str = ""
    liquidity_indicator: str = ""
    sequence_timestamp: datetime | None = None
    size_in_quote: bool = False
    user_id: str = ""


class FillsPage(msgspec.Struct, frozen=True):
    """One page of fills; an empty `cursor` means there is no next page."""

    fills: list[Fill]
    cursor: str = ""


class CreatedOrder(msgspec.Struct, frozen=True):
    """An order Coinbase accepted (or, for a repeated `client_order_id`, the order it accepted before)."""

    order_id: str
    product_id: str
    side: str
    client_order_id: str
    order_configuration: dict[str, dict[str, Any]] = msgspec.field(default_factory=dict)


class CancelResult(msgspec.Struct, frozen=True):
    order_id: str
    success: bool
    failure_reason: str = ""


class OrderPreview(msgspec.Struct, frozen=True):
    """What an order would cost; `errs` lists why it would fail (empty when it would go through)."""

    order_total: Decimal | None = None
    commission_total: Decimal | None = None
    quote_size: Decimal | None = None
    base_size: Decimal | None = None
    best_bid: Decimal | None = None
    best_ask: Decimal | None = None
    slippage: Decimal | None = None
    is_max: bool = False
    errs: list[str] = msgspec.field(default_factory=list)
    warning: list[str] = msgspec.field(default_factory=list)
    preview_id: str = ""


class FeeTier(msgspec.Struct, frozen=True):
    pricing_tier: str = ""
    usd_from: Decimal | None = None
    usd_to: Decimal | None = None
    taker_fee_rate: Decimal | None = None
    maker_fee_rate: Decimal | None = None


class TransactionSummary(msgspec.Struct, frozen=True):
    """The account's 30-day volume and fees, and the fee tier (maker and taker rates) they earn."""

    fee_tier: FeeTier
    total_volume: Decimal | None = None
    total_fees: Decimal | None = None


class OrderRejected(UserError):
    """Coinbase refused an order (HTTP 200 with `success: false`): `error` is its code, such as
    `INSUFFICIENT_FUND` or `INVALID_SIZE_PRECISION`."""

    def __init__(
        self,
        error: str,
        message: str,
        details: str = "",
        preview_failure_reason: str = "",
        new_order_failure_reason: str = "",
        *,
        client_order_id: str = "",
    ) -> None:
        self.error = error
        self.message = message
        self.details = details
        self.preview_failure_reason = preview_failure_reason
        self.new_order_failure_reason = new_order_failure_reason
        self.client_order_id = client_order_id
        which = f" {client_order_id}" if client_order_id else ""
        reasons = [text for text in (details, preview_failure_reason, new_order_failure_reason) if text]
        extra = f" ({'; '.join(reasons)})" if reasons else ""
        super().__init__(f"Coinbase refused order{which}: {error}: {message or 'no message'}{extra}")


class _AccountResponse(msgspec.Struct, frozen=True):
    account: Account


class _OrderResponse(msgspec.Struct, frozen=True):
    order: Order


class _CancelResponse(msgspec.Struct, frozen=True):
    results: list[CancelResult]


class _CreateFailure(msgspec.Struct, frozen=True):
    error: str = ""
    message: str = ""
    error_details: str = ""
    preview_failure_reason: str = ""
    new_order_failure_reason: str = ""


class _CreateResponse(msgspec.Struct, frozen=True):
    success: bool
    success_response: CreatedOrder | None = None
    order_configuration: dict[str, dict[str, Any]] | None = None
    failure_reason: str = ""
    error_response: _CreateFailure | None = None


def parse_accounts(document: dict[str, Any]) -> AccountsPage:
    return _convert(document, AccountsPage, "accounts list")


def parse_account(document: dict[str, Any]) -> Account:
    return _convert(document, _AccountResponse, "account").account


def parse_order(document: dict[str, Any]) -> Order:
    return _convert(document, _OrderResponse, "order").order


def parse_orders(document: dict[str, Any]) -> OrdersPage:
    return _convert(document, OrdersPage, "orders list")


def parse_fills(document: dict[str, Any]) -> FillsPage:
    return _convert(document, FillsPage, "fills list")


def parse_cancel_results(document: dict[str, Any]) -> list[CancelResult]:
    return _convert(document, _CancelResponse, "cancel orders response").results


def parse_order_preview(document: dict[str, Any]) -> OrderPreview:
    return _convert(document, OrderPreview, "order preview")


def parse_transaction_summary(document: dict[str, Any]) -> TransactionSummary:
    return _convert(document, TransactionSummary, "transaction summary")


def parse_created_order(document: dict[str, Any], client_order_id: str = "") -> CreatedOrder:
    """The order a create-order response accepted; `OrderRejected` when it says `success: false`."""
    response = _convert(document, _CreateResponse, "create order response")
    if response.success and response.success_response is not None:
        created = response.success_response
        if response.order_configuration and not created.order_configuration:
            created = msgspec.structs.replace(created, order_configuration=response.order_configuration)
        return created
    if response.success:
        raise MalformedResponse("create order response", "success is true but success_response is missing")
    failure = response.error_response or _CreateFailure()
    raise OrderRejected(
        failure.error or response.failure_reason or "UNKNOWN_FAILURE_REASON",
        failure.message,
        failure.error_details,
        failure.preview_failure_reason,
        failure.new_order_failure_reason,
        client_order_id=client_order_id,
    )


def _optional_value_fields(*kinds: type[msgspec.Struct]) -> frozenset[str]:
    """Names of the optional decimal and time fields of `kinds`, where an empty string means absent."""
    names = set()
    for kind in kinds:
        for field in msgspec.structs.fields(kind):
            if field.type in (Decimal | None, datetime | None):
                names.add(field.encode_name)
    return frozenset(names)


_BLANK_IS_NONE = _optional_value_fields(Account, Order, Fill, OrderPreview, FeeTier, TransactionSummary)


def _blank_to_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            key: None if item == "" and key in _BLANK_IS_NONE else _blank_to_none(item) for key, item in value.items()
        }
    if isinstance(value, list):
        return [_blank_to_none(item) for item in value]
    return value


def _convert(document: dict[str, Any], kind: type[T], what: str) -> T:
    try:
        return msgspec.convert(_blank_to_none(document), kind, strict=False)
    except msgspec.ValidationError as error:
        raise MalformedResponse(what, str(error)) from None

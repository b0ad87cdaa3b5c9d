"""Typed decoding of Coinbase's public REST payloads: candles, products, ticker, order book.

Accounts, orders and fills are in `coinbase.orders`.

Coinbase writes every decimal, and candle times, as JSON strings (`"65083.67"`, `"1712192400"`),
and an absent optional value as `""` or null. Decimals become `Decimal` (exact, for the order path);
candle values become floats (they feed float64 arrays). A payload without the documented shape
raises `MalformedResponse` naming the endpoint and the field.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import msgspec

from gpt_trader.coinbase.errors import MalformedResponse


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

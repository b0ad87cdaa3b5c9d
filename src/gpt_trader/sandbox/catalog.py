"""The sandbox's product catalogue: which products it trades and on which order grid.

The sandbox impersonates Coinbase, so it keeps its own copy of the Product shape (section 4 of the Coinbase
facts) rather than borrowing the client's: a test that pits client against sandbox only proves something if
each follows the facts on its own. `Catalog.default()` is a built-in set of the usual USD pairs with the real
increments of 2026-08-09; `Catalog.from_payload()` reads a recorded products list such as the real one.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from gpt_trader.errors import DataError

LEGACY_NAMES = {"MATIC-USD": "POL-USD"}
"""Products our data still names by a retired ticker (MATIC became POL), served on the new product's grid."""


def decimal_text(value: Decimal) -> str:
    """A decimal as Coinbase writes it: a plain string, never an exponent (`0.00000001`, not `1E-8`).

    Trailing zeros stay, as in Coinbase's order and account payloads (`"10000.50"`); market data drops
    them (`market.decimal_text`).
    """
    return format(value, "f")


class UnknownProductError(LookupError):
    """The catalogue has no product of that id."""

    def __init__(self, product_id: str) -> None:
        super().__init__(f"unknown product {product_id!r}")
        self.product_id = product_id


@dataclass(frozen=True, slots=True)
class ProductSpec:
    """One product's identity, order grid and trading state.

    Sizes must be multiples of `base_increment` within [`base_min_size`, `base_max_size`]; prices multiples of
    `price_increment`; an order's value in quote currency within [`quote_min_size`, `quote_max_size`] and a
    multiple of `quote_increment` when it is given in quote (a market buy's `quote_size`).
    """

    product_id: str
    base_currency: str
    quote_currency: str
    base_increment: Decimal
    quote_increment: Decimal
    price_increment: Decimal
    base_min_size: Decimal
    base_max_size: Decimal
    quote_min_size: Decimal
    quote_max_size: Decimal
    base_name: str = ""
    quote_name: str = ""
    status: str = "online"
    trading_disabled: bool = False
    cancel_only: bool = False
    limit_only: bool = False
    post_only: bool = False
    auction_mode: bool = False
    product_type: str = "SPOT"
    alias: str = ""
    alias_to: tuple[str, ...] = ()

    @property
    def accepts_new_orders(self) -> bool:
        """Whether a new order may be placed (cancelling is always allowed)."""
        return self.status == "online" and not (self.trading_disabled or self.cancel_only)

    def to_payload(
        self,
        price: Decimal | None = None,
        volume_24h: Decimal | None = None,
        price_percentage_change_24h: Decimal | None = None,
    ) -> dict[str, Any]:
        """The Product JSON object of `GET /market/products/{id}`: every decimal a string, "" when unknown.

        The market fields come from the replay (the catalogue knows only the grid), so callers pass them in.
        """

        def optional(value: Decimal | None) -> str:
            return "" if value is None else decimal_text(value)

        return {
            "product_id": self.product_id,
            "price": optional(price),
            "price_percentage_change_24h": optional(price_percentage_change_24h),
            "volume_24h": optional(volume_24h),
            "volume_percentage_change_24h": "",
            "base_increment": decimal_text(self.base_increment),
            "quote_increment": decimal_text(self.quote_increment),
            "quote_min_size": decimal_text(self.quote_min_size),
            "quote_max_size": decimal_text(self.quote_max_size),
            "base_min_size": decimal_text(self.base_min_size),
            "base_max_size": decimal_text(self.base_max_size),
            "base_name": self.base_name,
            "quote_name": self.quote_name,
            "watched": False,
            "is_disabled": False,
            "new": False,
            "status": self.status,
            "cancel_only": self.cancel_only,
            "limit_only": self.limit_only,
            "post_only": self.post_only,
            "trading_disabled": self.trading_disabled,
            "auction_mode": self.auction_mode,
            "product_type": self.product_type,
            "quote_currency_id": self.quote_currency,
            "base_currency_id": self.base_currency,
            "fcm_trading_session_details": None,
            "mid_market_price": "",
            "alias": self.alias,
            "alias_to": list(self.alias_to),
            "base_display_symbol": self.base_currency,
            "quote_display_symbol": self.quote_currency,
            "view_only": False,
            "price_increment": decimal_text(self.price_increment),
            "display_name": self.product_id,
            "product_venue": "CBE",
            "approximate_quote_24h_volume": "",
        }

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> ProductSpec:
        """Read one Product object; raises KeyError, TypeError or ValueError (the caller names the file)."""

        def number(field: str) -> Decimal:
            text = payload[field]
            try:
                value = Decimal(str(text))
            except InvalidOperation:
                raise ValueError(f"{field} is {text!r}, not a decimal") from None
            if not value.is_finite() or value < 0:
                raise ValueError(f"{field} is {text!r}, not a finite non-negative decimal")
            return value

        increments = {field: number(field) for field in ("base_increment", "quote_increment", "price_increment")}
        for field, value in increments.items():
            if value == 0:
                raise ValueError(f"{field} is zero")
        alias_to = payload.get("alias_to") or ()
        return cls(
            product_id=str(payload["product_id"]),
            base_currency=str(payload["base_currency_id"]),
            quote_currency=str(payload["quote_currency_id"]),
            base_min_size=number("base_min_size"),
            base_max_size=number("base_max_size"),
            quote_min_size=number("quote_min_size"),
            quote_max_size=number("quote_max_size"),
            base_name=str(payload.get("base_name") or ""),
            quote_name=str(payload.get("quote_name") or ""),
            status=str(payload.get("status") or "online"),
            trading_disabled=bool(payload.get("trading_disabled", False)),
            cancel_only=bool(payload.get("cancel_only", False)),
            limit_only=bool(payload.get("limit_only", False)),
            post_only=bool(payload.get("post_only", False)),
            auction_mode=bool(payload.get("auction_mode", False)),
            product_type=str(payload.get("product_type") or "SPOT"),
            alias=str(payload.get("alias") or ""),
            alias_to=tuple(str(name) for name in alias_to),
            **increments,
        )


def _usd_pair(
    base: str, name: str, base_increment: str, price_increment: str, base_max: str, quote_max: str
) -> ProductSpec:
    return ProductSpec(
        product_id=f"{base}-USD",
        base_currency=base,
        quote_currency="USD",
        base_increment=Decimal(base_increment),
        quote_increment=Decimal(price_increment),
        price_increment=Decimal(price_increment),
        base_min_size=Decimal(base_increment),
        base_max_size=Decimal(base_max),
        quote_min_size=Decimal("1"),
        quote_max_size=Decimal(quote_max),
        base_name=name,
        quote_name="US Dollar",
        alias_to=(f"{base}-USDC",),
    )


# The usual USD pairs as listed by Coinbase on 2026-08-09 (the real products list).
_DEFAULT_PRODUCTS = (
    _usd_pair("BTC", "Bitcoin", "0.00000001", "0.01", "3400", "150000000"),
    _usd_pair("ETH", "Ethereum", "0.00000001", "0.01", "42000", "150000000"),
    _usd_pair("SOL", "Solana", "0.00000001", "0.01", "1274000", "25000000"),
    _usd_pair("LTC", "Litecoin", "0.00000001", "0.01", "122300", "10000000"),
    _usd_pair("LINK", "Chainlink", "0.01", "0.001", "1503100", "10000000"),
    _usd_pair("DOGE", "Dogecoin", "0.1", "0.00001", "141834300", "10000000"),
    _usd_pair("POL", "Polygon Ecosystem Token", "0.01", "0.0001", "26020434.1101275086295123", "10000000"),
)


class Catalog:
    """The products the sandbox lists and trades, by product id, in listing order."""

    def __init__(self, products: Iterable[ProductSpec]) -> None:
        self._products: dict[str, ProductSpec] = {}
        for product in products:
            if product.product_id in self._products:
                raise ValueError(f"product {product.product_id} is listed twice")
            self._products[product.product_id] = product

    @classmethod
    def default(cls) -> Catalog:
        """The built-in USD pairs (BTC, ETH, SOL, LTC, LINK, DOGE, POL) plus MATIC-USD on POL's grid."""
        return cls(_with_legacy_names(_DEFAULT_PRODUCTS))

    @classmethod
    def from_payload(cls, path: Path | str) -> Catalog:
        """Read a products payload (`{"products": [...]}` or a bare list; `.gz` or plain JSON).

        A retired name our data still uses (MATIC-USD) is added on its successor's grid when the payload has
        the successor but not the old name, so replays of older data can still trade.
        """
        source = Path(path)
        try:
            raw = gzip.decompress(source.read_bytes()) if source.suffix == ".gz" else source.read_bytes()
            document = json.loads(raw)
        except FileNotFoundError:
            raise DataError(f"products file {source} does not exist; pass the path of a products payload") from None
        except (OSError, ValueError) as error:
            raise DataError(f"products file {source} is not readable JSON ({error})") from None
        entries = document.get("products") if isinstance(document, dict) else document
        if not isinstance(entries, list) or not entries:
            raise DataError(f"products file {source} has no product list: expected {{'products': [...]}} or a list")
        products = []
        for index, entry in enumerate(entries):
            try:
                if not isinstance(entry, Mapping):
                    raise TypeError("not a JSON object")
                products.append(ProductSpec.from_payload(entry))
            except KeyError as missing:
                raise DataError(f"products file {source}: product #{index} lacks the field {missing}") from None
            except (TypeError, ValueError) as error:
                name = entry.get("product_id", "?") if isinstance(entry, Mapping) else "?"
                raise DataError(f"products file {source}: product #{index} ({name}): {error}") from None
        try:
            return cls(_with_legacy_names(products))
        except ValueError as error:
            raise DataError(f"products file {source}: {error}") from None

    def get(self, product_id: str) -> ProductSpec:
        """The product of that id; raises `UnknownProductError`."""
        try:
            return self._products[product_id]
        except KeyError:
            raise UnknownProductError(product_id) from None

    def find(self, product_id: str) -> ProductSpec | None:
        return self._products.get(product_id)

    @property
    def product_ids(self) -> list[str]:
        return list(self._products)

    def currencies(self) -> list[str]:
        """Every base and quote currency traded here, sorted."""
        return sorted({p.base_currency for p in self} | {p.quote_currency for p in self})

    def __contains__(self, product_id: object) -> bool:
        return product_id in self._products

    def __iter__(self) -> Iterator[ProductSpec]:
        return iter(self._products.values())

    def __len__(self) -> int:
        return len(self._products)


def _with_legacy_names(products: Iterable[ProductSpec]) -> list[ProductSpec]:
    listed = list(products)
    by_id = {product.product_id: product for product in listed}
    for old_name, new_name in LEGACY_NAMES.items():
        successor = by_id.get(new_name)
        if successor is not None and old_name not in by_id:
            old_base = old_name.split("-")[0]
            listed.append(replace(successor, product_id=old_name, base_currency=old_base, alias="", alias_to=()))
    return listed

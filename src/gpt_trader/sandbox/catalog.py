"""The sandbox's product catalogue: which products it trades and on which order grid.

The sandbox impersonates Coinbase, so it reads the Product shape (section 4 of the Coinbase facts) with its
own code rather than the client's: a test that pits client against sandbox only proves something if each
follows the facts on its own. The facts themselves are written once, in `coinbase.constants`: `Catalog.default()`
reads the usual USD pairs as Coinbase listed them on 2026-08-09 (the recorded payload `USD_PAIRS_FILE`), and
renamed products follow `RENAMED_PRODUCTS`; tests hold both to the real products list.
`Catalog.from_payload()` reads any recorded products list, such as the real one.

Like Coinbase, the catalogue lists a renamed product under its new name only (POL-USD) and accepts the old
name (MATIC-USD) wherever a product is looked up, answering with the product as listed.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from gpt_trader.coinbase.constants import RENAMED_PRODUCTS, USD_PAIRS_FILE
from gpt_trader.errors import DataError


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


class Catalog:
    """The products the sandbox lists and trades, by product id, in listing order.

    A renamed product is listed under its new name; its old name finds it too (`find`, `get`, `in`).
    """

    def __init__(self, products: Iterable[ProductSpec]) -> None:
        self._products: dict[str, ProductSpec] = {}
        for product in products:
            if product.product_id in self._products:
                raise ValueError(f"product {product.product_id} is listed twice")
            self._products[product.product_id] = product
        self._old_names = {
            old: new for old, new in RENAMED_PRODUCTS.items() if new in self._products and old not in self._products
        }

    @classmethod
    def default(cls) -> Catalog:
        """The usual USD pairs (BTC, ETH, SOL, LTC, LINK, DOGE, POL) as Coinbase listed them on 2026-08-09."""
        return cls.from_payload(USD_PAIRS_FILE)

    @classmethod
    def from_payload(cls, path: Path | str) -> Catalog:
        """Read a products payload (`{"products": [...]}` or a bare list; `.gz` or plain JSON)."""
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
            return cls(products)
        except ValueError as error:
            raise DataError(f"products file {source}: {error}") from None

    def listed_name(self, product_id: str) -> str:
        """The id `product_id` is listed under: its new name if it was renamed (MATIC-USD -> POL-USD)."""
        return self._old_names.get(product_id, product_id)

    def get(self, product_id: str) -> ProductSpec:
        """The product of that id (or old name); raises `UnknownProductError`."""
        spec = self.find(product_id)
        if spec is None:
            raise UnknownProductError(product_id)
        return spec

    def find(self, product_id: str) -> ProductSpec | None:
        """The product of that id (or old name), or None."""
        return self._products.get(self.listed_name(product_id))

    @property
    def product_ids(self) -> list[str]:
        """The listed ids, in listing order (no old names)."""
        return list(self._products)

    def currencies(self) -> list[str]:
        """Every base and quote currency traded here, sorted."""
        return sorted({p.base_currency for p in self} | {p.quote_currency for p in self})

    def __contains__(self, product_id: object) -> bool:
        return isinstance(product_id, str) and self.find(product_id) is not None

    def __iter__(self) -> Iterator[ProductSpec]:
        return iter(self._products.values())

    def __len__(self) -> int:
        return len(self._products)

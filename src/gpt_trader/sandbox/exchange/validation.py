"""Reading a create-order body the way Coinbase does, and the failure shape it answers with.

A refused order is not an HTTP error: `POST /orders` answers 200 with `success: false` and an
`error_response` naming the reason. `Rejection` carries that reason from wherever it is found (here, or
the engine's funds and post-only checks) to the response.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from gpt_trader.sandbox.catalog import Catalog, ProductSpec, decimal_text
from gpt_trader.sandbox.exchange.model import (
    LIMIT_GTC,
    LIMIT_GTD,
    MARKET_IOC,
    TIME_IN_FORCE,
    OrderRequest,
    Side,
    is_multiple,
    strict_decimal,
)

UNKNOWN_FAILURE = "UNKNOWN_FAILURE_REASON"
MAX_MAGNITUDE = 18
"""Sizes and prices must lie within 1e-18 and 1e18 (in absolute value) to be checked further: no product
comes near either, and beyond them exact arithmetic (and writing the number out) costs without bound."""
_OUT_OF_RANGE = {
    "base_size": (UNKNOWN_FAILURE, "PREVIEW_INVALID_BASE_SIZE_TOO_LARGE", "PREVIEW_INVALID_BASE_SIZE_TOO_SMALL"),
    "quote_size": (UNKNOWN_FAILURE, "PREVIEW_INVALID_QUOTE_SIZE_TOO_LARGE", "PREVIEW_INVALID_QUOTE_SIZE_TOO_SMALL"),
    "limit_price": ("INVALID_LIMIT_PRICE", "PREVIEW_INVALID_LIMIT_PRICE", "PREVIEW_INVALID_LIMIT_PRICE"),
}
"""Per field: the error, and the preview reason for a value too large or too small (or negative) to check."""

_MESSAGES = {
    "INSUFFICIENT_FUND": "Insufficient balance in source account",
    "INVALID_LIMIT_PRICE_POST_ONLY": "Limit price would cross the book on a post-only order",
    "INVALID_SIZE_PRECISION": "Size is not a multiple of the product's increment",
    "INVALID_PRICE_PRECISION": "Price is not a multiple of the product's price increment",
    "INVALID_LIMIT_PRICE": "Invalid limit price",
    "INVALID_PRODUCT_ID": "Invalid product_id",
    "INVALID_SIDE": "Invalid side",
    "UNSUPPORTED_ORDER_CONFIGURATION": "Unsupported order configuration",
    "ORDER_ENTRY_DISABLED": "Order entry is disabled for this product",
    UNKNOWN_FAILURE: "Order size is outside the product's limits",
}


class Rejection(Exception):
    """Why an order is refused: Coinbase's `error` code, the matching `preview_failure_reason`, and a
    sentence that names the offending value and the rule it breaks."""

    def __init__(self, error: str, preview_failure_reason: str, details: str) -> None:
        super().__init__(f"{error}: {details}")
        self.error = error
        self.preview_failure_reason = preview_failure_reason
        self.details = details

    def failure_payload(self, configuration: Any) -> dict[str, Any]:
        """The create-order response for this refusal (sent with HTTP 200)."""
        return {
            "success": False,
            "failure_reason": UNKNOWN_FAILURE,
            "order_id": "",
            "error_response": {
                "error": self.error,
                "message": _MESSAGES.get(self.error, self.error),
                "error_details": self.details,
                "preview_failure_reason": self.preview_failure_reason,
                "new_order_failure_reason": self.error,
            },
            "order_configuration": configuration if isinstance(configuration, dict) else {},
        }


def _unsupported(details: str) -> Rejection:
    return Rejection("UNSUPPORTED_ORDER_CONFIGURATION", "PREVIEW_INVALID_ORDER_CONFIG", details)


def parse_order_request(
    body: Mapping[str, Any], catalog: Catalog, now: datetime, client_order_id: str = ""
) -> OrderRequest:
    """Validate a create-order (or preview) body; raise `Rejection` with Coinbase's code when it fails."""
    product_id = body.get("product_id")
    product = catalog.find(product_id) if isinstance(product_id, str) else None
    if product is None:
        raise Rejection("INVALID_PRODUCT_ID", "PREVIEW_INVALID_PRODUCT_ID", f"product_id {product_id!r} is not listed")
    if not product.accepts_new_orders:
        raise Rejection(
            "ORDER_ENTRY_DISABLED",
            "PREVIEW_NOT_ALLOWED_BY_MARKET_STATE",
            f"{product.product_id} is {product.status} and accepts no new orders",
        )
    side = body.get("side")
    if side not in (Side.BUY, Side.SELL):
        raise Rejection("INVALID_SIDE", "PREVIEW_INVALID_SIDE", f"side {side!r} is neither BUY nor SELL")

    configuration = body.get("order_configuration")
    if not isinstance(configuration, dict) or len(configuration) != 1:
        raise _unsupported("order_configuration must be an object with exactly one configuration key")
    (kind, fields), = configuration.items()
    if kind not in TIME_IN_FORCE:
        raise _unsupported(f"{kind!r} is not supported here; use one of {', '.join(TIME_IN_FORCE)}")
    if not isinstance(fields, dict):
        raise _unsupported(f"{kind} must be an object")

    common: dict[str, Any] = {
        "client_order_id": client_order_id,
        "product": product,
        "side": Side(side),
        "kind": kind,
        "configuration": configuration,
    }
    if kind == MARKET_IOC:
        return _market_request(common, fields, product)
    base_size = _base_size(_required_decimal(fields, "base_size", kind), product)
    limit_price = _required_decimal(fields, "limit_price", kind)
    if limit_price <= 0:
        raise Rejection(
            "INVALID_LIMIT_PRICE",
            "PREVIEW_INVALID_LIMIT_PRICE",
            f"limit_price {decimal_text(limit_price)} is not positive",
        )
    _check_notional(base_size * limit_price, product)
    _check_price_precision(limit_price, product)
    post_only = fields.get("post_only", False) if kind in (LIMIT_GTC, LIMIT_GTD) else False
    if not isinstance(post_only, bool):
        raise _unsupported(f"{kind}.post_only must be true or false, not {post_only!r}")
    end_time = _end_time(fields, now) if kind == LIMIT_GTD else None
    return OrderRequest(
        **common, base_size=base_size, limit_price=limit_price, post_only=post_only, end_time=end_time
    )


def _market_request(common: dict[str, Any], fields: dict[str, Any], product: ProductSpec) -> OrderRequest:
    quote_size = _optional_decimal(fields, "quote_size", MARKET_IOC)
    base_size = _optional_decimal(fields, "base_size", MARKET_IOC)
    if base_size is not None and quote_size is None:
        return OrderRequest(**common, base_size=_base_size(base_size, product))
    if quote_size is None or base_size is not None:
        raise _unsupported("market_market_ioc takes exactly one of quote_size and base_size")
    if common["side"] is Side.SELL:
        raise _unsupported("a market SELL is sized by base_size, not quote_size")
    _check_notional(quote_size, product, field="quote_size")
    if not is_multiple(quote_size, product.quote_increment):
        raise Rejection(
            "INVALID_SIZE_PRECISION",
            "PREVIEW_INVALID_QUOTE_SIZE_PRECISION",
            f"quote_size {decimal_text(quote_size)} is not a multiple of {product.product_id}'s "
            f"quote_increment {decimal_text(product.quote_increment)}",
        )
    return OrderRequest(**common, quote_size=quote_size)


def _required_decimal(fields: dict[str, Any], name: str, kind: str) -> Decimal:
    value = _optional_decimal(fields, name, kind)
    if value is None:
        raise _unsupported(f"{kind}.{name} is required")
    return value


def _optional_decimal(fields: dict[str, Any], name: str, kind: str) -> Decimal | None:
    raw = fields.get(name)
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str):
        raise _unsupported(f"{kind}.{name} must be a decimal string such as \"0.01\", not {raw!r}")
    value = strict_decimal(raw)
    if value is None:
        raise _unsupported(f"{kind}.{name} {raw[:40]!r} is not a decimal number such as \"0.01\"")
    if value and not -MAX_MAGNITUDE <= value.adjusted() <= MAX_MAGNITUDE:
        error, too_large, too_small = _OUT_OF_RANGE[name]
        raise Rejection(
            error,
            too_large if value > 1 else too_small,
            f"{kind}.{name} {raw} is out of range: a positive number between 1e-{MAX_MAGNITUDE} and "
            f"1e{MAX_MAGNITUDE} is expected",
        )
    return value


def _base_size(size: Decimal, product: ProductSpec) -> Decimal:
    """`size` within the product's bounds (checked first: they say more than the precision does) and
    on its base increment."""
    text = decimal_text(size)
    if size <= 0 or size < product.base_min_size:
        raise Rejection(
            UNKNOWN_FAILURE,
            "PREVIEW_INVALID_BASE_SIZE_TOO_SMALL",
            f"base_size {text} is below {product.product_id}'s base_min_size {decimal_text(product.base_min_size)}",
        )
    if size > product.base_max_size:
        raise Rejection(
            UNKNOWN_FAILURE,
            "PREVIEW_INVALID_BASE_SIZE_TOO_LARGE",
            f"base_size {text} is above {product.product_id}'s base_max_size {decimal_text(product.base_max_size)}",
        )
    if not is_multiple(size, product.base_increment):
        raise Rejection(
            "INVALID_SIZE_PRECISION",
            "PREVIEW_INVALID_SIZE_PRECISION",
            f"base_size {text} is not a multiple of {product.product_id}'s base_increment "
            f"{decimal_text(product.base_increment)}",
        )
    return size


def _check_price_precision(price: Decimal, product: ProductSpec) -> None:
    if not is_multiple(price, product.price_increment):
        raise Rejection(
            "INVALID_PRICE_PRECISION",
            "PREVIEW_INVALID_PRICE_PRECISION",
            f"limit_price {decimal_text(price)} is not a multiple of {product.product_id}'s price_increment "
            f"{decimal_text(product.price_increment)}",
        )


def _check_notional(value: Decimal, product: ProductSpec, field: str = "order value (base_size × limit_price)") -> None:
    """An order's worth in quote currency must lie within the product's quote size limits."""
    if value < product.quote_min_size:
        raise Rejection(
            UNKNOWN_FAILURE,
            "PREVIEW_INVALID_QUOTE_SIZE_TOO_SMALL",
            f"{field} {decimal_text(value)} is below {product.product_id}'s quote_min_size "
            f"{decimal_text(product.quote_min_size)}",
        )
    if value > product.quote_max_size:
        raise Rejection(
            UNKNOWN_FAILURE,
            "PREVIEW_INVALID_QUOTE_SIZE_TOO_LARGE",
            f"{field} {decimal_text(value)} is above {product.product_id}'s quote_max_size "
            f"{decimal_text(product.quote_max_size)}",
        )


def _end_time(fields: dict[str, Any], now: datetime) -> datetime:
    raw = fields.get("end_time")
    if not isinstance(raw, str) or not raw:
        raise _unsupported("limit_limit_gtd.end_time is required (an RFC 3339 time such as 2026-08-09T21:00:00Z)")
    try:
        end_time = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise _unsupported(f"limit_limit_gtd.end_time {raw!r} is not an RFC 3339 time") from None
    if end_time.tzinfo is None:
        end_time = end_time.replace(tzinfo=UTC)
    if end_time <= now:
        raise _unsupported(f"limit_limit_gtd.end_time {raw} is not in the future (now {now.isoformat()})")
    return end_time

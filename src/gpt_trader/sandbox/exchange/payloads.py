"""The JSON shapes Coinbase answers with (section 5 and the `user` channel of the facts): Account,
Order, Fill and the user channel's order. Every decimal is a string; times are RFC 3339 UTC."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from gpt_trader.sandbox.catalog import decimal_text
from gpt_trader.sandbox.exchange.ledger import Account, stable_id
from gpt_trader.sandbox.exchange.matching import Arrival, fill_cost
from gpt_trader.sandbox.exchange.model import ZERO, FeeRates, Fill, Order, OrderRequest, Quote, Side, rfc3339

FIAT_CURRENCIES = frozenset({"USD", "EUR", "GBP", "SGD", "CAD", "AUD", "INR"})
_PERCENT = Decimal("0.01")


def portfolio_id(key_name: str) -> str:
    """Each key trades in one (default) portfolio."""
    return stable_id(key_name, "portfolio")


def account_payload(account: Account) -> dict[str, Any]:
    return {
        "uuid": account.uuid,
        "name": f"{account.currency} Wallet",
        "currency": account.currency,
        "available_balance": {"value": decimal_text(account.available), "currency": account.currency},
        "default": True,
        "active": True,
        "created_at": rfc3339(account.created_at),
        "updated_at": rfc3339(account.updated_at),
        "deleted_at": None,
        "type": "ACCOUNT_TYPE_FIAT" if account.currency in FIAT_CURRENCIES else "ACCOUNT_TYPE_CRYPTO",
        "ready": True,
        "hold": {"value": decimal_text(account.hold), "currency": account.currency},
        "retail_portfolio_id": portfolio_id(account.key_name),
    }


def order_payload(order: Order) -> dict[str, Any]:
    """The Order object of `GET /orders/historical/{order_id}`."""
    request = order.request
    return {
        "order_id": order.order_id,
        "product_id": order.product.product_id,
        "user_id": order.user_id,
        "order_configuration": request.configuration,
        "side": order.side.value,
        "client_order_id": request.client_order_id,
        "status": order.status.value,
        "time_in_force": request.time_in_force,
        "created_time": rfc3339(order.created_time),
        "completion_percentage": decimal_text(order.completion.quantize(_PERCENT)),
        "filled_size": decimal_text(order.filled_size),
        "average_filled_price": decimal_text(order.average_price),
        "fee": "",
        "number_of_fills": str(len(order.fills)),
        "filled_value": decimal_text(order.filled_value),
        "pending_cancel": False,
        "size_in_quote": request.quote_size is not None,
        "total_fees": decimal_text(order.total_fees),
        # A market buy sized in quote spends quote_size including its fee, as on Coinbase.
        "size_inclusive_of_fees": request.quote_size is not None,
        "total_value_after_fees": decimal_text(order.value_after_fees),
        "trigger_status": "INVALID_ORDER_TYPE",
        "order_type": request.order_type,
        "reject_reason": order.reject_reason or "REJECT_REASON_UNSPECIFIED",
        "settled": not order.status.is_live,
        "product_type": order.product.product_type,
        "reject_message": order.reject_message,
        "cancel_message": order.cancel_message,
        "order_placement_source": "RETAIL_ADVANCED",
        "outstanding_hold_amount": decimal_text(order.hold),
        "is_liquidation": False,
        "last_fill_time": rfc3339(order.last_fill_time) if order.last_fill_time else None,
        "edit_history": [],
        "leverage": "",
        "margin_type": "UNKNOWN_MARGIN_TYPE",
        "retail_portfolio_id": portfolio_id(order.key_name),
        "originating_order_id": "",
        "attached_order_id": "",
    }


def fill_payload(fill: Fill) -> dict[str, Any]:
    """The Fill object of `GET /orders/historical/fills`."""
    return {
        "entry_id": fill.entry_id,
        "trade_id": fill.trade_id,
        "order_id": fill.order_id,
        "trade_time": rfc3339(fill.time),
        "trade_type": "FILL",
        "price": decimal_text(fill.price),
        "size": decimal_text(fill.size),
        "commission": decimal_text(fill.commission),
        "product_id": fill.product_id,
        "sequence_timestamp": rfc3339(fill.time),
        "liquidity_indicator": fill.liquidity.value,
        "size_in_quote": False,
        "user_id": fill.user_id,
        "side": fill.side.value,
        "retail_portfolio_id": portfolio_id(fill.key_name),
    }


def user_order_payload(order: Order) -> dict[str, Any]:
    """The order object of the `user` WebSocket channel (its own names: `order_side`, `avg_price`, ...)."""
    request = order.request
    if not order.status.is_live:
        leaves = Decimal(0)
    elif request.quote_size is not None:
        leaves = request.quote_size
    else:
        leaves = order.remaining_size
    return {
        "order_id": order.order_id,
        "client_order_id": request.client_order_id,
        "product_id": order.product.product_id,
        "product_type": order.product.product_type,
        "order_side": order.side.value,
        # The user channel spells order types "Market" and "Limit", unlike REST's MARKET and LIMIT.
        "order_type": request.order_type.capitalize(),
        "status": order.status.value,
        "time_in_force": request.time_in_force,
        "avg_price": decimal_text(order.average_price),
        "cumulative_quantity": decimal_text(order.filled_size),
        "leaves_quantity": decimal_text(leaves),
        "filled_value": decimal_text(order.filled_value),
        "total_fees": decimal_text(order.total_fees),
        "total_value_after_fees": decimal_text(order.value_after_fees),
        "number_of_fills": str(len(order.fills)),
        "completion_percentage": decimal_text(order.completion.quantize(_PERCENT)),
        "limit_price": decimal_text(request.limit_price) if request.limit_price is not None else "",
        "stop_price": "",
        "creation_time": rfc3339(order.created_time),
        "end_time": rfc3339(request.end_time) if request.end_time else "",
        "start_time": "",
        "cancel_reason": order.cancel_message,
        "reject_reason": order.reject_reason,
        "outstanding_hold_amount": decimal_text(order.hold),
        "trigger_status": "INVALID_ORDER_TYPE",
        "contract_expiry_type": "UNKNOWN_CONTRACT_EXPIRY_TYPE",
        "risk_managed_by": "UNKNOWN_RISK_MANAGEMENT_TYPE",
        "retail_portfolio_id": portfolio_id(order.key_name),
    }


def preview_payload(
    request: OrderRequest | None, arrival: Arrival | None, quote: Quote | None, fees: FeeRates, error: str = ""
) -> dict[str, Any]:
    """`POST /orders/preview`: what the order would cost now, taker on arrival and maker for what rests;
    `errs` names the preview failure reason instead when it would be refused or find no market."""
    preview: dict[str, Any] = {
        "order_total": "0",
        "commission_total": "0",
        "errs": [error] if error else [],
        "warning": [],
        "quote_size": "0",
        "base_size": "0",
        "best_bid": decimal_text(quote.bid) if quote else "",
        "best_ask": decimal_text(quote.ask) if quote else "",
        "is_max": False,
        "slippage": "0",
        "preview_id": str(uuid.uuid4()),
    }
    if request is None or arrival is None:
        return preview
    if arrival.no_market:
        preview["errs"] = ["PREVIEW_INVALID_NO_LIQUIDITY"]
        return preview
    product = request.product
    value, commission = fill_cost(product, arrival.rest_size, request.limit_price or ZERO, fees.maker)
    for take in arrival.takes:
        take_value, take_fee = fill_cost(product, take.size, take.price, fees.taker)
        value, commission = value + take_value, commission + take_fee
    total = value + commission if request.side is Side.BUY else value - commission
    preview.update(
        order_total=decimal_text(total),
        commission_total=decimal_text(commission),
        quote_size=decimal_text(value),
        base_size=decimal_text(arrival.taker_size + arrival.rest_size),
    )
    return preview


def transaction_summary_payload(fills: Sequence[Fill], fees: FeeRates) -> dict[str, Any]:
    """`GET /transaction_summary` over a key's fills: its volume and fees, and the entry fee tier."""
    volume = sum((fill.value for fill in fills), ZERO)
    paid = sum((fill.commission for fill in fills), ZERO)
    return {
        "total_volume": decimal_text(volume),
        "total_fees": decimal_text(paid),
        "fee_tier": {
            "pricing_tier": "Advanced 1",
            "usd_from": "0",
            "usd_to": "10000",
            "taker_fee_rate": decimal_text(fees.taker),
            "maker_fee_rate": decimal_text(fees.maker),
            "aop_from": "",
            "aop_to": "",
        },
        "margin_rate": None,
        "goods_and_services_tax": None,
        "advanced_trade_only_volume": decimal_text(volume),
        "advanced_trade_only_fees": decimal_text(paid),
        "coinbase_pro_volume": "0",
        "coinbase_pro_fees": "0",
        "total_balance": "",
        "has_promo_fee": False,
    }

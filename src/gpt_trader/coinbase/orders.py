"""Accounts, orders, fills and fees: the authenticated payloads, and the order configurations we send.

These payloads are decoded with msgspec: money becomes Decimal, times datetime, and numbers sent
as strings ("2") their type. Fields beyond the identity of a record have defaults, unknown fields
are ignored, and enumerations (status, order_type, ...) stay text so a new value never breaks a
client. Coinbase writes an absent decimal or time as "" or null; both read as None.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

import msgspec

from gpt_trader.coinbase import constants
from gpt_trader.coinbase.errors import MalformedResponse
from gpt_trader.errors import UserError

T = TypeVar("T")


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

    @property
    def is_fiat(self) -> bool:
        """Whether this is a fiat wallet (USD, EUR, ...), by Coinbase's `type`."""
        return self.type == constants.ACCOUNT_TYPE_FIAT


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


class OrderNotPlaced(UserError):
    """Placing an order failed without a verdict, and Coinbase does not list it: it was not placed.

    Sending it again with the same `client_order_id` is safe: Coinbase answers a repeated
    `client_order_id` with the original order, should the first attempt surface after all.
    """

    def __init__(self, client_order_id: str, product_id: str, cause: UserError) -> None:
        self.client_order_id = client_order_id
        self.cause = cause
        super().__init__(
            f"order {client_order_id} was not placed: {cause}. Coinbase lists no {product_id} order with that "
            "client_order_id; sending it again with the same client_order_id is safe."
        )


class OrderOutcomeUnknown(UserError):
    """Placing an order failed without a verdict, and looking it up could not tell whether it landed."""

    def __init__(self, client_order_id: str, reason: str) -> None:
        self.client_order_id = client_order_id
        super().__init__(
            f"it is unknown whether order {client_order_id} was placed ({reason}). Look for client_order_id "
            f"{client_order_id} among the open and recent orders before placing it again."
        )


def market_configuration(
    *, quote_size: Decimal | None = None, base_size: Decimal | None = None
) -> dict[str, dict[str, Any]]:
    """`market_market_ioc`: spend `quote_size` (a BUY) or trade `base_size` (usually a SELL); one of them."""
    if quote_size is not None and base_size is None:
        return {constants.MARKET_IOC: {"quote_size": _amount(quote_size, "quote_size")}}
    if base_size is not None and quote_size is None:
        return {constants.MARKET_IOC: {"base_size": _amount(base_size, "base_size")}}
    raise ValueError("a market order takes exactly one of quote_size and base_size")


def limit_gtc_configuration(
    base_size: Decimal, limit_price: Decimal, *, post_only: bool = False
) -> dict[str, dict[str, Any]]:
    """`limit_limit_gtc`: buy or sell `base_size` at `limit_price` or better until filled or cancelled."""
    return {
        constants.LIMIT_GTC: {
            "base_size": _amount(base_size, "base_size"),
            "limit_price": _amount(limit_price, "limit_price"),
            "post_only": post_only,
        }
    }


def _amount(value: Decimal | int, name: str) -> str:
    """A positive decimal as Coinbase wants it: a string, positional (`0.00000001`, never `1E-8`)."""
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise TypeError(f"{name} must be a Decimal (floats are inexact), got {type(value).__name__}")
    amount = Decimal(value)
    if not amount.is_finite() or amount <= 0:
        raise ValueError(f"{name} must be a positive number, got {value}")
    return format(amount, "f")

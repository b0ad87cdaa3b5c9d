"""The exchange's state on disk: every key's balances, orders and fills, and the market time, in
`{state_dir}/exchange.json`, so that a sandbox restarted with the same `--state-dir` carries on where it
stopped (and a client's reconciliation after a restart can be tested).

The file is written whole and atomically (a temporary file, then a rename): a crash leaves the last
complete state. Decimals are strings, times RFC 3339, as everywhere else in the sandbox::

    save_state(path, exchange, replay.market_time)
    saved = load_state(path, catalog)   # None when there is no file yet
    exchange.restore(saved.accounts, saved.orders, saved.fills)
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gpt_trader.errors import UserError
from gpt_trader.sandbox.catalog import Catalog, decimal_text
from gpt_trader.sandbox.exchange.ledger import Account
from gpt_trader.sandbox.exchange.model import Fill, Liquidity, Order, OrderRequest, OrderStatus, Side

if TYPE_CHECKING:
    from gpt_trader.sandbox.exchange.engine import Exchange

STATE_FILE_NAME = "exchange.json"
FORMAT = 1


@dataclass(frozen=True)
class SavedState:
    """What a previous run left: its market time (Unix seconds) and the exchange's records."""

    market_time: float
    accounts: list[Account]
    orders: list[Order]
    fills: list[Fill]


class UnknownProduct(LookupError):
    """A saved order names a product the catalogue no longer lists."""

    def __init__(self, product_id: str) -> None:
        super().__init__(product_id)
        self.product_id = product_id


def save_state(path: Path, exchange: Exchange, market_time: float) -> None:
    accounts, orders, fills = exchange.records()
    document = {
        "format": FORMAT,
        "market_time": market_time,
        "accounts": [_account(account) for account in accounts],
        "fills": [_fill(fill) for fill in fills],
        "orders": [_order(order) for order in orders],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.name}.{os.getpid()}")
    staging.write_text(json.dumps(document) + "\n")
    os.replace(staging, path)


def load_state(path: Path, catalog: Catalog) -> SavedState | None:
    """The state saved at `path` (None if there is none); a UserError names a file that cannot be used."""
    if not path.exists():
        return None
    try:
        document = json.loads(path.read_text())
        if not isinstance(document, dict) or document.get("format") != FORMAT:
            raise ValueError(f"expected a format {FORMAT} exchange state")
        fills = [_read_fill(entry) for entry in document["fills"]]
        by_entry = {fill.entry_id: fill for fill in fills}
        return SavedState(
            market_time=float(document["market_time"]),
            accounts=[_read_account(entry) for entry in document["accounts"]],
            orders=[_read_order(entry, catalog, by_entry) for entry in document["orders"]],
            fills=fills,
        )
    except UnknownProduct as unknown:
        raise UserError(
            f"the exchange state {path} holds orders in {unknown.product_id}, which this sandbox does not list; "
            "serve the same products again, or give another --state-dir (or delete the file to start afresh)"
        ) from None
    except (OSError, ValueError, KeyError, TypeError, ArithmeticError) as error:
        raise UserError(
            f"the exchange state {path} cannot be read ({type(error).__name__}: {error}); delete it to start "
            "the exchange afresh (the keys in keys.json stay), or give another --state-dir"
        ) from None


# -- writing ---------------------------------------------------------------------------------------


def _time(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _account(account: Account) -> dict[str, Any]:
    return {
        "sequence": account.sequence,
        "uuid": account.uuid,
        "key_name": account.key_name,
        "currency": account.currency,
        "balance": decimal_text(account.balance),
        "hold": decimal_text(account.hold),
        "created_at": _time(account.created_at),
        "updated_at": _time(account.updated_at),
    }


def _fill(fill: Fill) -> dict[str, Any]:
    return {
        "sequence": fill.sequence,
        "entry_id": fill.entry_id,
        "trade_id": fill.trade_id,
        "order_id": fill.order_id,
        "key_name": fill.key_name,
        "user_id": fill.user_id,
        "product_id": fill.product_id,
        "side": fill.side.value,
        "price": decimal_text(fill.price),
        "size": decimal_text(fill.size),
        "value": decimal_text(fill.value),
        "commission": decimal_text(fill.commission),
        "liquidity": fill.liquidity.value,
        "time": _time(fill.time),
    }


def _order(order: Order) -> dict[str, Any]:
    request = order.request

    def optional(value: Decimal | None) -> str | None:
        return None if value is None else decimal_text(value)

    return {
        "sequence": order.sequence,
        "order_id": order.order_id,
        "key_name": order.key_name,
        "user_id": order.user_id,
        "request": {
            "client_order_id": request.client_order_id,
            "product_id": request.product.product_id,
            "side": request.side.value,
            "kind": request.kind,
            "configuration": request.configuration,
            "base_size": optional(request.base_size),
            "quote_size": optional(request.quote_size),
            "limit_price": optional(request.limit_price),
            "post_only": request.post_only,
            "end_time": _time(request.end_time),
        },
        "created_time": _time(order.created_time),
        "status": order.status.value,
        "filled_size": decimal_text(order.filled_size),
        "filled_value": decimal_text(order.filled_value),
        "notional": decimal_text(order.notional),
        "total_fees": decimal_text(order.total_fees),
        "hold": decimal_text(order.hold),
        "fills": [fill.entry_id for fill in order.fills],
        "last_fill_time": _time(order.last_fill_time),
        "cancel_message": order.cancel_message,
        "reject_reason": order.reject_reason,
        "reject_message": order.reject_message,
        "marketable": order.marketable,
    }


# -- reading ---------------------------------------------------------------------------------------


def _read_time(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"time {text!r} has no time zone")
    return moment


def _read_account(entry: dict[str, Any]) -> Account:
    return Account(
        sequence=int(entry["sequence"]),
        uuid=str(entry["uuid"]),
        key_name=str(entry["key_name"]),
        currency=str(entry["currency"]),
        balance=Decimal(entry["balance"]),
        hold=Decimal(entry["hold"]),
        created_at=_read_time(entry["created_at"]),
        updated_at=_read_time(entry["updated_at"]),
    )


def _read_fill(entry: dict[str, Any]) -> Fill:
    return Fill(
        sequence=int(entry["sequence"]),
        entry_id=str(entry["entry_id"]),
        trade_id=str(entry["trade_id"]),
        order_id=str(entry["order_id"]),
        key_name=str(entry["key_name"]),
        user_id=str(entry["user_id"]),
        product_id=str(entry["product_id"]),
        side=Side(entry["side"]),
        price=Decimal(entry["price"]),
        size=Decimal(entry["size"]),
        value=Decimal(entry["value"]),
        commission=Decimal(entry["commission"]),
        liquidity=Liquidity(entry["liquidity"]),
        time=_read_time(entry["time"]),
    )


def _read_order(entry: dict[str, Any], catalog: Catalog, fills: dict[str, Fill]) -> Order:
    raw = entry["request"]
    product = catalog.find(raw["product_id"])
    if product is None:
        raise UnknownProduct(raw["product_id"])

    def optional(text: str | None) -> Decimal | None:
        return None if text is None else Decimal(text)

    request = OrderRequest(
        client_order_id=str(raw["client_order_id"]),
        product=product,
        side=Side(raw["side"]),
        kind=str(raw["kind"]),
        configuration=dict(raw["configuration"]),
        base_size=optional(raw["base_size"]),
        quote_size=optional(raw["quote_size"]),
        limit_price=optional(raw["limit_price"]),
        post_only=bool(raw["post_only"]),
        end_time=None if raw["end_time"] is None else _read_time(raw["end_time"]),
    )
    last_fill = entry["last_fill_time"]
    return Order(
        sequence=int(entry["sequence"]),
        order_id=str(entry["order_id"]),
        key_name=str(entry["key_name"]),
        user_id=str(entry["user_id"]),
        request=request,
        created_time=_read_time(entry["created_time"]),
        status=OrderStatus(entry["status"]),
        filled_size=Decimal(entry["filled_size"]),
        filled_value=Decimal(entry["filled_value"]),
        notional=Decimal(entry["notional"]),
        total_fees=Decimal(entry["total_fees"]),
        hold=Decimal(entry["hold"]),
        fills=[fills[entry_id] for entry_id in entry["fills"]],
        last_fill_time=None if last_fill is None else _read_time(last_fill),
        cancel_message=str(entry["cancel_message"]),
        reject_reason=str(entry["reject_reason"]),
        reject_message=str(entry["reject_message"]),
        marketable=bool(entry["marketable"]),
    )

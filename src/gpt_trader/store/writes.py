"""The trading record's writes: one builder per kind of row, and one function that writes many rows of a kind.

`Store`'s methods write one row at a time through these functions; `StoreWriter` collects rows from a
running engine and writes them in batches through the same functions, so both paths store the same
thing. Writes that a resumed run repeats are idempotent: a fill or round trip already recorded is
skipped (and reported as such), an equity snapshot or position state at a time already recorded is
replaced. The rows go in through `bulk.insert_many`: one prepared statement for all rows of a kind.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Table, select, update
from sqlalchemy.orm import Session

from gpt_trader.store.base import StoreError
from gpt_trader.store.bulk import insert_many
from gpt_trader.store.schema import Account as AccountRow
from gpt_trader.store.schema import (
    AccountStatus,
    EquitySnapshot,
    FeedEvent,
    FeedEventKind,
    Fill,
    Liquidity,
    Order,
    OrderSide,
    PositionState,
    RoundTrip,
)
from gpt_trader.store.types import exact_sum, to_decimal

Money = Decimal | int | str
Row = dict[str, Any]
Clock = Callable[[], datetime]


def order_row(
    account_id: int,
    client_order_id: str,
    *,
    product_id: str,
    side: OrderSide | str,
    order_type: str,
    status: str,
    time: datetime,
    config: Mapping[str, Any] | None = None,
    base_size: Money | None = None,
    quote_size: Money | None = None,
    limit_price: Money | None = None,
    stop_price: Money | None = None,
    exchange_order_id: str | None = None,
) -> Row:
    return {
        "account_id": account_id,
        "client_order_id": client_order_id,
        "exchange_order_id": exchange_order_id,
        "product_id": product_id,
        "side": OrderSide(side),
        "order_type": order_type,
        "config": dict(config or {}),
        "status": status,
        "base_size": optional_decimal(base_size),
        "quote_size": optional_decimal(quote_size),
        "limit_price": optional_decimal(limit_price),
        "stop_price": optional_decimal(stop_price),
        "created_at": time,
        "updated_at": time,
    }


def order_update_row(
    client_order_id: str,
    status: str,
    *,
    time: datetime,
    exchange_order_id: str | None = None,
    reject_reason: str | None = None,
) -> Row:
    values: Row = {"status": status, "updated_at": time}
    if exchange_order_id is not None:
        values["exchange_order_id"] = exchange_order_id
    if reject_reason is not None:
        values["reject_reason"] = reject_reason
    return {"client_order_id": client_order_id, "values": values}


def fill_row(
    client_order_id: str,
    *,
    trade_id: str,
    price: Money,
    size: Money,
    fee: Money,
    liquidity: Liquidity | str,
    time: datetime,
    bid: Money | None = None,
    ask: Money | None = None,
) -> Row:
    return {
        "client_order_id": client_order_id,
        "trade_id": trade_id,
        "price": to_decimal(price),
        "size": to_decimal(size),
        "fee": to_decimal(fee),
        "liquidity": Liquidity(liquidity),
        "time": time,
        "bid": optional_decimal(bid),
        "ask": optional_decimal(ask),
    }


def equity_row(
    account_id: int, *, cash: Money, position_value: Money, time: datetime, units: Money = 0
) -> Row:
    cash_amount, position_amount = to_decimal(cash), to_decimal(position_value)
    return {
        "account_id": account_id,
        "time": time,
        "cash": cash_amount,
        "units": to_decimal(units),
        "position_value": position_amount,
        "equity": exact_sum(cash_amount, position_amount),
    }


def position_row(
    account_id: int,
    *,
    product_id: str,
    units: Money,
    time: datetime,
    entry_price: Money | None = None,
    entry_time: datetime | None = None,
    stop_loss_level: float | None = None,
    take_profit_level: float | None = None,
    trailing_best: float | None = None,
    pending_signal: int | None = None,
    last_bar_time: datetime | None = None,
) -> Row:
    return {
        "account_id": account_id,
        "product_id": product_id,
        "units": to_decimal(units),
        "entry_price": optional_decimal(entry_price),
        "entry_time": entry_time,
        "stop_loss_level": stop_loss_level,
        "take_profit_level": take_profit_level,
        "trailing_best": trailing_best,
        "pending_signal": pending_signal,
        "last_bar_time": last_bar_time,
        "updated_at": time,
    }


def round_trip_row(
    account_id: int,
    *,
    product_id: str,
    side: OrderSide | str,
    units: Money,
    entry_time: datetime,
    entry_price: Money,
    exit_time: datetime,
    exit_price: Money,
    fees: Money,
    pnl: Money,
    exit_reason: str,
) -> Row:
    return {
        "account_id": account_id,
        "product_id": product_id,
        "side": OrderSide(side),
        "units": to_decimal(units),
        "entry_time": entry_time,
        "entry_price": to_decimal(entry_price),
        "exit_time": exit_time,
        "exit_price": to_decimal(exit_price),
        "fees": to_decimal(fees),
        "pnl": to_decimal(pnl),
        "exit_reason": exit_reason,
    }


def account_status_row(account_id: int, status: AccountStatus | str, error: str | None = None) -> Row:
    return {"account_id": account_id, "status": AccountStatus(status), "error": error}


def feed_event_row(
    kind: FeedEventKind | str,
    *,
    time: datetime,
    detail: Mapping[str, Any] | None = None,
    session_id: int | None = None,
    product_id: str | None = None,
    connection: int | None = None,
) -> Row:
    return {
        "session_id": session_id,
        "time": time,
        "kind": FeedEventKind(kind),
        "product_id": product_id,
        "connection": connection,
        "detail": dict(detail) if detail is not None else None,
    }


# Writers: each takes rows of one kind and writes them all in the caller's transaction, in their order.

_ORDERS: Table = Order.__table__  # type: ignore[assignment]
_FILLS: Table = Fill.__table__  # type: ignore[assignment]
_ROUND_TRIPS: Table = RoundTrip.__table__  # type: ignore[assignment]
_EQUITY_SNAPSHOTS: Table = EquitySnapshot.__table__  # type: ignore[assignment]
_POSITION_STATES: Table = PositionState.__table__  # type: ignore[assignment]
_FEED_EVENTS: Table = FeedEvent.__table__  # type: ignore[assignment]


def insert_orders(session: Session, rows: Sequence[Row]) -> None:
    insert_many(session, _ORDERS, rows)


def update_orders(session: Session, rows: Sequence[Row]) -> None:
    for row in rows:
        statement = update(Order).where(Order.client_order_id == row["client_order_id"]).values(row["values"])
        if session.execute(statement).rowcount == 0:  # type: ignore[attr-defined]
            raise StoreError(f"there is no order with client id {row['client_order_id']!r} to update")


def insert_fills(session: Session, rows: Sequence[Row]) -> list[bool]:
    """Write the fills that are new; for each row, whether it was (False: that trade id is recorded already)."""
    client_ids = {row["client_order_id"] for row in rows}
    connection = session.connection()
    known = select(_ORDERS.c.client_order_id, _ORDERS.c.id).where(_ORDERS.c.client_order_id.in_(client_ids))
    order_ids: dict[str, int] = {client_id: order_id for client_id, order_id in connection.execute(known)}
    missing = sorted(client_ids - order_ids.keys())
    if missing:
        raise StoreError(f"no order with client id {missing[0]!r} to fill")
    recorded = select(_FILLS.c.order_id, _FILLS.c.trade_id).where(_FILLS.c.order_id.in_(set(order_ids.values())))
    seen: set[tuple[int, str]] = {(order_id, trade_id) for order_id, trade_id in connection.execute(recorded)}
    new_rows, written = [], []
    for row in rows:
        key = (order_ids[row["client_order_id"]], row["trade_id"])
        is_new = key not in seen
        written.append(is_new)
        if is_new:
            seen.add(key)
            new_rows.append({**{k: v for k, v in row.items() if k != "client_order_id"}, "order_id": key[0]})
    insert_many(session, _FILLS, new_rows)
    return written


def upsert_equity_snapshots(session: Session, rows: Sequence[Row]) -> None:
    key = ("account_id", "time")
    insert_many(session, _EQUITY_SNAPSHOTS, _last_per_key(rows, key), replace_on=key)


def upsert_position_states(session: Session, rows: Sequence[Row]) -> None:
    key = ("account_id",)
    insert_many(session, _POSITION_STATES, _last_per_key(rows, key), replace_on=key)


def insert_round_trips(session: Session, rows: Sequence[Row]) -> list[bool]:
    """Write the round trips that are new; for each row, whether it was."""
    accounts = {row["account_id"] for row in rows}
    recorded = select(_ROUND_TRIPS.c.account_id, _ROUND_TRIPS.c.exit_time).where(
        _ROUND_TRIPS.c.account_id.in_(accounts), _ROUND_TRIPS.c.exit_time.in_({row["exit_time"] for row in rows})
    )
    seen: set[tuple[int, datetime]] = {(account, time) for account, time in session.connection().execute(recorded)}
    new_rows, written = [], []
    for row in rows:
        key = (row["account_id"], row["exit_time"])
        is_new = key not in seen
        written.append(is_new)
        if is_new:
            seen.add(key)
            new_rows.append(row)
    insert_many(session, _ROUND_TRIPS, new_rows)
    return written


def set_account_statuses(session: Session, rows: Sequence[Row]) -> None:
    for row in rows:
        statement = (
            update(AccountRow)
            .where(AccountRow.id == row["account_id"])
            .values(status=row["status"], error=row["error"])
        )
        if session.execute(statement).rowcount == 0:  # type: ignore[attr-defined]
            raise StoreError(f"there is no account {row['account_id']} to mark {row['status']}")


def insert_feed_events(session: Session, rows: Sequence[Row]) -> None:
    insert_many(session, _FEED_EVENTS, rows)


def optional_decimal(value: Money | None) -> Decimal | None:
    return None if value is None else to_decimal(value)


def _last_per_key(rows: Sequence[Row], key: tuple[str, ...]) -> list[Row]:
    """One row per key, the last given winning: a batch may carry the same moment twice."""
    latest: dict[tuple[Any, ...], Row] = {}
    for row in rows:
        latest[tuple(row[name] for name in key)] = row
    return list(latest.values())

"""What `gpt-trader status` shows, read from the store: sessions, their accounts, feed health, rotations.

`session_status` returns plain JSON values (the `--json` output as is; the table is drawn from it). A
running session whose heartbeat is older than `session_records.STALLED_AFTER` is reported as stalled.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from gpt_trader.store.base import utc_now
from gpt_trader.store.db import Store
from gpt_trader.store.schema import (
    Account,
    EquitySnapshot,
    FeedEvent,
    Order,
    PositionState,
    Rotation,
    Run,
    RunStatus,
    TradingSession,
)
from gpt_trader.trading.session_records import is_stalled

OPEN_ORDER_STATUSES = ("OPEN", "PENDING", "QUEUED")
"""Order statuses that may still fill (the paper broker's OPEN and Coinbase's waiting ones)."""


def session_state(run: Run, heartbeat_at: datetime | None, now: datetime) -> str:
    """running, stalled (running by its record but its heartbeat is late), or how its run ended."""
    if run.status is RunStatus.RUNNING:
        return "stalled" if is_stalled(heartbeat_at, now) else "running"
    return run.status.value


def session_status(store: Store, session_ids: list[int] | None = None, running_only: bool = True) -> dict[str, Any]:
    """The status of the given sessions, or of every running (or stalled) one."""
    now = utc_now()
    reading = sessionmaker(store.engine, expire_on_commit=False)
    with reading() as db, db.begin():
        statement = select(TradingSession, Run).join(Run, TradingSession.run_id == Run.id)
        if session_ids:
            statement = statement.where(TradingSession.id.in_(session_ids))
        elif running_only:
            statement = statement.where(Run.status == RunStatus.RUNNING)
        rows = db.execute(statement.order_by(TradingSession.id)).all()
        sessions = [_session(db, row[0], row[1], now) for row in rows]
    return {"time": now.isoformat(), "database": store.url, "sessions": sessions}


def _session(db: Session, row: TradingSession, run: Run, now: datetime) -> dict[str, Any]:
    heartbeat = row.heartbeat_at
    accounts = list(db.scalars(select(Account).where(Account.session_id == row.id).order_by(Account.id)))
    return {
        "id": row.id,
        "name": run.name,
        "mode": row.mode.value,
        "state": session_state(run, heartbeat, now),
        "started_at": run.started_at.isoformat(),
        "ended_at": run.ended_at.isoformat() if run.ended_at else None,
        "error": run.error,
        "heartbeat_at": heartbeat.isoformat() if heartbeat else None,
        "heartbeat_age_seconds": round((now - heartbeat).total_seconds(), 1) if heartbeat else None,
        "market_time": _market_time(row),
        "stop_requested": row.stop_requested_at is not None,
        "accounts": [_account(db, account) for account in accounts],
        "feed": _feed(db, row.id),
        "latest_rotation": _latest_rotation(db, row.id),
    }


def _market_time(row: TradingSession) -> str | None:
    seconds = (row.state or {}).get("market_time")
    return None if seconds is None else datetime.fromtimestamp(int(seconds), UTC).isoformat()


def _account(db: Session, account: Account) -> dict[str, Any]:
    snapshot = db.scalars(
        select(EquitySnapshot)
        .where(EquitySnapshot.account_id == account.id)
        .order_by(EquitySnapshot.time.desc())
        .limit(1)
    ).first()
    position = db.get(PositionState, account.id)
    open_orders = list(
        db.scalars(
            select(Order)
            .where(Order.account_id == account.id, Order.status.in_(OPEN_ORDER_STATUSES))
            .order_by(Order.id)
        )
    )
    equity = snapshot.equity if snapshot else account.starting_cash
    return {
        "id": account.id,
        "name": account.name,
        "strategy": account.strategy,
        "product_id": account.product_id,
        "status": account.status.value,
        "starting_cash": _money(account.starting_cash),
        "equity": _money(equity),
        "pnl": _money(equity - account.starting_cash),
        "cash": _money(snapshot.cash) if snapshot else _money(account.starting_cash),
        "equity_time": snapshot.time.isoformat() if snapshot else None,
        "position": None
        if position is None or position.units == 0
        else {
            "units": _money(position.units),
            "entry_price": _money(position.entry_price) if position.entry_price is not None else None,
            "stop_loss_level": position.stop_loss_level,
        },
        "open_orders": [
            {
                "client_order_id": order.client_order_id,
                "side": order.side.value,
                "type": order.order_type,
                "size": _money(order.base_size) if order.base_size is not None else None,
                "limit_price": _money(order.limit_price) if order.limit_price is not None else None,
                "status": order.status,
            }
            for order in open_orders
        ],
    }


def _feed(db: Session, session_id: int) -> list[dict[str, Any]]:
    """The latest health event of each product and connection of the session's feed."""
    latest = (
        select(FeedEvent.product_id, FeedEvent.connection, func.max(FeedEvent.id).label("id"))
        .where(FeedEvent.session_id == session_id)
        .group_by(FeedEvent.product_id, FeedEvent.connection)
        .subquery()
    )
    events = db.scalars(select(FeedEvent).join(latest, FeedEvent.id == latest.c.id).order_by(FeedEvent.id))
    return [
        {
            "kind": event.kind.value,
            "product_id": event.product_id,
            "connection": event.connection,
            "time": event.time.isoformat(),
        }
        for event in events
    ]


def _latest_rotation(db: Session, session_id: int) -> dict[str, Any] | None:
    time = db.scalar(select(func.max(Rotation.time)).where(Rotation.session_id == session_id))
    if time is None:
        return None
    decisions = db.scalars(
        select(Rotation).where(Rotation.session_id == session_id, Rotation.time == time).order_by(Rotation.id)
    )
    return {
        "time": time.isoformat(),
        "decisions": [
            {"candidate": row.candidate, "decision": row.decision, "reason": row.reason, "numbers": row.numbers}
            for row in decisions
        ],
    }


def _money(value: Decimal) -> str:
    """Exact amounts travel as decimal strings, so JSON readers lose no digit."""
    return str(value)

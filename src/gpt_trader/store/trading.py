"""The paper/simulation trading record: sessions, accounts, orders, fills, equity, position state, round
trips and feed health.

Engines write here as they trade; dashboards and later sessions (resuming after a crash) read it back.
Money arguments are `Decimal`, int or decimal strings; floats are refused (see `types.ExactDecimal`).
Each method is one transaction; a running engine writes through `writer.StoreWriter` instead, which
batches the same writes (`writes.py`) off its event loop.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from gpt_trader.store import writes
from gpt_trader.store.base import StoreBase, StoreError, utc_now
from gpt_trader.store.schema import (
    Account,
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
    SessionMode,
    TradingSession,
)
from gpt_trader.store.types import to_decimal

Money = Decimal | int | str


class TradingRecords(StoreBase):
    """The trading-record half of `Store`."""

    def start_session(
        self,
        run_id: int,
        mode: SessionMode | str,
        strategies: Sequence[Any],
        rotation: Mapping[str, Any] | None = None,
    ) -> int:
        """Record a trading session of run `run_id` and return its id."""
        session_row = TradingSession(
            run_id=run_id,
            mode=SessionMode(mode),
            strategies=list(strategies),
            rotation=dict(rotation) if rotation is not None else None,
            state=None,
            heartbeat_at=utc_now(),
        )
        with self._writing() as session:
            session.add(session_row)
            session.flush()
            return session_row.id

    def heartbeat(self, session_id: int, state: Mapping[str, Any] | None = None) -> None:
        """Mark the session alive now and, when given, save the state it would resume from."""
        values: dict[str, Any] = {"heartbeat_at": utc_now()}
        if state is not None:
            values["state"] = dict(state)
        with self._writing() as session:
            statement = update(TradingSession).where(TradingSession.id == session_id).values(values)
            result = session.execute(statement)
            if result.rowcount == 0:  # type: ignore[attr-defined]
                raise StoreError(f"there is no trading session {session_id} in {self.url}")

    def get_session(self, session_id: int) -> TradingSession | None:
        with self._reading() as session:
            return session.get(TradingSession, session_id)

    def add_account(
        self,
        session_id: int,
        name: str,
        *,
        strategy: str,
        product_id: str,
        starting_cash: Money,
        quote_currency: str,
        params: Mapping[str, Any] | None = None,
        settings: Mapping[str, Any] | None = None,
    ) -> int:
        """Record one strategy instance's account in a session and return its id; `settings` says how it
        trades (fees, fill model, sizing, stops)."""
        account = Account(
            session_id=session_id,
            name=name,
            strategy=strategy,
            params=dict(params or {}),
            product_id=product_id,
            starting_cash=to_decimal(starting_cash),
            quote_currency=quote_currency,
            settings=dict(settings or {}),
        )
        try:
            with self._writing() as session:
                session.add(account)
                session.flush()
                return account.id
        except IntegrityError as error:
            raise StoreError(
                f"cannot add account {name!r} to trading session {session_id}: {error.orig}; account "
                "names must be unique within a session and the session must exist"
            ) from None

    def accounts(self, session_id: int) -> list[Account]:
        with self._reading() as session:
            statement = select(Account).where(Account.session_id == session_id).order_by(Account.id)
            return list(session.scalars(statement))

    def record_order(
        self,
        account_id: int,
        client_order_id: str,
        *,
        product_id: str,
        side: OrderSide | str,
        order_type: str,
        status: str,
        config: Mapping[str, Any] | None = None,
        base_size: Money | None = None,
        quote_size: Money | None = None,
        limit_price: Money | None = None,
        stop_price: Money | None = None,
        exchange_order_id: str | None = None,
        time: datetime | None = None,
    ) -> int:
        """Record a new order and return its id; a second order with the same client id is refused."""
        row = writes.order_row(
            account_id,
            client_order_id,
            product_id=product_id,
            side=side,
            order_type=order_type,
            status=status,
            time=time or utc_now(),
            config=config,
            base_size=base_size,
            quote_size=quote_size,
            limit_price=limit_price,
            stop_price=stop_price,
            exchange_order_id=exchange_order_id,
        )
        try:
            with self._writing() as session:
                order_id: int = session.execute(insert(Order).values(row).returning(Order.id)).scalar_one()
                return order_id
        except IntegrityError as error:
            raise StoreError(
                f"cannot record order {client_order_id!r} for account {account_id}: {error.orig}; client "
                "order ids must be unique and the account must exist"
            ) from None

    def update_order(
        self,
        client_order_id: str,
        status: str,
        *,
        exchange_order_id: str | None = None,
        reject_reason: str | None = None,
        time: datetime | None = None,
    ) -> None:
        """Record an order's new status (and the venue's id or the reason it was rejected, when known)."""
        row = writes.order_update_row(
            client_order_id,
            status,
            time=time or utc_now(),
            exchange_order_id=exchange_order_id,
            reject_reason=reject_reason,
        )
        with self._writing() as session:
            writes.update_orders(session, [row])

    def orders(self, account_id: int) -> list[Order]:
        with self._reading() as session:
            statement = select(Order).where(Order.account_id == account_id).order_by(Order.id)
            return list(session.scalars(statement))

    def add_fill(
        self,
        client_order_id: str,
        *,
        trade_id: str,
        price: Money,
        size: Money,
        fee: Money,
        liquidity: Liquidity | str,
        time: datetime | None = None,
        bid: Money | None = None,
        ask: Money | None = None,
    ) -> bool:
        """Record a fill of an order (with the quote it filled against, for paper fills); False, and nothing
        written, when that trade id is already recorded for the order."""
        row = writes.fill_row(
            client_order_id,
            trade_id=trade_id,
            price=price,
            size=size,
            fee=fee,
            liquidity=liquidity,
            time=time or utc_now(),
            bid=bid,
            ask=ask,
        )
        with self._writing() as session:
            (written,) = writes.insert_fills(session, [row])
            return written

    def fills(self, account_id: int) -> list[Fill]:
        """Every fill of an account's orders, oldest first."""
        statement = (
            select(Fill).join(Order, Fill.order_id == Order.id).where(Order.account_id == account_id)
        ).order_by(Fill.time, Fill.id)
        with self._reading() as session:
            return list(session.scalars(statement))

    def add_equity_snapshot(
        self,
        account_id: int,
        *,
        cash: Money,
        position_value: Money,
        units: Money = 0,
        time: datetime | None = None,
    ) -> None:
        """Record an account's cash, position units and their marked value; equity is the exact sum of
        cash and value. A snapshot at a time already recorded replaces it."""
        row = writes.equity_row(
            account_id, cash=cash, position_value=position_value, units=units, time=time or utc_now()
        )
        with self._writing() as session:
            writes.upsert_equity_snapshots(session, [row])

    def equity_curve(self, account_id: int, since: datetime | None = None) -> list[EquitySnapshot]:
        statement = select(EquitySnapshot).where(EquitySnapshot.account_id == account_id)
        if since is not None:
            statement = statement.where(EquitySnapshot.time >= since)
        with self._reading() as session:
            return list(session.scalars(statement.order_by(EquitySnapshot.time, EquitySnapshot.id)))

    def record_feed_event(
        self,
        kind: FeedEventKind | str,
        detail: Mapping[str, Any] | None = None,
        *,
        session_id: int | None = None,
        product_id: str | None = None,
        connection: int | None = None,
        time: datetime | None = None,
    ) -> None:
        """Record a change in feed health (connected, gap, stale, ...), of one product or connection if given."""
        row = writes.feed_event_row(
            kind,
            time=time or utc_now(),
            detail=detail,
            session_id=session_id,
            product_id=product_id,
            connection=connection,
        )
        with self._writing() as session:
            writes.insert_feed_events(session, [row])

    def feed_events(self, session_id: int | None = None, limit: int = 100) -> list[FeedEvent]:
        """The newest feed events first, of one session or of all."""
        statement = select(FeedEvent).order_by(FeedEvent.time.desc(), FeedEvent.id.desc()).limit(limit)
        if session_id is not None:
            statement = statement.where(FeedEvent.session_id == session_id)
        with self._reading() as session:
            return list(session.scalars(statement))

    def set_account_status(self, account_id: int, status: AccountStatus | str, error: str | None = None) -> None:
        """Mark an account active, stopped or failed (with the error that stopped it)."""
        with self._writing() as session:
            writes.set_account_statuses(session, [writes.account_status_row(account_id, status, error)])

    def save_position_state(
        self,
        account_id: int,
        *,
        product_id: str,
        units: Money,
        entry_price: Money | None = None,
        entry_time: datetime | None = None,
        stop_loss_level: float | None = None,
        take_profit_level: float | None = None,
        trailing_best: float | None = None,
        pending_signal: int | None = None,
        last_bar_time: datetime | None = None,
        time: datetime | None = None,
    ) -> None:
        """Save where an account's position rules stand, replacing what was saved before."""
        row = writes.position_row(
            account_id,
            product_id=product_id,
            units=units,
            time=time or utc_now(),
            entry_price=entry_price,
            entry_time=entry_time,
            stop_loss_level=stop_loss_level,
            take_profit_level=take_profit_level,
            trailing_best=trailing_best,
            pending_signal=pending_signal,
            last_bar_time=last_bar_time,
        )
        with self._writing() as session:
            writes.upsert_position_states(session, [row])

    def position_state(self, account_id: int) -> PositionState | None:
        with self._reading() as session:
            return session.get(PositionState, account_id)

    def add_round_trip(
        self,
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
    ) -> bool:
        """Record a closed position; False, and nothing written, when the account's close at `exit_time` is
        already recorded."""
        row = writes.round_trip_row(
            account_id,
            product_id=product_id,
            side=side,
            units=units,
            entry_time=entry_time,
            entry_price=entry_price,
            exit_time=exit_time,
            exit_price=exit_price,
            fees=fees,
            pnl=pnl,
            exit_reason=exit_reason,
        )
        with self._writing() as session:
            (written,) = writes.insert_round_trips(session, [row])
            return written

    def round_trips(self, account_id: int) -> list[RoundTrip]:
        """An account's closed positions, in the order they closed."""
        statement = select(RoundTrip).where(RoundTrip.account_id == account_id)
        with self._reading() as session:
            return list(session.scalars(statement.order_by(RoundTrip.exit_time, RoundTrip.id)))

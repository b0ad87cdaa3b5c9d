"""The paper/simulation trading record: sessions, accounts, orders, fills, equity and feed health.

Engines write here as they trade; dashboards and later sessions (resuming after a crash) read it back.
Money arguments are `Decimal`, int or decimal strings; floats are refused (see `types.ExactDecimal`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from gpt_trader.store.base import StoreBase, StoreError, utc_now
from gpt_trader.store.schema import (
    Account,
    EquitySnapshot,
    FeedEvent,
    FeedEventKind,
    Fill,
    Liquidity,
    Order,
    OrderSide,
    SessionMode,
    TradingSession,
)
from gpt_trader.store.types import exact_sum, to_decimal

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
    ) -> int:
        """Record one strategy instance's account in a session and return its id."""
        account = Account(
            session_id=session_id,
            name=name,
            strategy=strategy,
            params=dict(params or {}),
            product_id=product_id,
            starting_cash=to_decimal(starting_cash),
            quote_currency=quote_currency,
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
        exchange_order_id: str | None = None,
        time: datetime | None = None,
    ) -> int:
        """Record a new order and return its id; a second order with the same client id is refused."""
        when = time or utc_now()
        order = Order(
            account_id=account_id,
            client_order_id=client_order_id,
            exchange_order_id=exchange_order_id,
            product_id=product_id,
            side=OrderSide(side),
            order_type=order_type,
            config=dict(config or {}),
            status=status,
            base_size=_optional_decimal(base_size),
            quote_size=_optional_decimal(quote_size),
            limit_price=_optional_decimal(limit_price),
            created_at=when,
            updated_at=when,
        )
        try:
            with self._writing() as session:
                session.add(order)
                session.flush()
                return order.id
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
        values: dict[str, Any] = {"status": status, "updated_at": time or utc_now()}
        if exchange_order_id is not None:
            values["exchange_order_id"] = exchange_order_id
        if reject_reason is not None:
            values["reject_reason"] = reject_reason
        with self._writing() as session:
            statement = update(Order).where(Order.client_order_id == client_order_id).values(values)
            result = session.execute(statement)
            if result.rowcount == 0:  # type: ignore[attr-defined]
                raise StoreError(f"there is no order with client id {client_order_id!r} in {self.url}")

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
    ) -> bool:
        """Record a fill of an order; False (and nothing written) when that trade id is already recorded."""
        with self._writing() as session:
            order_id = session.scalar(select(Order.id).where(Order.client_order_id == client_order_id))
            if order_id is None:
                raise StoreError(f"no order with client id {client_order_id!r} to fill in {self.url}")
            duplicate = select(Fill.id).where(Fill.order_id == order_id, Fill.trade_id == trade_id)
            if session.scalar(duplicate) is not None:
                return False
            session.add(
                Fill(
                    order_id=order_id,
                    trade_id=trade_id,
                    price=to_decimal(price),
                    size=to_decimal(size),
                    fee=to_decimal(fee),
                    liquidity=Liquidity(liquidity),
                    time=time or utc_now(),
                )
            )
            return True

    def fills(self, account_id: int) -> list[Fill]:
        """Every fill of an account's orders, oldest first."""
        statement = (
            select(Fill).join(Order, Fill.order_id == Order.id).where(Order.account_id == account_id)
        ).order_by(Fill.time, Fill.id)
        with self._reading() as session:
            return list(session.scalars(statement))

    def add_equity_snapshot(
        self, account_id: int, *, cash: Money, position_value: Money, time: datetime | None = None
    ) -> int:
        """Record an account's cash and marked position value; equity is their exact sum."""
        cash_amount, position_amount = to_decimal(cash), to_decimal(position_value)
        snapshot = EquitySnapshot(
            account_id=account_id,
            time=time or utc_now(),
            cash=cash_amount,
            position_value=position_amount,
            equity=exact_sum(cash_amount, position_amount),
        )
        with self._writing() as session:
            session.add(snapshot)
            session.flush()
            return snapshot.id

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
        time: datetime | None = None,
    ) -> int:
        """Record a change in feed health (connected, gap, stale, ...) and return its id."""
        event = FeedEvent(
            session_id=session_id,
            time=time or utc_now(),
            kind=FeedEventKind(kind),
            detail=dict(detail) if detail is not None else None,
        )
        with self._writing() as session:
            session.add(event)
            session.flush()
            return event.id

    def feed_events(self, session_id: int | None = None, limit: int = 100) -> list[FeedEvent]:
        """The newest feed events first, of one session or of all."""
        statement = select(FeedEvent).order_by(FeedEvent.time.desc(), FeedEvent.id.desc()).limit(limit)
        if session_id is not None:
            statement = statement.where(FeedEvent.session_id == session_id)
        with self._reading() as session:
            return list(session.scalars(statement))


def _optional_decimal(value: Money | None) -> Decimal | None:
    return None if value is None else to_decimal(value)

"""What trading adds to the record: position state, round trips, account status, fills with their quote,
one equity snapshot per moment, feed events per product and connection, and the promised orders."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import create_engine, event, text

from gpt_trader.store import Store, StoreError, open_store
from gpt_trader.store.db import alembic_config
from gpt_trader.store.schema import AccountStatus

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    with open_store(store_url) as opened:
        yield opened


@pytest.fixture
def session_id(store: Store) -> int:
    return store.start_session(store.start_run("paper", "paper BTC"), "paper", ["momentum"])


@pytest.fixture
def account_id(store: Store, session_id: int) -> int:
    return store.add_account(
        session_id,
        "momentum-btc",
        strategy="momentum",
        product_id="BTC-USD",
        starting_cash="10000",
        quote_currency="USD",
        settings={"fee": "0.006", "fill": "next_open"},
    )


def buy(store: Store, account_id: int, client_order_id: str = "cid-1") -> None:
    store.record_order(
        account_id, client_order_id, product_id="BTC-USD", side="BUY", order_type="MARKET", status="OPEN", time=T0
    )


def test_an_account_keeps_its_settings_and_records_why_it_stopped(
    store: Store, session_id: int, account_id: int
) -> None:
    (account,) = store.accounts(session_id)
    assert (account.settings, account.status, account.error) == (
        {"fee": "0.006", "fill": "next_open"},
        AccountStatus.ACTIVE,
        None,
    )
    store.set_account_status(account_id, "failed", "momentum raised ZeroDivisionError at line 12")
    (account,) = store.accounts(session_id)
    assert (account.status, account.error) == (AccountStatus.FAILED, "momentum raised ZeroDivisionError at line 12")
    with pytest.raises(StoreError, match="no account 999"):
        store.set_account_status(999, "stopped")
    with pytest.raises(ValueError):
        store.set_account_status(account_id, "asleep")


def test_the_position_state_is_saved_whole_and_replaced(store: Store, account_id: int) -> None:
    assert store.position_state(account_id) is None
    store.save_position_state(
        account_id,
        product_id="BTC-USD",
        units="0.01234567",
        entry_price="64321.99",
        entry_time=T0,
        stop_loss_level=61105.8905,
        take_profit_level=0.1 + 0.2,
        trailing_best=64400.5,
        pending_signal=-1,
        last_bar_time=T0 + timedelta(hours=3),
        time=T0 + timedelta(hours=3, seconds=1),
    )
    state = store.position_state(account_id)
    assert state is not None
    assert (state.units, state.entry_price, state.entry_time) == (Decimal("0.01234567"), Decimal("64321.99"), T0)
    # Floats come back bit for bit, so a resumed account takes exactly the same decisions.
    assert (state.stop_loss_level, state.take_profit_level, state.trailing_best) == (61105.8905, 0.1 + 0.2, 64400.5)
    assert (state.pending_signal, state.last_bar_time) == (-1, T0 + timedelta(hours=3))
    store.save_position_state(account_id, product_id="BTC-USD", units=0, last_bar_time=T0 + timedelta(hours=4))
    state = store.position_state(account_id)
    assert state is not None and (state.units, state.entry_price, state.stop_loss_level) == (Decimal(0), None, None)


def test_a_round_trip_closing_at_the_same_time_again_is_a_duplicate(store: Store, account_id: int) -> None:
    trip = {
        "product_id": "BTC-USD",
        "side": "BUY",
        "units": "0.01",
        "entry_time": T0,
        "entry_price": "60000",
        "fees": "7.2",
        "exit_reason": "stop_loss",
    }
    later = store.add_round_trip(account_id, exit_time=T0 + timedelta(hours=5), exit_price="57000", pnl="-37.2", **trip)
    earlier = store.add_round_trip(account_id, exit_time=T0 + timedelta(hours=2), exit_price="61000", pnl="2.8", **trip)
    again = store.add_round_trip(account_id, exit_time=T0 + timedelta(hours=2), exit_price="61000", pnl="2.8", **trip)
    assert (later, earlier, again) == (True, True, False)
    trips = store.round_trips(account_id)
    assert [(t.exit_time, t.pnl, t.exit_reason) for t in trips] == [
        (T0 + timedelta(hours=2), Decimal("2.8"), "stop_loss"),
        (T0 + timedelta(hours=5), Decimal("-37.2"), "stop_loss"),
    ]


def test_fills_come_back_in_time_order_whatever_the_order_recorded(store: Store, account_id: int) -> None:
    buy(store, account_id)
    fill = {"price": "100", "size": "1", "fee": "0.6", "liquidity": "TAKER"}
    store.add_fill("cid-1", trade_id="late", time=T0 + timedelta(seconds=9), **fill)
    store.add_fill("cid-1", trade_id="early", time=T0 + timedelta(seconds=1), bid="99.5", ask="100", **fill)
    fills = store.fills(account_id)
    assert [f.trade_id for f in fills] == ["early", "late"]
    assert (fills[0].bid, fills[0].ask, fills[1].bid) == (Decimal("99.5"), Decimal("100"), None)


def test_a_retried_fill_is_reported_as_recorded_without_reaching_the_database(store: Store, account_id: int) -> None:
    buy(store, account_id)
    fill = {"trade_id": "t1", "price": "100", "size": "1", "fee": "0.6", "liquidity": "TAKER", "time": T0}
    assert store.add_fill("cid-1", **fill) is True
    # The duplicate is found by looking, not by the UNIQUE constraint refusing an INSERT.
    statements: list[str] = []
    listener = lambda conn, cursor, statement, *rest: statements.append(statement)  # noqa: E731
    event.listen(store.engine, "before_cursor_execute", listener)
    try:
        assert store.add_fill("cid-1", **fill) is False
    finally:
        event.remove(store.engine, "before_cursor_execute", listener)
    assert statements and not [s for s in statements if s.lstrip().upper().startswith("INSERT")]
    assert len(store.fills(account_id)) == 1


def test_an_equity_snapshot_at_a_recorded_moment_replaces_it(store: Store, account_id: int) -> None:
    store.add_equity_snapshot(account_id, cash="10000", position_value="0", time=T0)
    store.add_equity_snapshot(account_id, cash="3000", position_value="7010.5", units="0.07", time=T0)
    (point,) = store.equity_curve(account_id)
    assert (point.cash, point.units, point.position_value, point.equity) == (
        Decimal("3000"), Decimal("0.07"), Decimal("7010.5"), Decimal("10010.5")
    )


def test_feed_events_name_their_product_and_connection(store: Store, account_id: int) -> None:
    store.record_feed_event("gap", {"expected": 41, "got": 45}, product_id="ETH-USD", connection=2, time=T0)
    (event,) = store.feed_events()
    assert (event.kind, event.product_id, event.connection, event.detail) == (
        "gap", "ETH-USD", 2, {"expected": 41, "got": 45}
    )


def test_the_upgrade_keeps_the_newest_of_duplicate_snapshots(sqlite_url: str) -> None:
    from alembic import command

    open_store(sqlite_url).close()
    engine = create_engine(sqlite_url)
    with engine.begin() as connection:
        command.downgrade(alembic_config(connection), "0001")
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO runs VALUES (1,'paper','r','running','{}','v',NULL,NULL,NULL,1,"
                                "'2025-03-01 12:00:00.000000',NULL,NULL)"))
        connection.execute(text("INSERT INTO sessions VALUES (1,1,'paper','[]',NULL,NULL,NULL)"))
        connection.execute(text("INSERT INTO accounts VALUES (1,1,'a','s','{}','BTC-USD','100','USD')"))
        for snapshot_id, cash in ((1, "100"), (2, "101"), (3, "102")):
            connection.execute(
                text("INSERT INTO equity_snapshots VALUES (:id, 1, '2025-03-01 12:00:00.000000', :cash, '0', :cash)"),
                {"id": snapshot_id, "cash": cash},
            )
    engine.dispose()
    with open_store(sqlite_url) as store:
        (point,) = store.equity_curve(1)
        (account,) = store.accounts(1)
    assert (point.cash, point.units, account.status, account.settings) == (Decimal("102"), Decimal(0), "active", {})

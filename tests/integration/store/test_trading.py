"""Sessions, accounts, orders, fills, equity and feed events round-trip with money kept exact."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Context, Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gpt_trader.store import (
    FeedEventKind,
    Liquidity,
    OrderSide,
    SessionMode,
    Store,
    StoreError,
    open_store,
)

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    with open_store(store_url) as opened:
        yield opened


@pytest.fixture
def session_id(store: Store) -> int:
    run_id = store.start_run("paper", "paper BTC")
    return store.start_session(run_id, "paper", ["sma_cross"])


@pytest.fixture
def account_id(store: Store, session_id: int) -> int:
    return store.add_account(
        session_id,
        "sma-btc",
        strategy="sma_cross",
        product_id="BTC-USD",
        starting_cash="10000.00",
        quote_currency="USD",
        params={"fast": 10, "slow": 50},
    )


def test_a_session_saves_state_to_resume_from(store: Store) -> None:
    run_id = store.start_run("paper", "rotation")
    rotation = {"every": "1d", "pick": "top_sharpe", "pool": ["sma_cross", "rsi"]}
    session_id = store.start_session(run_id, SessionMode.PAPER, ["sma_cross", "rsi"], rotation)
    started = store.get_session(session_id)
    assert started is not None and started.state is None and started.heartbeat_at is not None
    state = {"positions": {"BTC-USD": "0.015"}, "last_bar": "2025-03-01T12:00:00Z", "round": 3}
    store.heartbeat(session_id, state)
    resumed = store.get_session(session_id)
    assert resumed is not None
    assert (resumed.mode, resumed.strategies, resumed.rotation, resumed.state) == (
        SessionMode.PAPER,
        ["sma_cross", "rsi"],
        rotation,
        state,
    )
    assert resumed.heartbeat_at is not None and resumed.heartbeat_at >= started.heartbeat_at
    store.heartbeat(session_id)  # a heartbeat without state keeps the saved state
    again = store.get_session(session_id)
    assert again is not None and again.state == state
    with pytest.raises(StoreError, match="no trading session 777"):
        store.heartbeat(777)


def test_accounts_keep_exact_cash_and_unique_names(store: Store, session_id: int, account_id: int) -> None:
    (account,) = store.accounts(session_id)
    assert account.id == account_id
    assert account.starting_cash == Decimal("10000.00")
    assert (account.name, account.strategy) == ("sma-btc", "sma_cross")
    assert account.params == {"fast": 10, "slow": 50}
    with pytest.raises(StoreError, match=r"'sma-btc'.*unique"):
        store.add_account(
            session_id,
            "sma-btc",
            strategy="rsi",
            product_id="ETH-USD",
            starting_cash=5,
            quote_currency="USD",
        )


def test_an_order_and_its_fills_keep_every_digit(store: Store, account_id: int) -> None:
    order_id = store.record_order(
        account_id,
        "cid-0001",
        product_id="BTC-USD",
        side=OrderSide.BUY,
        order_type="LIMIT",
        status="PENDING",
        config={"limit_limit_gtc": {"base_size": "0.00012345", "limit_price": "64321.99", "post_only": True}},
        base_size="0.00012345",
        limit_price=Decimal("64321.99"),
        time=T0,
    )
    store.update_order("cid-0001", "OPEN", exchange_order_id="ex-42", time=T0 + timedelta(seconds=1))
    first = store.add_fill(
        "cid-0001",
        trade_id="t1",
        price="64321.99",
        size="0.00010000",
        fee="0.0257287960",
        liquidity=Liquidity.MAKER,
        time=T0 + timedelta(seconds=2),
    )
    replayed = store.add_fill(
        "cid-0001", trade_id="t1", price="64321.99", size="0.0001", fee="0.025728796", liquidity="MAKER"
    )
    store.add_fill(
        "cid-0001",
        trade_id="t2",
        price="64321.98",
        size="0.00002345",
        fee="0.006033",
        liquidity="TAKER",
        time=T0 + timedelta(seconds=3),
    )
    store.update_order("cid-0001", "FILLED", time=T0 + timedelta(seconds=3))
    assert first is True and replayed is False

    (order,) = store.orders(account_id)
    assert order.id == order_id
    assert (order.side, order.order_type, order.status, order.exchange_order_id) == (
        OrderSide.BUY,
        "LIMIT",
        "FILLED",
        "ex-42",
    )
    assert order.base_size == Decimal("0.00012345") and order.limit_price == Decimal("64321.99")
    assert order.quote_size is None
    assert order.config["limit_limit_gtc"]["post_only"] is True
    assert (order.created_at, order.updated_at) == (T0, T0 + timedelta(seconds=3))

    fills = store.fills(account_id)
    assert [fill.trade_id for fill in fills] == ["t1", "t2"]
    assert sum(fill.size for fill in fills) == order.base_size
    assert sum(fill.fee for fill in fills) == Decimal("0.0317617960")
    assert [fill.liquidity for fill in fills] == [Liquidity.MAKER, Liquidity.TAKER]


def test_orders_refuse_duplicates_unknown_ids_and_floats(store: Store, account_id: int) -> None:
    order: dict[str, Any] = {"product_id": "BTC-USD", "side": "SELL", "order_type": "MARKET"}
    order["status"] = "PENDING"
    store.record_order(account_id, "cid-dup", base_size="0.5", **order)
    with pytest.raises(StoreError, match=r"cid-dup.*unique"):
        store.record_order(account_id, "cid-dup", base_size="0.5", **order)
    with pytest.raises(ValueError, match=r"not the float 0\.1"):
        store.record_order(account_id, "cid-float", base_size=0.1, **order)  # type: ignore[arg-type]
    with pytest.raises(StoreError, match="no order with client id 'nope'"):
        store.update_order("nope", "CANCELLED")
    with pytest.raises(StoreError, match="no order with client id 'nope'"):
        store.add_fill("nope", trade_id="t", price="1", size="1", fee="0", liquidity="TAKER")
    with pytest.raises(ValueError):
        store.record_order(account_id, "cid-side", base_size="1", **{**order, "side": "HOLD"})
    assert [o.client_order_id for o in store.orders(account_id)] == ["cid-dup"]


def test_a_rejected_order_keeps_its_reason(store: Store, account_id: int) -> None:
    store.record_order(
        account_id,
        "cid-rej",
        product_id="BTC-USD",
        side="BUY",
        order_type="MARKET",
        status="PENDING",
        quote_size="25.00",
    )
    store.update_order("cid-rej", "FAILED", reject_reason="INSUFFICIENT_FUND")
    (order,) = store.orders(account_id)
    assert (order.status, order.reject_reason) == ("FAILED", "INSUFFICIENT_FUND")
    assert order.quote_size == Decimal("25.00") and order.base_size is None


def test_equity_snapshots_are_an_exact_curve(store: Store, account_id: int) -> None:
    marks = [("10000.00", "0"), ("3567.80", "6432.199"), ("3567.80", "6500.1")]
    for minute, (cash, position) in enumerate(marks):
        when = T0 + timedelta(minutes=minute)
        store.add_equity_snapshot(account_id, cash=cash, position_value=position, time=when)
    curve = store.equity_curve(account_id)
    assert [point.equity for point in curve] == [Decimal("10000"), Decimal("9999.999"), Decimal("10067.9")]
    assert [point.time for point in curve] == [T0, T0 + timedelta(minutes=1), T0 + timedelta(minutes=2)]
    assert len(store.equity_curve(account_id, since=T0 + timedelta(minutes=1))) == 2


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    cash=st.decimals(min_value=0, max_value=Decimal("1e15"), places=8),
    position=st.decimals(min_value=Decimal("-1e15"), max_value=Decimal("1e15"), places=18),
)
def test_any_money_amount_round_trips_exactly(
    store: Store, account_id: int, cash: Decimal, position: Decimal
) -> None:
    when = T0 + timedelta(seconds=len(store.equity_curve(account_id)))
    store.add_equity_snapshot(account_id, cash=cash, position_value=position, time=when)
    (stored,) = [point for point in store.equity_curve(account_id) if point.time == when]
    assert (stored.cash, stored.position_value) == (cash, position)
    # 38 significant digits: more than Decimal's default context keeps, so add in a wider one
    assert stored.equity == Context(prec=60).add(cash, position)


def test_feed_events_newest_first_per_session(store: Store, session_id: int) -> None:
    store.record_feed_event(FeedEventKind.CONNECTED, {"url": "wss://sandbox"}, session_id=session_id, time=T0)
    gap = {"channel": "level2", "expected": 41, "got": 45}
    store.record_feed_event("gap", gap, session_id=session_id, time=T0 + timedelta(seconds=5))
    store.record_feed_event("error", {"message": "no session"}, time=T0 + timedelta(seconds=6))
    events = store.feed_events(session_id)
    assert [(event.kind, event.detail) for event in events] == [
        (FeedEventKind.GAP, gap),
        (FeedEventKind.CONNECTED, {"url": "wss://sandbox"}),
    ]
    assert [event.kind for event in store.feed_events(limit=2)] == [FeedEventKind.ERROR, FeedEventKind.GAP]
    with pytest.raises(ValueError):
        store.record_feed_event("hiccup")

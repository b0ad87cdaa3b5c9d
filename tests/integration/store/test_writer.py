"""The batched writer: what it is given lands in the database in order, with the injected clock's times,
in few transactions, idempotently, and a failed write is raised, never dropped."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from gpt_trader.store import Store, StoreError, open_store
from gpt_trader.store.writer import StoreWriter

T0 = datetime(2024, 1, 1, tzinfo=UTC)


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    with open_store(store_url) as opened:
        yield opened


@pytest.fixture
def account_id(store: Store) -> int:
    session_id = store.start_session(store.start_run("simulation", "sim"), "simulation", ["momentum"])
    return store.add_account(
        session_id, "a1", strategy="momentum", product_id="BTC-USD", starting_cash="1000", quote_currency="USD"
    )


class MarketClock:
    """A replay's clock: the time of the bar being processed."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def test_a_replay_lands_whole_in_order_with_market_times(store: Store, account_id: int) -> None:
    clock = MarketClock()
    with StoreWriter(store, clock=clock) as writer:
        for minute in range(500):
            clock.now = T0 + timedelta(minutes=minute)
            if minute % 100 == 10:
                cid = f"o{minute}"
                writer.record_order(account_id, cid, product_id="BTC-USD", side="BUY", order_type="MARKET",
                                    status="OPEN")
                writer.add_fill(cid, trade_id="1", price="100.01", size="0.5", fee="0.30003", liquidity="TAKER",
                                bid="100", ask="100.01")
                writer.update_order(cid, "FILLED")
            writer.add_equity_snapshot(account_id, cash=Decimal(1000) - minute, position_value=minute, units="0.5")
            writer.save_position_state(account_id, product_id="BTC-USD", units="0.5", last_bar_time=clock.now)
        writer.record_feed_event("gap", {"skipped": 3}, product_id="BTC-USD", connection=1)
        writer.flush()
        stats = writer.stats
    curve = store.equity_curve(account_id)
    assert [point.time for point in curve] == [T0 + timedelta(minutes=m) for m in range(500)]
    assert all(point.equity == Decimal(1000) for point in curve)
    orders = store.orders(account_id)
    assert [(o.client_order_id, o.status, o.created_at) for o in orders] == [
        (f"o{m}", "FILLED", T0 + timedelta(minutes=m)) for m in (10, 110, 210, 310, 410)
    ]
    fills = store.fills(account_id)
    assert [fill.time for fill in fills] == [order.created_at for order in orders]
    state = store.position_state(account_id)
    assert state is not None and state.last_bar_time == T0 + timedelta(minutes=499)
    (event,) = store.feed_events()
    assert (event.time, event.product_id, event.connection) == (T0 + timedelta(minutes=499), "BTC-USD", 1)
    assert stats.rows == 500 * 2 + 5 * 3 + 1 and stats.queued == 0


def test_replayed_writes_change_nothing(store: Store, account_id: int) -> None:
    store.record_order(account_id, "o1", product_id="BTC-USD", side="SELL", order_type="MARKET", status="FILLED")

    def write(writer: StoreWriter) -> None:
        writer.add_fill("o1", trade_id="t", price="10", size="1", fee="0.06", liquidity="TAKER", time=T0)
        writer.add_equity_snapshot(account_id, cash="1009.94", position_value="0", time=T0)
        writer.add_round_trip(account_id, product_id="BTC-USD", side="BUY", units="1", entry_time=T0,
                              entry_price="9", exit_time=T0, exit_price="10", fees="0.06", pnl="0.94",
                              exit_reason="signal")

    for _ in range(2):
        with StoreWriter(store) as writer:
            write(writer)
    assert len(store.fills(account_id)) == 1
    assert len(store.equity_curve(account_id)) == 1
    assert [trip.pnl for trip in store.round_trips(account_id)] == [Decimal("0.94")]


def test_a_write_that_fails_is_raised_by_the_next_call(store: Store, account_id: int) -> None:
    writer = StoreWriter(store)
    writer.add_fill("no-such-order", trade_id="t", price="1", size="1", fee="0", liquidity="TAKER", time=T0)
    with pytest.raises(StoreError, match="no-such-order"):
        writer.flush()
    with pytest.raises(StoreError, match="no-such-order"):
        writer.add_equity_snapshot(account_id, cash="1", position_value="0", time=T0)
    with pytest.raises(StoreError, match="no-such-order"):
        writer.close()


def test_bad_values_are_refused_when_queued_not_later(store: Store, account_id: int) -> None:
    with StoreWriter(store) as writer:
        with pytest.raises(ValueError):
            writer.add_equity_snapshot(account_id, cash=0.1, position_value="0")  # type: ignore[arg-type]
        with pytest.raises(ValueError):
            writer.record_feed_event("hiccup")
    with pytest.raises(StoreError, match="closed"):
        writer.add_equity_snapshot(account_id, cash="1", position_value="0")

"""The batched writer: what it is given lands in the database in order, with the injected clock's times,
in few transactions, idempotently, the same rows as one-at-a-time writes however the kinds interleave, and a
failed write is raised, never dropped."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from gpt_trader.store import Store, StoreError, open_store
from gpt_trader.store.schema import Account, EquitySnapshot, FeedEvent, Fill, Order, PositionState, RoundTrip
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


def _play(target: Store | StoreWriter, account_id: int, session_id: int, prefix: str, seed: int) -> None:
    """A seeded stream of every kind of write, interleaved as an engine makes them (some repeated: a fill's
    trade id, a snapshot's moment, a round trip's exit), made through `Store` or `StoreWriter` alike."""
    chance = random.Random(seed)
    orders: list[str] = []
    for step in range(160):
        now = T0 + timedelta(minutes=step)
        kind = chance.choice(["order", "order", "fill", "fill", "update", "trip", "equity", "position", "feed",
                              "status"])  # fmt: skip
        if kind == "order" or not orders:
            orders.append(f"{prefix}{len(orders)}")
            target.record_order(account_id, orders[-1], product_id="BTC-USD", side=chance.choice(["BUY", "SELL"]),
                                order_type="MARKET", status="OPEN", base_size=Decimal(step) / 64,
                                config={"reason": "signal"}, time=now)  # fmt: skip
        elif kind == "fill":
            target.add_fill(chance.choice(orders), trade_id=str(chance.randrange(3)), price=Decimal(100 + step),
                            size=Decimal("0.5"), fee=Decimal(step) / 1000, liquidity="TAKER", time=now,
                            bid=Decimal(99 + step), ask=Decimal(101 + step))  # fmt: skip
        elif kind == "update":
            target.update_order(chance.choice(orders), chance.choice(["FILLED", "CANCELLED"]), time=now)
        elif kind == "trip":
            exit_time = T0 + timedelta(minutes=chance.randrange(step + 1))
            target.add_round_trip(account_id, product_id="BTC-USD", side="BUY", units=Decimal("0.5"),
                                  entry_time=T0, entry_price=Decimal(100), exit_time=exit_time,
                                  exit_price=Decimal(100 + step), fees=Decimal("0.1"), pnl=Decimal(step) / 2,
                                  exit_reason="signal")  # fmt: skip
        elif kind == "equity":
            moment = T0 + timedelta(minutes=chance.randrange(step + 1))
            target.add_equity_snapshot(account_id, cash=Decimal(1000 - step), position_value=Decimal(step),
                                       units=Decimal(step) / 8, time=moment)  # fmt: skip
        elif kind == "position":
            target.save_position_state(account_id, product_id="BTC-USD", units=Decimal(step) / 8,
                                       stop_loss_level=90.0 + step, pending_signal=chance.choice([None, 1, -1]),
                                       last_bar_time=now, time=now)  # fmt: skip
        elif kind == "feed":
            target.record_feed_event("gap", {"step": step}, session_id=session_id, product_id="BTC-USD", time=now)
        else:
            target.set_account_status(account_id, chance.choice(["active", "stopped", "failed"]), f"at {step}")


def _record(store: Store, account_id: int, session_id: int, prefix: str) -> dict[str, list[tuple[object, ...]]]:
    """Every row the writes left for one account, in id order, without ids and the client ids' prefix."""
    with store._reading() as session:

        def rows(statement: Any) -> list[Any]:
            return list(session.execute(statement))

        orders = rows(select(Order).where(Order.account_id == account_id).order_by(Order.id))
        fills = rows(select(Fill, Order.client_order_id).join(Order).where(Order.account_id == account_id)
                     .order_by(Fill.id))  # fmt: skip
        trips = rows(select(RoundTrip).where(RoundTrip.account_id == account_id).order_by(RoundTrip.id))
        equity = rows(select(EquitySnapshot).where(EquitySnapshot.account_id == account_id)
                      .order_by(EquitySnapshot.time))  # fmt: skip
        events = rows(select(FeedEvent).where(FeedEvent.session_id == session_id).order_by(FeedEvent.id))
        position = session.get(PositionState, account_id)
        account = session.get(Account, account_id)
    assert position is not None and account is not None
    return {
        "orders": [
            (
                o.client_order_id.removeprefix(prefix),
                o.side,
                o.status,
                o.base_size,
                o.config,
                o.created_at,
                o.updated_at,
            )
            for (o,) in orders
        ],
        "fills": [
            (cid.removeprefix(prefix), f.trade_id, f.price, f.size, f.fee, f.time, f.bid, f.ask) for f, cid in fills
        ],
        "round_trips": [(t.exit_time, t.exit_price, t.pnl) for (t,) in trips],
        "equity": [(e.time, e.cash, e.units, e.position_value, e.equity) for (e,) in equity],
        "feed_events": [(e.time, e.kind, e.detail) for (e,) in events],
        "position": [(position.units, position.stop_loss_level, position.pending_signal, position.updated_at)],
        "account": [(account.status, account.error)],
    }


@pytest.mark.parametrize("max_batch", [3, 20_000])
def test_interleaved_kinds_land_as_one_at_a_time_writes_leave_them(store: Store, max_batch: int) -> None:
    def account() -> tuple[int, int]:
        session_id = store.start_session(store.start_run("simulation", "sim"), "simulation", ["momentum"])
        return store.add_account(session_id, "a", strategy="momentum", product_id="BTC-USD", starting_cash="1000",
                                 quote_currency="USD"), session_id  # fmt: skip

    (reference, reference_session), (batched, batched_session) = account(), account()
    _play(store, reference, reference_session, "r", seed=max_batch)
    with StoreWriter(store, max_batch=max_batch) as writer:
        _play(writer, batched, batched_session, "w", seed=max_batch)
        writer.flush()
        assert writer.stats.largest_batch <= max_batch
    expected = _record(store, reference, reference_session, "r")
    assert all(expected.values()) and len(expected["orders"]) > 20 and len(expected["fills"]) > 10
    assert _record(store, batched, batched_session, "w") == expected


def test_a_failed_batch_keeps_what_was_committed_and_writes_none_of_its_own_rows(store: Store, account_id: int) -> None:
    writer = StoreWriter(store)
    writer.record_order(account_id, "kept", product_id="BTC-USD", side="BUY", order_type="MARKET", status="OPEN")
    writer.add_fill("kept", trade_id="1", price="10", size="1", fee="0.06", liquidity="TAKER", time=T0)
    writer.flush()
    writer.record_order(account_id, "lost", product_id="BTC-USD", side="BUY", order_type="MARKET", status="OPEN")
    writer.add_equity_snapshot(account_id, cash="1", position_value="0", time=T0)
    writer.add_fill("no-such-order", trade_id="t", price="1", size="1", fee="0", liquidity="TAKER", time=T0)
    with pytest.raises(StoreError, match="no-such-order"):
        writer.flush()
    with pytest.raises(StoreError, match="no-such-order"):
        writer.close()
    assert [order.client_order_id for order in store.orders(account_id)] == ["kept"]
    assert [fill.trade_id for fill in store.fills(account_id)] == ["1"]
    assert store.equity_curve(account_id) == []


def test_a_writer_killed_mid_batch_keeps_every_committed_row_and_leaves_no_hole(tmp_path: Path) -> None:
    database = tmp_path / "killed.db"
    with open_store(f"sqlite:///{database}") as store:
        session_id = store.start_session(store.start_run("simulation", "sim"), "simulation", ["momentum"])
        account_id = store.add_account(session_id, "a1", strategy="momentum", product_id="BTC-USD",
                                       starting_cash="1000", quote_currency="USD")  # fmt: skip
    command = [sys.executable, "-m", "tests.support.writer_process", str(database), str(account_id)]
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          env=environment) as writer:  # fmt: skip
        assert writer.stdout is not None and writer.stderr is not None
        reported = [writer.stdout.readline() for _ in range(3)]
        writer.send_signal(signal.SIGKILL)  # while it writes the orders after the third flush
        writer.wait(timeout=30)
        assert all(line.strip().isdigit() for line in reported), writer.stderr.read()
    committed = int(reported[-1])
    with open_store(f"sqlite:///{database}") as store:
        orders = store.orders(account_id)
        fills = store.fills(account_id)
    assert len(orders) >= committed
    assert [order.client_order_id for order in orders] == [f"o{number}" for number in range(len(orders))]
    assert [fill.price for fill in fills] == [Decimal(100 + number) for number in range(len(fills))]
    assert committed <= len(fills) <= len(orders)

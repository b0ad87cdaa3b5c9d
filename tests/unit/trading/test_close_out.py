"""Closing every position at the stop when the book cannot take them all at once: what it did not take waits
for the feed to show the book again, and goes then; what no book can take is left, with its order."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from decimal import Decimal
from pathlib import Path

from gpt_trader.backtest.settings import SimulationSettings
from gpt_trader.market.events import BookLevel, BookUpdate, MarketEvent, Quote
from gpt_trader.market.feed import FeedHealth, HealthKind
from gpt_trader.market.replay import CandleReplay
from gpt_trader.store import open_store
from gpt_trader.store.writer import StoreWriter
from gpt_trader.trading.broker import PaperBroker
from gpt_trader.trading.close_out import close_out
from gpt_trader.trading.engine import Engine, FillModelName
from gpt_trader.trading.fills import FILL_MODELS
from gpt_trader.trading.grids import catalog_grids
from gpt_trader.trading.instance import InstanceSpec
from gpt_trader.trading.orders import OrderStatus, RejectReason
from gpt_trader.trading.run import start_trading_run
from tests.support.always_long import ALWAYS_LONG, walk

SETTINGS = SimulationSettings(fill="close", fee_rate=0.001)


def always_long(tmp_path: Path) -> list[InstanceSpec]:
    strategy = tmp_path / "always_long.py"
    strategy.write_text(ALWAYS_LONG)
    return [InstanceSpec(str(strategy), {}, "BTC-USD", f"long{number}", Decimal(1000), SETTINGS)
            for number in range(3)]  # fmt: skip


def long_engine(
    chosen: list[InstanceSpec], writer: StoreWriter | None = None, session_id: int | None = None,
    account_ids: dict[str, int] | None = None, fill_model: FillModelName = "book",
) -> Engine:  # fmt: skip
    """The accounts of `chosen` long BTC-USD (about 0.05 BTC each) after a replay, on a broker that walks the
    book (or takes the touch)."""
    broker = PaperBroker(catalog_grids(["BTC-USD"]), fill_model=FILL_MODELS[fill_model], stale_after=None)
    engine = Engine(chosen, granularity="1m", broker=broker, fill_model=fill_model, writer=writer,
                    session_id=session_id, account_ids=account_ids)  # fmt: skip
    asyncio.run(engine.run(CandleReplay([walk(30)], half_spread_bps=2.0).events()))
    assert all(instance.account.units("BTC-USD") > 0 for instance in engine.instances)
    return engine


def book(engine: Engine, bids: Iterable[tuple[str, str]], snapshot: bool = False) -> BookUpdate:
    """BTC-USD bids (price, size) just under the last quote, one ask above it, a second after it."""
    time = engine.market_time + 1.0
    levels = tuple(BookLevel(Decimal(price), Decimal(size)) for price, size in bids)
    ask = (BookLevel(Decimal("30000"), Decimal("10")),) if snapshot else ()
    return BookUpdate("BTC-USD", time, levels, ask, snapshot=snapshot)


async def feed(events: Iterable[MarketEvent]) -> AsyncIterator[MarketEvent]:
    for event in events:
        yield event


def test_what_the_bids_could_not_take_goes_when_the_book_shows_them_again(tmp_path: Path) -> None:
    db = open_store(f"sqlite:///{tmp_path / 'trading.db'}")
    chosen = always_long(tmp_path)
    _, session_id, account_ids = start_trading_run(db, "paper", chosen, {"test": True})
    with StoreWriter(db) as writer:
        engine = long_engine(chosen, writer, session_id, account_ids)
        held = sum(instance.account.units("BTC-USD") for instance in engine.instances)
        price = str(engine.broker.books["BTC-USD"].bids.best())
        # The bids hold little more than one position at the stop: the first order fills, the second in part.
        engine.follow(book(engine, [(price, str(held / 3 + held / 6))], snapshot=True))
        asks_move = BookUpdate("BTC-USD", engine.market_time + 1, (), (BookLevel(Decimal("30000"), Decimal(11)),))
        later = [
            asks_move,  # a sound book whose bids are all taken: no order
            book(engine, [(price, "0")]),  # the level goes: nothing to sell into
            # A quote of a product with a level-2 book moves no level: still no order.
            Quote("BTC-USD", engine.market_time + 2, Decimal(price), Decimal("30000"), Decimal(0), Decimal(10)),
            book(engine, [(price, str(held))]),  # and comes back, showing enough for the rest
        ]
        left = asyncio.run(close_out(engine, feed(later)))
    assert left == []
    orders = [order for order in engine.broker.orders.values() if order.request.reason == "stop"]
    assert [order.status for order in orders] == [OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.CANCELLED,
                                                  OrderStatus.FILLED, OrderStatus.FILLED]  # fmt: skip
    assert orders[1].fills and not orders[2].fills
    for instance in engine.instances:
        assert instance.account.units("BTC-USD") == 0 and engine.position(instance).units == 0.0
        position = db.position_state(account_ids[instance.spec.account])
        assert position is not None and position.units == 0
        assert db.round_trips(account_ids[instance.spec.account])[-1].exit_reason == "stop"


def test_a_book_that_lost_messages_is_not_sold_into_until_its_snapshot(tmp_path: Path) -> None:
    engine = long_engine(always_long(tmp_path))
    price = str(engine.broker.books["BTC-USD"].bids.best())
    engine.follow(FeedHealth(HealthKind.GAP, "3 messages lost", 1, engine.market_time))
    later = [book(engine, [(price, "100")]), book(engine, [(price, "100")], snapshot=True)]
    left = asyncio.run(close_out(engine, feed(later)))
    assert left == []
    orders = [order for order in engine.broker.orders.values() if order.request.reason == "stop"]
    # One refusal each at the stop, none while the book still awaited its snapshot, one fill each after it.
    assert [order.status for order in orders] == [OrderStatus.REJECTED] * 3 + [OrderStatus.FILLED] * 3
    assert {order.rejection.reason for order in orders[:3] if order.rejection} == {RejectReason.NO_MARKET}


def test_positions_the_events_ended_before_are_left_with_their_last_order(tmp_path: Path) -> None:
    engine = long_engine(always_long(tmp_path))
    price = str(engine.broker.books["BTC-USD"].bids.best())
    first = engine.instances[0].account.units("BTC-USD")
    engine.follow(book(engine, [(price, str(first))], snapshot=True))
    left = asyncio.run(close_out(engine, feed([])))
    assert [order.status for order in left] == [OrderStatus.CANCELLED, OrderStatus.CANCELLED]
    assert {order.request.account_id for order in left} == {
        instance.account.account_id for instance in engine.instances[1:]
    }
    assert engine.instances[0].account.units("BTC-USD") == 0
    assert all(instance.account.units("BTC-USD") > 0 for instance in engine.instances[1:])


def test_at_the_touch_only_a_touch_shown_again_is_sold_into_not_the_depth_behind_it(tmp_path: Path) -> None:
    engine = long_engine(always_long(tmp_path), fill_model="touch")
    price = engine.broker.books["BTC-USD"].bids.best()
    assert price is not None
    first = engine.instances[0].account.units("BTC-USD")
    engine.follow(book(engine, [(str(price), str(first)), (str(price - 10), "100")], snapshot=True))
    asks_move = BookUpdate("BTC-USD", engine.market_time + 1, (), (BookLevel(Decimal("30000"), Decimal(11)),))
    left = asyncio.run(close_out(engine, feed([asks_move])))
    orders = [order for order in engine.broker.orders.values() if order.request.reason == "stop"]
    assert [order.status for order in orders] == [OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.CANCELLED]
    assert left == orders[1:]

"""The event engine on replayed candles, with a real SQLite store: failures, ledger invariants, the record."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest

from gpt_trader.backtest.settings import SimulationSettings
from gpt_trader.market.bars import Bars
from gpt_trader.market.events import BarClosed, MarketEvent, Side
from gpt_trader.market.feed import FeedHealth, HealthKind
from gpt_trader.market.replay import CandleReplay
from gpt_trader.store import Store, open_store
from gpt_trader.store.schema import AccountStatus
from gpt_trader.store.writer import StoreWriter
from gpt_trader.trading.broker import PaperBroker
from gpt_trader.trading.engine import Engine, EngineSummary, FillModelName
from gpt_trader.trading.fills import TOUCH
from gpt_trader.trading.grids import catalog_grids
from gpt_trader.trading.instance import InstanceSpec
from gpt_trader.trading.money import is_multiple
from gpt_trader.trading.run import finish_trading_run, start_trading_run
from gpt_trader.trading.stepper import step_bar, step_close, step_quote
from tests.support.synthetic_bars import tick_walk_bars

BARS = 600
FAIL_AFTER = 400
RAISING = f"""\
import numpy as np
from gpt_trader.strategies import Strategy


class FailsLate(Strategy):
    name = "fails_late"

    def lookback(self, params):
        return 3

    def signals(self, bars, params, cache=None):
        if bars.time[-1] >= {{start}} + 60 * {FAIL_AFTER}:
            raise ZeroDivisionError("late trouble")
        out = np.zeros(len(bars), dtype=np.int8)
        out[bars.close > bars.open] = 1
        out[bars.close < bars.open] = -1
        return out
"""


def history(product_id: str = "BTC-USD") -> Bars:
    seed = {"BTC-USD": 3, "ETH-USD": 4}[product_id]
    return tick_walk_bars(BARS, seed=seed, start_ticks=2_000_000, product_id=product_id)


def specs(strategy_file: Path | None = None, fill: str = "next_open", stop_loss: float = 0.001) -> list[InstanceSpec]:
    settings = SimulationSettings(fill=fill, fee_rate=0.001, stop_loss=stop_loss)  # type: ignore[arg-type]
    chosen = [InstanceSpec("ma_crossover", {"fast": 3, "slow": 8}, "BTC-USD", "cross", Decimal(5000), settings),
              InstanceSpec("breakout", {"window": 5}, "ETH-USD", "break", Decimal(7000), settings)]  # fmt: skip
    if strategy_file is not None:
        chosen.append(InstanceSpec(str(strategy_file), {}, "BTC-USD", "late", Decimal(1000), settings))
    return chosen


async def with_health(events: AsyncIterator[MarketEvent], at: float) -> AsyncIterator[MarketEvent]:
    yield FeedHealth(HealthKind.CONNECTED, "replay", connection=1, time=at)
    async for event in events:
        yield event


def run_recorded(store: Store, chosen: list[InstanceSpec]) -> tuple[Engine, EngineSummary, int]:
    bars = [history("BTC-USD"), history("ETH-USD")]
    run_id, session_id, account_ids = start_trading_run(store, "simulation", chosen, {"test": True})
    replay = CandleReplay(bars)
    with StoreWriter(store) as writer:
        engine = Engine(chosen, granularity="1m", broker=PaperBroker(catalog_grids(["BTC-USD", "ETH-USD"])),
                        writer=writer, session_id=session_id, account_ids=account_ids)  # fmt: skip
        summary = asyncio.run(engine.run(with_health(replay.events(), float(bars[0].time[0]))))
    finish_trading_run(store, run_id, session_id, summary)
    return engine, summary, session_id


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return open_store(f"sqlite:///{tmp_path / 'trading.db'}")


def test_a_strategy_raising_mid_run_stops_alone_and_its_account_says_where(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "fails_late.py"
    path.write_text(RAISING.format(start=int(history().time[0])))
    engine, summary, session_id = run_recorded(store, specs(path))
    late = next(status for status in summary.statuses if status.account == "late")
    assert late.error is not None
    assert "ZeroDivisionError: late trouble" in late.error and f"{path}:" in late.error
    assert late.trades > 0, "it traded until it failed"
    accounts = {account.name: account for account in store.accounts(session_id)}
    assert accounts["late"].status is AccountStatus.FAILED and accounts["late"].error == late.error
    assert accounts["cross"].status is AccountStatus.STOPPED and accounts["cross"].error is None
    failed_at = float(history().time[0] + 60 * FAIL_AFTER)
    late_orders = [order for order in engine.broker.orders.values() if order.request.account_id == "late"]
    assert max(order.created_time for order in late_orders) <= failed_at
    cross_orders = [order for order in engine.broker.orders.values() if order.request.account_id == "cross"]
    assert max(order.created_time for order in cross_orders) > failed_at, "the others went on"


def test_ledger_invariants_hold_at_the_end(store: Store) -> None:
    engine, summary, _ = run_recorded(store, specs())
    assert summary.orders > 20 and summary.rejected_orders == 0
    for instance, status in zip(engine.instances, summary.statuses, strict=True):
        account, grid = instance.account, engine.broker.grids[instance.spec.product_id]
        mark = Decimal(repr(float(history(instance.spec.product_id).close[-1])))
        marks = {instance.spec.product_id: mark}
        assert account.cash + account.units(instance.spec.product_id) * mark == (
            account.start_cash + account.realised + account.unrealised(marks) - account.fees
        )
        assert account.cash >= 0 and account.fees >= 0
        assert is_multiple(account.units(instance.spec.product_id), grid.base_increment)
        assert status.equity == account.cash + grid.quote_amount(account.units(instance.spec.product_id) * mark)
        assert status.closed_trades == len(account.round_trips) > 2


def test_the_store_holds_what_the_summary_says(store: Store) -> None:
    engine, summary, session_id = run_recorded(store, specs())
    session = store.get_session(session_id)
    assert session is not None and session.state is not None
    for account_row in store.accounts(session_id):
        status = next(status for status in summary.statuses if status.account == account_row.name)
        orders = [order for order in engine.broker.orders.values() if order.request.account_id == account_row.name]
        stored_orders = store.orders(account_row.id)
        assert len(stored_orders) == len(orders) == status.trades + status.closed_trades
        fills = store.fills(account_row.id)
        assert [(fill.price, fill.size, fill.fee) for fill in fills] == [
            (fill.price, fill.size, fill.fee) for order in orders for fill in order.fills
        ]
        assert all(fill.bid is not None and fill.bid < fill.ask for fill in fills)
        trips = store.round_trips(account_row.id)
        assert len(trips) == status.closed_trades
        assert {trip.exit_reason for trip in trips} <= {"signal", "stop_loss"}
        assert sum(trip.pnl for trip in trips) == sum(trip.net_pnl for trip in engine.broker.accounts[
            account_row.name].round_trips)  # fmt: skip
        curve = store.equity_curve(account_row.id)
        assert curve[-1].equity == status.equity
        assert [snapshot.time for snapshot in curve] == sorted({snapshot.time for snapshot in curve})
        position = store.position_state(account_row.id)
        assert position is not None and position.units == status.units and position.last_bar_time is not None
        assert session.state["final_equity"][account_row.name] == str(status.equity)
    events = store.feed_events(session_id)
    assert [event.kind for event in events] == [HealthKind.CONNECTED]
    assert engine.feed_health[1].kind is HealthKind.CONNECTED


def test_touch_fills_take_the_quoted_ask_and_bid() -> None:
    bars = [history("BTC-USD")]
    chosen = specs(fill="close", stop_loss=0.000001)[:1]
    engine = Engine(chosen, granularity="1m", broker=PaperBroker(catalog_grids(["BTC-USD"]), fill_model=TOUCH,
                                                                stale_after=None), fill_model="touch")  # fmt: skip
    replay = CandleReplay(bars, half_spread_bps=2.0)
    summary = asyncio.run(engine.run(replay.events()))
    fills = [fill for order in engine.broker.orders.values() for fill in order.fills]
    assert summary.fills == len(fills) > 10
    for fill in fills:
        assert fill.quote is not None
        assert fill.price == (fill.quote.ask if fill.side is Side.BUY else fill.quote.bid)
    reasons = {order.request.reason for order in engine.broker.orders.values()}
    assert "stop_loss" in reasons, "stops are checked on quotes"


def test_bad_instances_are_refused_with_what_to_change() -> None:
    grids = catalog_grids(["BTC-USD"])
    with pytest.raises(ValueError, match="ETH-USD has no grid in the broker; it trades BTC-USD"):
        Engine(specs()[1:2], granularity="1m", broker=PaperBroker(grids))
    with pytest.raises(Exception, match="unknown strategy 'nope'"):
        Engine([InstanceSpec("nope", {}, "BTC-USD", "a", Decimal(1))], granularity="1m", broker=PaperBroker(grids))
    with pytest.raises(Exception, match="capital must be a positive amount"):
        InstanceSpec("momentum", {}, "BTC-USD", "a", Decimal(0))


@pytest.mark.parametrize("fill_model", ["bar", "touch"])
def test_building_an_engine_compiles_the_stepper_for_the_types_the_feed_brings(fill_model: FillModelName) -> None:
    reported: list[tuple[int, int]] = []
    engine = Engine(specs(fill="close")[:1], granularity="1m", fill_model=fill_model,
                    broker=PaperBroker(catalog_grids(["BTC-USD"]), fill_model=TOUCH, stale_after=None),
                    compile_progress=lambda done, total: reported.append((done, total)))  # fmt: skip
    assert reported == [(1, 3), (2, 3), (3, 3)]
    compiled = {step: list(step.signatures) for step in (step_bar, step_quote, step_close)}
    assert all(compiled.values())
    summary = asyncio.run(engine.run(CandleReplay([history("BTC-USD")], half_spread_bps=2.0).events()))
    assert summary.fills > 0
    assert {step: list(step.signatures) for step in compiled} == compiled, "nothing compiled on the feed's path"


def recorded(store: Store, chosen: list[InstanceSpec], yield_every: int) -> dict[str, tuple[list, list]]:
    bars = [history("BTC-USD"), history("ETH-USD")]
    run_id, session_id, account_ids = start_trading_run(store, "simulation", chosen, {"test": True})
    with StoreWriter(store) as writer:
        engine = Engine(chosen, granularity="1m", broker=PaperBroker(catalog_grids(["BTC-USD", "ETH-USD"])),
                        writer=writer, session_id=session_id, account_ids=account_ids, snapshot_every=7,
                        yield_every=yield_every)  # fmt: skip
        summary = asyncio.run(engine.run(CandleReplay(bars).events()))
    finish_trading_run(store, run_id, session_id, summary)
    return {
        account.name: (
            [(fill.time, fill.price, fill.bid, fill.ask) for fill in store.fills(account.id)],
            [(snapshot.time, snapshot.equity) for snapshot in store.equity_curve(account.id)],
        )
        for account in store.accounts(session_id)
    }


def test_a_replay_records_the_same_whatever_lead_the_reader_takes(tmp_path: Path) -> None:
    # The reader runs ahead of the decisions by up to `yield_every` messages: the quote a fill records and
    # the time of a snapshot must be those of the bar decided, not of the latest message read.
    chosen = specs()
    in_step = recorded(open_store(f"sqlite:///{tmp_path / 'in-step.db'}"), chosen, yield_every=1)
    far_ahead = recorded(open_store(f"sqlite:///{tmp_path / 'ahead.db'}"), chosen, yield_every=500)
    assert in_step.keys() == {"cross", "break"}
    assert all(fills and len(curve) > BARS // 7 for fills, curve in in_step.values())
    assert far_ahead == in_step


def test_a_paced_replay_reaches_the_store_as_it_runs(tmp_path: Path) -> None:
    # Bar fills hand rows to the writer in large runs; a replay paced in wall time must still show on the
    # monitors while it runs, not only at its end.
    url = f"sqlite:///{tmp_path / 'paced.db'}"
    store = open_store(url)
    chosen = specs()
    run_id, session_id, account_ids = start_trading_run(store, "simulation", chosen, {"test": True})
    seen_while_running: list[int] = []

    async def paced(events: AsyncIterator[MarketEvent]) -> AsyncIterator[MarketEvent]:
        bars = 0
        async for event in events:
            yield event
            bars += isinstance(event, BarClosed)
            if bars in (100, 103) and isinstance(event, BarClosed):
                await asyncio.sleep(1.2)  # a slow market: the decisions catch up, then wall time passes
            if bars == 106 and isinstance(event, BarClosed) and not seen_while_running:
                reader = open_store(url)
                rows = [len(reader.equity_curve(a)) + len(reader.fills(a)) for a in account_ids.values()]
                seen_while_running.append(sum(rows))

    with StoreWriter(store) as writer:
        engine = Engine(chosen, granularity="1m", broker=PaperBroker(catalog_grids(["BTC-USD", "ETH-USD"])),
                        writer=writer, session_id=session_id, account_ids=account_ids, snapshot_every=7)  # fmt: skip
        summary = asyncio.run(engine.run(paced(CandleReplay([history("BTC-USD"), history("ETH-USD")]).events())))
    finish_trading_run(store, run_id, session_id, summary)
    assert seen_while_running and seen_while_running[0] > 0

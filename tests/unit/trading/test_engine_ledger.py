"""The engine's rule state follows its ledger: fills at the book re-base it, refused orders leave no phantom
position, and no order fills without a price."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest

from gpt_trader.backtest.settings import SimulationSettings
from gpt_trader.market.events import BarClosed, MarketEvent, Side
from gpt_trader.market.feed import FeedHealth, HealthKind
from gpt_trader.market.replay import CandleReplay
from gpt_trader.store import open_store
from gpt_trader.store.writer import StoreWriter
from gpt_trader.trading.broker import PaperBroker
from gpt_trader.trading.engine import Engine, FillModelName
from gpt_trader.trading.fills import BOOK, TOUCH
from gpt_trader.trading.grids import catalog_grids
from gpt_trader.trading.instance import Instance, InstanceSpec
from gpt_trader.trading.orders import OrderStatus
from gpt_trader.trading.rules import levels, rules_from_params
from gpt_trader.trading.run import finish_trading_run, start_trading_run
from tests.support.always_long import ALWAYS_LONG, walk
from tests.support.rule_replay import make_bars

ACTIVE = {"momentum": {"lookback": 3, "threshold": 0.0005}, "breakout": {"window": 5},
          "mean_reversion": {"window": 8, "num_std": 1.0}}  # fmt: skip
NO_STOPS = SimulationSettings(fill="close", fee_rate=0.001)
STOPS = SimulationSettings(fill="close", fee_rate=0.001, stop_loss=0.002, take_profit=0.003, trailing_stop=0.002,
                           allow_short=False)  # fmt: skip


def specs(settings: SimulationSettings, capital: Decimal = Decimal(5000)) -> list[InstanceSpec]:
    return [InstanceSpec(name, params, "BTC-USD", name, capital, settings) for name, params in ACTIVE.items()]


def engine_for(
    chosen: list[InstanceSpec], fill_model: FillModelName, checks: list[str], granularity: str = "1m"
) -> Engine:
    """An engine that checks, after every closed bar, that each instance's rule state follows its ledger."""
    broker = PaperBroker(catalog_grids(["BTC-USD"]), fill_model=BOOK if fill_model == "book" else TOUCH,
                         stale_after=None)  # fmt: skip

    def observe(product_id: str, bar: int) -> None:
        for instance in engine.instances:
            checks.extend(disagreements(engine, instance, rebased=fill_model != "bar"))

    engine = Engine(chosen, granularity=granularity, broker=broker, fill_model=fill_model, observer=observe)
    return engine


def disagreements(engine: Engine, instance: Instance, *, rebased: bool) -> list[str]:
    """Where the rule state of `instance` departs from its ledger (with `rebased`: from its actual fills)."""
    rule, ledger = engine.position(instance), instance.account.positions.get(instance.spec.product_id)
    held = ledger.units if ledger is not None else Decimal(0)
    label = f"{instance.spec.account} at {engine.market_time}"
    if (rule.units > 0) != (held > 0) or (rule.units < 0) != (held < 0):
        return [f"{label}: the rules hold {rule.units}, the ledger {held}"]
    if not rebased:
        return []
    found = []
    if rule.units != float(held):
        found.append(f"{label}: rule units {rule.units} != filled {held}")
    if engine.rule_cash(instance) != float(instance.account.cash):
        found.append(f"{label}: rule cash {engine.rule_cash(instance)} != ledger cash {instance.account.cash}")
    if held and ledger is not None and ledger.trip is not None:
        entry = float(ledger.trip.entry_value / ledger.trip.size)  # the average price of the entry's fills
        stop, take = levels(1 if held > 0 else -1, entry, rules_from_params(instance.kernel_params))
        if (rule.entry_price, rule.stop, rule.take) != (entry, stop, take):
            found.append(f"{label}: rule entry/stop/take {rule.entry_price, rule.stop, rule.take} are not based "
                         f"on the fill at {entry} ({stop}, {take})")  # fmt: skip
        if (rule.best < entry) if held > 0 else (rule.best > entry):
            found.append(f"{label}: trailing best {rule.best} is on the wrong side of the fill at {entry}")
    return found


@pytest.mark.parametrize("fill_model", ["touch", "book"])
def test_touch_and_book_fills_rebase_the_rule_state_on_the_actual_fill(fill_model: FillModelName) -> None:
    checks: list[str] = []
    engine = engine_for(specs(STOPS), fill_model, checks)
    # A wide spread: the book's ask and bid are far from the close the rules decide on.
    summary = asyncio.run(engine.run(CandleReplay([walk()], half_spread_bps=15.0).events()))
    assert summary.fills > 20 and summary.rejected_orders == 0
    reasons = {order.request.reason for order in engine.broker.orders.values()}
    assert {"stop_loss", "take_profit", "trailing_stop"} & reasons, reasons
    assert checks == []


async def gapped_before_closes(events: AsyncIterator[MarketEvent], every: int) -> AsyncIterator[MarketEvent]:
    """The replay with a feed gap before every `every`-th closed bar: that bar's orders meet a broken book."""
    closed = 0
    async for event in events:
        if isinstance(event, BarClosed):
            closed += 1
            if closed % every == 0:
                yield FeedHealth(HealthKind.GAP, "injected", connection=1, time=float(event.end))
        yield event


def test_orders_refused_on_a_gapped_book_leave_the_rules_with_what_the_ledger_holds() -> None:
    checks: list[str] = []
    settings = SimulationSettings(fill="close", fee_rate=0.001, stop_loss=0.004)
    engine = engine_for(specs(settings), "touch", checks)
    events = gapped_before_closes(CandleReplay([walk()], half_spread_bps=2.0).events(), every=2)
    summary = asyncio.run(engine.run(events))
    refused = [order for order in engine.broker.orders.values() if order.status is OrderStatus.REJECTED]
    refused_exits = [order for order in refused if order.request.side is Side.SELL]  # long only: a sale exits
    assert summary.fills > 10 and len(refused) > 5 and refused_exits
    assert checks == []


@pytest.mark.parametrize("fill_model", ["bar", "touch"])
def test_entries_below_the_minimum_size_leave_the_rules_flat(fill_model: FillModelName) -> None:
    checks: list[str] = []
    settings = SimulationSettings(fill="close", fee_rate=0.001, stop_loss=0.004)
    # Half a dollar buys less than the product's minimum order of one dollar: no entry can be placed.
    engine = engine_for(specs(settings, capital=Decimal("0.5")), fill_model, checks)
    summary = asyncio.run(engine.run(CandleReplay([walk(200)], half_spread_bps=2.0).events()))
    assert summary.orders == 0 and summary.fills == 0
    assert any(status.last_signal for status in summary.statuses), "the rules asked for entries"
    assert checks == []
    for instance in engine.instances:
        assert engine.position(instance).units == 0.0
        assert engine.rule_cash(instance) == 0.5


def test_a_bar_priced_zero_fills_no_stop(tmp_path: Path) -> None:
    strategy = tmp_path / "always_long.py"
    strategy.write_text(ALWAYS_LONG)
    settings = SimulationSettings(fill="close", fee_rate=0.0, stop_loss=0.05)
    chosen = [InstanceSpec(str(strategy), {}, "BTC-USD", "long", Decimal(1000), settings)]
    bars = make_bars([100.0] * 6, open_=[100, 0, 100, 100, 100, 100], high=[100, 100, 0, 100, 100, 100],
                     low=[100, 0, 0, 100, 100, 100])  # fmt: skip
    checks: list[str] = []
    engine = engine_for(chosen, "bar", checks, granularity="1h")
    summary = asyncio.run(engine.run(CandleReplay([bars], half_spread_bps=1.0).events()))
    orders = list(engine.broker.orders.values())
    assert [order.request.reason for order in orders] == ["signal"], [order.rejection for order in orders]
    assert summary.rejected_orders == 0 and checks == []
    assert all(fill.price > 0 for order in orders for fill in order.fills)


@pytest.mark.parametrize("fill_model", ["bar", "touch"])
def test_flatten_closes_every_position_through_the_broker_ledger_and_store(
    tmp_path: Path, fill_model: FillModelName
) -> None:
    strategy = tmp_path / "always_long.py"
    strategy.write_text(ALWAYS_LONG)
    chosen = [InstanceSpec(str(strategy), {}, "BTC-USD", f"long{number}", Decimal(1000), NO_STOPS)
              for number in range(2)]  # fmt: skip
    store = open_store(f"sqlite:///{tmp_path / 'trading.db'}")
    run_id, session_id, account_ids = start_trading_run(store, "simulation", chosen, {"test": True})
    broker = PaperBroker(catalog_grids(["BTC-USD"]), fill_model=TOUCH, stale_after=None)
    with StoreWriter(store) as writer:
        engine = Engine(chosen, granularity="1m", broker=broker, fill_model=fill_model, writer=writer,
                        session_id=session_id, account_ids=account_ids)  # fmt: skip
        summary = asyncio.run(engine.run(CandleReplay([walk(30)], half_spread_bps=2.0).events()))
        assert all(instance.account.units("BTC-USD") > 0 for instance in engine.instances)
        orders = engine.flatten()
    finish_trading_run(store, run_id, session_id, engine.summary(summary.seconds))
    assert [order.request.reason for order in orders] == ["stop", "stop"]
    assert all(order.status is OrderStatus.FILLED for order in orders)
    for instance in engine.instances:
        assert instance.account.units("BTC-USD") == 0 and engine.position(instance).units == 0.0
        assert engine.rule_cash(instance) == float(instance.account.cash)
        account_id = account_ids[instance.spec.account]
        assert store.round_trips(account_id)[-1].exit_reason == "stop"
        position = store.position_state(account_id)
        assert position is not None and position.units == 0 and position.stop_loss_level is None
        assert store.equity_curve(account_id)[-1].equity == instance.account.cash
        assert len(store.orders(account_id)) == len(instance.account.round_trips) * 2

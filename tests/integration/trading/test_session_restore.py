"""What a resumed session's engine writes, on a real SQLite file: orders named by account and sequence, the
ones the store holds checked and not recorded twice, a lost one recorded once, a contradiction refused; and
instances started and retired mid-run by a rotation."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from gpt_trader.backtest.settings import SimulationSettings
from gpt_trader.market.bars import Bars
from gpt_trader.market.events import BarClosed
from gpt_trader.market.granularity import Granularity
from gpt_trader.store import Store
from gpt_trader.trading.broker import PaperBroker
from gpt_trader.trading.engine import Engine
from gpt_trader.trading.fills import TOUCH
from gpt_trader.trading.instance import InstanceSpec
from gpt_trader.trading.money import ProductIncrements
from gpt_trader.trading.restore import SessionWriter
from gpt_trader.trading.session_records import SessionError
from tests.support.live_sandbox import live_session

NOW = datetime(2024, 6, 1, tzinfo=UTC)


def order(writer: SessionWriter, account_id: int, engine_id: str, side: str = "BUY", size: str = "0.5") -> None:
    writer.record_order(account_id, engine_id, product_id="BTC-USD", side=side, order_type="MARKET",
                        status="FILLED", base_size=Decimal(size), time=NOW)  # fmt: skip
    writer.add_fill(engine_id, trade_id=f"{engine_id}-1", price=Decimal(60_000), size=Decimal(size),
                    fee=Decimal(3), liquidity="TAKER", time=NOW)  # fmt: skip


@pytest.fixture
def session(tmp_path: Path) -> tuple[Store, int, int]:
    store, session_id = live_session(tmp_path / "store.db", ["alpha"])
    return store, session_id, store.accounts(session_id)[0].id


def test_a_resumed_writer_checks_the_orders_it_finds_and_records_only_the_new_one(
    session: tuple[Store, int, int],
) -> None:
    store, session_id, account_id = session
    with SessionWriter(store, session_id, [account_id]) as first:
        order(first, account_id, "s1-paper-1")
        order(first, account_id, "s1-paper-2", side="SELL")
    # The process died after its second order; the resumed one re-derives both, then decides a third.
    with SessionWriter(store, session_id, [account_id]) as resumed:
        order(resumed, account_id, "s1-paper-7")
        order(resumed, account_id, "s1-paper-8", side="SELL")
        order(resumed, account_id, "s1-paper-9")
    assert resumed.confirmed == 2
    ids = [row.client_order_id for row in store.orders(account_id)]
    assert ids == [f"s{session_id}-a{account_id}-{k}" for k in (1, 2, 3)]
    assert [fill.trade_id for fill in store.fills(account_id)] == [f"{i}-1" for i in ids]


def test_a_re_derived_order_that_contradicts_the_record_is_refused(session: tuple[Store, int, int]) -> None:
    store, session_id, account_id = session
    with SessionWriter(store, session_id, [account_id]) as first:
        order(first, account_id, "s1-paper-1")
    resumed = SessionWriter(store, session_id, [account_id])
    try:
        with pytest.raises(SessionError, match="cannot resume exactly"):
            order(resumed, account_id, "s1-paper-3", side="SELL")
    finally:
        resumed.close()
    assert len(store.orders(account_id)) == 1


def _bars(count: int, seed: int = 5) -> Bars:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, count)))
    open_ = np.r_[100.0, close[:-1]]
    times = 1_717_200_000 + 60 * np.arange(count)
    return Bars("BTC-USD", Granularity.parse("1m"), times, open_.round(2), np.maximum(open_, close).round(2) + 0.05,
                np.minimum(open_, close).round(2) - 0.05, close.round(2), np.full(count, 5.0))  # fmt: skip


def _events(bars: Bars) -> list[BarClosed]:
    return [
        BarClosed("BTC-USD", 60, int(bars.time[i]), float(bars.open[i]), float(bars.high[i]), float(bars.low[i]),
                  float(bars.close[i]), float(bars.volume[i]))
        for i in range(len(bars))
    ]  # fmt: skip


def _engine(spec: InstanceSpec) -> Engine:
    grid = ProductIncrements("BTC-USD", Decimal("0.00000001"), Decimal("0.01"), Decimal("0.01"),
                             Decimal("0.00000001"), Decimal(1000), Decimal(1), Decimal(10_000_000))  # fmt: skip
    return Engine([spec], granularity="1m", broker=PaperBroker({"BTC-USD": grid}, fill_model=TOUCH, stale_after=None),
                  fill_model="bar")  # fmt: skip


def _spec(account: str) -> InstanceSpec:
    return InstanceSpec("ma_crossover", {"fast": 3, "slow": 8}, "BTC-USD", account, Decimal(10_000),
                        SimulationSettings(fee_rate=0.001))  # fmt: skip


async def _feed(engine: Engine, events: list[BarClosed], at: int, change: Callable[[], object]) -> None:
    """Run `engine` on `events`, calling `change` between event `at - 1` and event `at`, once decided on."""

    async def stream() -> AsyncIterator[BarClosed]:
        for number, event in enumerate(events):
            if number == at:
                await engine.drained()
                change()
            yield event

    await engine.run(stream())


async def test_an_instance_added_mid_run_trades_as_one_that_started_there() -> None:
    bars = _bars(400)
    at = 150
    mid_run = _engine(_spec("first"))
    await _feed(mid_run, _events(bars), at, lambda: mid_run.add_instance(_spec("added")))
    alone = _engine(_spec("added"))
    alone.warm_up({"BTC-USD": bars.slice(None, int(bars.time[at]))})
    await alone.run(_stream(_events(bars)[at:]))

    added = mid_run.broker.accounts["added"]
    assert added.round_trips, "the added instance traded nothing"
    assert added.round_trips == alone.broker.accounts["added"].round_trips
    assert added.cash == alone.broker.accounts["added"].cash


async def test_a_retired_instance_trades_no_more() -> None:
    bars = _bars(400)
    at = 200
    retired, kept = _engine(_spec("first")), _engine(_spec("first"))
    await _feed(retired, _events(bars), at, lambda: retired.retire(retired.instances[0]))
    await kept.run(_stream(_events(bars)))

    def order_times(engine: Engine) -> list[float]:
        return [order.created_time for order in engine.broker.orders.values()]

    before, after = order_times(retired), order_times(kept)
    assert before and len(after) > len(before), "the instance would have traded after the retirement"
    assert before == after[: len(before)] and max(before) <= bars.time[at] <= after[len(before)]


async def _stream(events: list[BarClosed]) -> AsyncIterator[BarClosed]:
    for event in events:
        yield event

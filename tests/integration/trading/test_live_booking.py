"""The live booking path against a real sandbox on loopback and a real SQLite store: a rule fill becomes an
order on the exchange whose fills the ledger books; the same decision taken again (a resumed session
re-trading its past) is read back from the store, never sent twice; a decision on a bar long closed is not
sent late; and a re-derived decision that contradicts the recorded order stops the session."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest

from gpt_trader.market.events import Side
from gpt_trader.store import Store
from gpt_trader.trading.broker import PaperBroker
from gpt_trader.trading.fills import TOUCH
from gpt_trader.trading.instance import Instance, InstanceSpec, resolve_strategy
from gpt_trader.trading.live import FeedEndpoints, fetch_venue_grids
from gpt_trader.trading.live_booking import LiveBooker, LiveOrders
from gpt_trader.trading.live_guard import LiveGuard, LiveLimits
from gpt_trader.trading.orders import OrderStatus
from gpt_trader.trading.session_records import SessionError
from tests.support.live_sandbox import PRODUCT, LiveSandbox, live_session, running_sandbox

LIMITS = LiveLimits(Decimal(5_000), Decimal(50_000), Decimal(1_000), 10)
CAPITAL = Decimal(1_000)
FRESH_SECONDS = 180.0


@pytest.fixture
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LiveSandbox]:
    with running_sandbox(tmp_path) as running:
        monkeypatch.setenv("GPT_TRADER_COINBASE_KEY_FILE", str(running.key_file))
        yield running


@dataclass
class Process:
    """What one session process holds: its live orders, a booker on a paper broker's ledger, an instance."""

    orders: LiveOrders
    booker: LiveBooker
    instance: Instance


@pytest.fixture
def session(tmp_path: Path) -> tuple[Store, int]:
    return live_session(tmp_path / "store.db", ["alpha"])


def start_process(sandbox: LiveSandbox, session: tuple[Store, int]) -> Process:
    store, session_id = session
    orders = LiveOrders.open(LiveGuard.from_flags(True, True), store, session_id, LIMITS, sandbox.url,
                             lambda: sandbox.replay.market_time, FRESH_SECONDS)  # fmt: skip
    orders.reconcile()
    grids = asyncio.run(fetch_venue_grids(FeedEndpoints("sandbox", "ws://unused", sandbox.url), [PRODUCT]))
    broker = PaperBroker(grids, fill_model=TOUCH, stale_after=None)
    spec = InstanceSpec("ma_crossover", {}, PRODUCT, "alpha", CAPITAL)
    strategy, params, lookback = resolve_strategy(spec)
    account = broker.open_account("alpha", CAPITAL)
    instance = Instance(spec, strategy, params, 0, lookback, account, kernel_params=spec.rule_settings.kernel_params())
    return Process(orders, LiveBooker(broker, bar_fills=True, live=orders), instance)


def sandbox_orders(sandbox: LiveSandbox) -> list[str]:
    (key_name,) = sandbox.server.app.state.keys.key_names()
    return [order.request.client_order_id for order in sandbox.exchange.list_orders(key_name)]


def price(sandbox: LiveSandbox) -> float:
    return float(sandbox.bars[PRODUCT].close[-1])


def test_a_rule_fill_is_an_exchange_order_whose_fills_the_ledger_books_and_a_resume_reads_it_back(
    sandbox: LiveSandbox, session: tuple[Store, int]
) -> None:
    store, session_id = session
    first = start_process(sandbox, session)
    decided_at = sandbox.replay.market_time
    try:
        order = first.booker.execute(first.instance, Side.BUY, 0.005, True, price(sandbox), "signal", decided_at,
                                     None)  # fmt: skip
    finally:
        first.orders.close()
    account_id = store.accounts(session_id)[0].id
    assert order is not None and order.status is OrderStatus.FILLED
    assert order.order_id == f"gpt-{session_id}-{account_id}-1" and sandbox_orders(sandbox) == [order.order_id]
    held, cash = first.instance.account.units(PRODUCT), first.instance.account.cash
    assert held == order.filled_size > 0
    assert cash == CAPITAL - sum(fill.value + fill.fee for fill in order.fills)
    assert [fill.size for fill in store.fills(account_id)] == [fill.size for fill in order.fills]

    # A resumed process re-trades the same decision, by now on a bar long closed: read back, not sent.
    resumed = start_process(sandbox, session)
    try:
        again = resumed.booker.execute(resumed.instance, Side.BUY, 0.005, True, price(sandbox), "signal",
                                       decided_at - 10 * FRESH_SECONDS, None)  # fmt: skip
        # Its next decision, an exit the dead process never took, is that old too: not sent late.
        late = resumed.booker.execute(resumed.instance, Side.SELL, 0.0, False, price(sandbox), "signal",
                                      decided_at - 10 * FRESH_SECONDS, None)  # fmt: skip
    finally:
        resumed.orders.close()
    assert again is not None and again.order_id == order.order_id and again.status is OrderStatus.FILLED
    assert (resumed.instance.account.units(PRODUCT), resumed.instance.account.cash) == (held, cash)
    assert late is not None and late.status is OrderStatus.REJECTED and late.rejection is not None
    assert "a late live order is not sent" in late.rejection.message
    assert sandbox_orders(sandbox) == [order.order_id] and len(store.orders(account_id)) == 1


def test_a_re_derived_decision_that_contradicts_the_recorded_order_stops_the_session(
    sandbox: LiveSandbox, session: tuple[Store, int]
) -> None:
    first = start_process(sandbox, session)
    try:
        first.booker.execute(first.instance, Side.BUY, 0.005, True, price(sandbox), "signal",
                             sandbox.replay.market_time, None)  # fmt: skip
    finally:
        first.orders.close()
    resumed = start_process(sandbox, session)
    try:
        with pytest.raises(SessionError, match="re-derived decision 1 of alpha as a SELL, but its order"):
            resumed.booker.execute(resumed.instance, Side.SELL, 0.005, True, price(sandbox), "signal",
                                   sandbox.replay.market_time, None)  # fmt: skip
    finally:
        resumed.orders.close()
    assert len(sandbox_orders(sandbox)) == 1

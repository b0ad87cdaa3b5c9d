"""What a live session finds when it comes back, and the kill switch, against a real sandbox on loopback with a
real SQLite store: a fill that happened while the broker was down is recorded once; an order recorded but
perhaps never sent is settled by its client order id; every open order of the session is cancelled by the kill
switch, and nothing else is."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from decimal import ROUND_DOWN, Decimal
from pathlib import Path

import numpy as np
import pytest

from gpt_trader.coinbase.auth import auth_hook, load_key
from gpt_trader.coinbase.rest import CoinbaseRestClient
from gpt_trader.errors import UserError
from gpt_trader.market.events import Side
from gpt_trader.sandbox.exchange import OrderEvent
from gpt_trader.store import Store, open_store
from gpt_trader.store.schema import AccountStatus
from gpt_trader.trading.live_broker import (
    NOT_PLACED,
    SENDING,
    AccountStopped,
    CoinbaseBroker,
    OrderTag,
    kill,
    kill_session,
)
from gpt_trader.trading.live_guard import LiveGuard, LiveLimits
from gpt_trader.trading.orders import OrderRequest, OrderStatus
from tests.support.live_sandbox import PRODUCT, LiveSandbox, live_session, running_sandbox
from tests.support.order_proxy import OrderProxy

LIMITS = LiveLimits(Decimal(5_000), Decimal(50_000), Decimal(1_000), 10)
TICK = Decimal("0.01")
FILL_WAIT_SECONDS = 90
"""Four hours of market at 300x take 48 s."""


@pytest.fixture
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LiveSandbox]:
    # 300x: an hour of market passes in twelve seconds.
    with running_sandbox(tmp_path, speed=300) as running:
        monkeypatch.setenv("GPT_TRADER_COINBASE_KEY_FILE", str(running.key_file))
        yield running


@pytest.fixture
def database(tmp_path: Path) -> Path:
    return tmp_path / "store.db"


@pytest.fixture
def session(database: Path) -> tuple[Store, int]:
    return live_session(database, ["alpha", "beta"])


def open_broker(url: str, database: Path, session_id: int) -> CoinbaseBroker:
    """A broker as a freshly started process makes one: its own store handle on the file, its own client."""
    return CoinbaseBroker.open(LiveGuard.from_flags(True, True), open_store(f"sqlite:///{database}"), session_id,
                               LIMITS, rest_url=url)  # fmt: skip


def price_reached_later(sandbox: LiveSandbox, bid: Decimal) -> Decimal:
    """A buy price below the bid that the replayed market does not reach in the next five minutes (a second at
    300x, ample to place the order) but does in the hours after (the first that falls far enough), read from
    the bars the sandbox replays."""
    bars, now = sandbox.bars[PRODUCT], sandbox.replay.market_time
    soon = (bars.time >= now // 60 * 60) & (bars.time <= now + 300)
    floor_soon = min(Decimal(str(np.min(bars.low[soon]))), bid)
    for hours in range(1, 5):
        later = (bars.time > now + 300) & (bars.time <= now + hours * 3600)
        floor_later = Decimal(str(np.min(bars.low[later])))
        if floor_soon - floor_later > 20 * TICK:
            return (floor_later + (floor_soon - floor_later) * Decimal("0.7")).quantize(TICK, ROUND_DOWN)
    raise AssertionError(f"the synthetic market (seed 11) does not fall below {floor_soon} in the 4 hours after {now}")


async def wait_until_filled(sandbox: LiveSandbox, client_order_id: str) -> None:
    """Wait for the sandbox to fill the order (on its order events, not by polling)."""
    filled = threading.Event()

    def watch(event: OrderEvent) -> None:
        if event.order["client_order_id"] == client_order_id and event.order["status"] == "FILLED":
            filled.set()

    unsubscribe = sandbox.exchange.subscribe(watch)
    try:
        (key_name,) = sandbox.server.app.state.keys.key_names()
        done = [o for o in sandbox.exchange.list_orders(key_name, statuses={"FILLED"})
                if o.request.client_order_id == client_order_id]  # fmt: skip
        if not done:
            assert await asyncio.to_thread(filled.wait, FILL_WAIT_SECONDS), "the market reached the order's price"
    finally:
        unsubscribe()


async def test_a_fill_while_the_broker_was_down_is_found_on_restart_and_recorded_once(
    sandbox: LiveSandbox, session: tuple[Store, int], database: Path
) -> None:
    store, session_id = session
    first = open_broker(sandbox.url, database, session_id)
    book = await first.client.product_book(PRODUCT, limit=1)
    request = OrderRequest.limit(
        "alpha", PRODUCT, Side.BUY, Decimal("0.01"), price_reached_later(sandbox, book.bids[0].price)
    )
    order = await first.submit(request)
    await first.aclose()
    assert order.status is OrderStatus.OPEN

    await wait_until_filled(sandbox, order.order_id)
    (row,) = store.orders(store.accounts(session_id)[0].id)
    assert row.status == "OPEN" and store.fills(row.account_id) == [], "nothing was recorded while down"

    second = open_broker(sandbox.url, database, session_id)
    try:
        found = await second.reconcile()
        again = await second.reconcile()
    finally:
        await second.aclose()

    assert found.status_changes == [(order.order_id, "OPEN", "FILLED")] and found.adopted == []
    (fill,) = found.new_fills
    assert (fill.order_id, fill.size, fill.price, fill.side) == (order.order_id, Decimal("0.01"), request.limit_price,
                                                                 Side.BUY)  # fmt: skip
    (stored,) = store.fills(row.account_id)
    assert (stored.size, stored.price, stored.fee, stored.liquidity.value) == (fill.size, fill.price, fill.fee, "MAKER")
    assert (again.status_changes, again.new_fills, again.adopted) == ([], [], [])
    assert store.orders(row.account_id)[0].status == "FILLED"


async def test_after_a_kill_9_the_next_process_finds_the_fill_of_the_order_the_dead_one_placed(
    sandbox: LiveSandbox, session: tuple[Store, int], database: Path
) -> None:
    store, session_id = session
    command = [sys.executable, "-m", "tests.support.live_broker_process", sandbox.url, str(database), str(session_id),
               "alpha", "0.01"]  # fmt: skip
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    with subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          env=environment) as broker:  # fmt: skip
        assert broker.stdin is not None and broker.stdout is not None and broker.stderr is not None
        assert broker.stdout.readline() == "ready\n"
        async with CoinbaseRestClient(sandbox.url, auth=auth_hook(load_key())) as client:
            price = price_reached_later(sandbox, (await client.product_book(PRODUCT, limit=1)).bids[0].price)
        broker.stdin.write(f"{price}\n")
        broker.stdin.flush()
        placed = json.loads(broker.stdout.readline() or "{}")
        broker.send_signal(signal.SIGKILL)
        broker.wait(timeout=10)
        assert placed.get("status") == "OPEN", broker.stderr.read()
    assert broker.returncode == -signal.SIGKILL
    await wait_until_filled(sandbox, placed["client_order_id"])

    restarted = open_broker(sandbox.url, database, session_id)
    try:
        found = await restarted.reconcile()
    finally:
        await restarted.aclose()
    assert found.status_changes == [(placed["client_order_id"], "OPEN", "FILLED")]
    assert [(fill.size, fill.price) for fill in found.new_fills] == [(Decimal("0.01"), price)]
    assert len(store.fills(store.accounts(session_id)[0].id)) == 1


async def test_orders_recorded_before_a_crash_are_settled_by_client_order_id(
    sandbox: LiveSandbox, session: tuple[Store, int], database: Path
) -> None:
    """A crash between recording an order and hearing back: one never went out, one landed."""
    store, session_id = session
    alpha = store.accounts(session_id)[0]
    never_sent, landed = (OrderTag(session_id, alpha.id, n).client_order_id for n in (1, 2))
    for client_order_id in (never_sent, landed):
        store.record_order(alpha.id, client_order_id, product_id=PRODUCT, side="BUY", order_type="MARKET",
                           status=SENDING, quote_size=Decimal(100), config={"notional": "100"})  # fmt: skip
    async with CoinbaseRestClient(sandbox.url, auth=auth_hook(load_key())) as client:
        created = await client.market_order(landed, PRODUCT, "BUY", quote_size=Decimal(100))
        repeated = await client.market_order(landed, PRODUCT, "BUY", quote_size=Decimal(100))
    assert repeated.order_id == created.order_id, "a repeated client order id returns the original order"

    broker = open_broker(sandbox.url, database, session_id)
    try:
        found = await broker.reconcile()
        again = await broker.reconcile()
        after = await broker.submit(OrderRequest.market("alpha", PRODUCT, Side.BUY, quote_size=Decimal(10)))
    finally:
        await broker.aclose()

    assert sorted(found.status_changes) == [(never_sent, SENDING, NOT_PLACED), (landed, SENDING, "FILLED")]
    assert [fill.order_id for fill in found.new_fills] == [landed] and again.new_fills == []
    rows = {row.client_order_id: row for row in store.orders(alpha.id)}
    assert rows[landed].exchange_order_id == created.order_id and len(store.fills(alpha.id)) == 2
    assert OrderTag.parse(after.order_id) == OrderTag(session_id, alpha.id, 3), "sequences go on after a restart"
    (key_name,) = sandbox.server.app.state.keys.key_names()
    assert sorted(o.request.client_order_id for o in sandbox.exchange.list_orders(key_name)) == [landed, after.order_id]


async def test_an_open_order_of_the_session_the_store_lost_is_adopted(
    sandbox: LiveSandbox, session: tuple[Store, int], database: Path
) -> None:
    store, session_id = session
    beta = store.accounts(session_id)[1]
    lost = OrderTag(session_id, beta.id, 7).client_order_id
    async with CoinbaseRestClient(sandbox.url, auth=auth_hook(load_key())) as client:
        book = await client.product_book(PRODUCT, limit=1)
        low = (book.bids[0].price / 2).quantize(TICK, ROUND_DOWN)
        await client.limit_order_gtc(lost, PRODUCT, "BUY", Decimal("0.001"), low)
        await client.limit_order_gtc("someone-else-1", PRODUCT, "BUY", Decimal("0.001"), low)
    broker = open_broker(sandbox.url, database, session_id)
    try:
        found = await broker.reconcile()
    finally:
        await broker.aclose()
    assert found.adopted == [lost]
    (row,) = store.orders(beta.id)
    assert (row.client_order_id, row.status, row.limit_price, row.base_size) == (lost, "OPEN", low, Decimal("0.001"))
    assert [r.client_order_id for r in broker.open_orders()] == [lost]


async def test_the_kill_switch_cancels_every_open_order_of_the_session_and_stops_it(
    sandbox: LiveSandbox, session: tuple[Store, int], database: Path
) -> None:
    store, session_id = session
    with OrderProxy(sandbox.url) as proxy:
        running = open_broker(proxy.url, database, session_id)
        book = await running.client.product_book(PRODUCT, limit=1)
        low = (book.bids[0].price / 2).quantize(TICK, ROUND_DOWN)
        placed = [
            await running.submit(OrderRequest.limit(name, PRODUCT, Side.BUY, Decimal("0.001"), low - n))
            for n, name in enumerate(["alpha", "alpha", "beta"])
        ]
        async with CoinbaseRestClient(sandbox.url, auth=auth_hook(load_key())) as client:
            await client.limit_order_gtc("manual-1", PRODUCT, "BUY", Decimal("0.001"), low)
            await client.limit_order_gtc(f"gpt-{session_id + 1}-1-1", PRODUCT, "BUY", Decimal("0.001"), low)
            # The kill switch from elsewhere (another terminal): its own client, from the configured key, and store.
            report = await kill(open_store(f"sqlite:///{database}"), session_id, rest_url=sandbox.url)
            posts_before = len(proxy.calls_to("POST", "/orders"))
            try:
                with pytest.raises(AccountStopped, match="stopped by the kill switch"):
                    await running.submit(OrderRequest.market("beta", PRODUCT, Side.BUY, quote_size=Decimal(10)))
            finally:
                await running.aclose()
            assert len(proxy.calls_to("POST", "/orders")) == posts_before, "a killed session sends no order"

    assert sorted(report.cancelled) == sorted(order.order_id for order in placed) and report.not_cancelled == []
    assert report.accounts_stopped == ["alpha", "beta"]
    (key_name,) = sandbox.server.app.state.keys.key_names()
    statuses = {o.request.client_order_id: o.status.value for o in sandbox.exchange.list_orders(key_name)}
    assert statuses == {**{order.order_id: "CANCELLED" for order in placed}, "manual-1": "OPEN",
                        f"gpt-{session_id + 1}-1-1": "OPEN"}  # fmt: skip
    assert all(row.status == "CANCELLED" for account in store.accounts(session_id) for row in store.orders(account.id))
    assert {account.status for account in store.accounts(session_id)} == {AccountStatus.STOPPED}


async def test_an_order_in_flight_when_the_kill_switch_strikes_is_cancelled_too(
    sandbox: LiveSandbox, session: tuple[Store, int], database: Path
) -> None:
    """The kill switch lists the open orders while an order POST is on its way: the broker, seeing its account
    stopped once the order landed, cancels it itself."""
    store, session_id = session
    reports = []

    async def kill_from_elsewhere() -> None:
        async with CoinbaseRestClient(sandbox.url, auth=auth_hook(load_key())) as client:
            reports.append(await kill_session(client, open_store(f"sqlite:///{database}"), session_id))

    with OrderProxy(sandbox.url) as proxy:
        running = open_broker(proxy.url, database, session_id)
        book = await running.client.product_book(PRODUCT, limit=1)
        low = (book.bids[0].price / 2).quantize(TICK, ROUND_DOWN)
        proxy.before_next_order_post(lambda: asyncio.run(kill_from_elsewhere()))
        try:
            order = await running.submit(OrderRequest.limit("alpha", PRODUCT, Side.BUY, Decimal("0.001"), low))
        finally:
            await running.aclose()

    assert reports[0].cancelled == [], "the order had not reached the exchange when the kill switch listed"
    assert order.status is OrderStatus.CANCELLED
    (key_name,) = sandbox.server.app.state.keys.key_names()
    assert [o.status.value for o in sandbox.exchange.list_orders(key_name)] == ["CANCELLED"]
    assert [row.status for row in store.orders(store.accounts(session_id)[0].id)] == ["CANCELLED"]


async def test_an_order_that_filled_before_the_kill_switch_could_cancel_it_is_reported_done_not_failed(
    sandbox: LiveSandbox, session: tuple[Store, int], database: Path
) -> None:
    """The store still shows a running session's market order open (its fill not recorded yet) when the kill
    switch lists it; by the cancel the exchange has filled it. Nothing was left open: not a failure."""
    store, session_id = session
    account = store.accounts(session_id)[0]
    client_order_id = OrderTag(session_id, account.id, 1).client_order_id
    async with CoinbaseRestClient(sandbox.url, auth=auth_hook(load_key())) as client:
        created = await client.market_order(client_order_id, PRODUCT, "BUY", quote_size=Decimal(10))
        store.record_order(account.id, client_order_id, product_id=PRODUCT, side="BUY", order_type="MARKET",
                           status="OPEN", quote_size=Decimal(10), exchange_order_id=created.order_id)  # fmt: skip
        report = await kill_session(client, store, session_id)

    assert report.not_cancelled == [] and report.cancelled == []
    assert report.already_done == [(client_order_id, "FILLED")]


async def test_an_account_started_after_the_kill_switch_places_nothing(
    sandbox: LiveSandbox, session: tuple[Store, int], database: Path
) -> None:
    """A rotation may start a candidate between the kill switch and the session's next look at its stop
    request: the new account is active, but the session is killed, so it sends nothing."""
    store, session_id = session
    with OrderProxy(sandbox.url) as proxy:
        running = open_broker(proxy.url, database, session_id)
        try:
            await kill(open_store(f"sqlite:///{database}"), session_id, rest_url=sandbox.url)
            store.add_account(session_id, "gamma", strategy="ma_crossover", product_id=PRODUCT,
                              starting_cash="10000", quote_currency="USD")  # fmt: skip
            with pytest.raises(AccountStopped, match=f"session {session_id} was stopped by the kill switch"):
                await running.submit(OrderRequest.market("gamma", PRODUCT, Side.BUY, quote_size=Decimal(10)))
        finally:
            await running.aclose()
        assert proxy.calls_to("POST", "/orders") == []


async def test_a_numbered_order_is_read_back_with_its_fills_and_never_placed_twice(
    sandbox: LiveSandbox, session: tuple[Store, int], database: Path
) -> None:
    """A session's k-th decision is its account's order k: after a restart the decision is read back from the
    store, fills and all, rather than sent again."""
    store, session_id = session
    with OrderProxy(sandbox.url) as proxy:
        first = open_broker(proxy.url, database, session_id)
        try:
            order = await first.submit(OrderRequest.market("alpha", PRODUCT, Side.BUY, quote_size=Decimal(50)), 7)
        finally:
            await first.aclose()
        assert order.status is OrderStatus.FILLED and order.fills
        again = open_broker(proxy.url, database, session_id)
        try:
            await again.reconcile()
            read = await again.placed("alpha", 7)
            assert await again.placed("alpha", 8) is None and await again.placed("nobody", 7) is None
            with pytest.raises(UserError, match="order 7 of account alpha is recorded already"):
                await again.submit(OrderRequest.market("alpha", PRODUCT, Side.BUY, quote_size=Decimal(50)), 7)
        finally:
            await again.aclose()
        assert len(proxy.calls_to("POST", "/orders")) == 1

    account_id = store.accounts(session_id)[0].id
    assert read is not None and read.order_id == order.order_id == f"gpt-{session_id}-{account_id}-7"
    assert read.status is OrderStatus.FILLED
    assert [(f.price, f.size, f.fee, f.value) for f in read.fills] == [(f.price, f.size, f.fee, f.value)
                                                                      for f in order.fills]  # fmt: skip

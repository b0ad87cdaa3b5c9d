"""CoinbaseBroker against a real sandbox on loopback: orders that are traceable, recorded before they are
sent, and a lost answer to an order POST resolved by its client order id, never by sending it again."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import ROUND_DOWN, Decimal
from pathlib import Path

import pytest

from gpt_trader.coinbase.auth import auth_hook, load_key
from gpt_trader.coinbase.orders import OrderOutcomeUnknown
from gpt_trader.coinbase.rest import CoinbaseRestClient
from gpt_trader.coinbase.retry import RetryPolicy
from gpt_trader.market.events import Side
from gpt_trader.store import Store
from gpt_trader.trading.live_broker import CoinbaseBroker, OrderTag
from gpt_trader.trading.live_guard import LiveGuard, LiveLimits
from gpt_trader.trading.orders import OrderRequest, OrderStatus, RejectReason, TimeInForce
from tests.support.live_sandbox import PRODUCT, LiveSandbox, live_session, running_sandbox
from tests.support.order_proxy import OrderProxy

ROOMY = LiveLimits(Decimal(5_000), Decimal(50_000), Decimal(1_000), 10)
FAST = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05)


@pytest.fixture
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LiveSandbox]:
    with running_sandbox(tmp_path) as running:
        monkeypatch.setenv("GPT_TRADER_COINBASE_KEY_FILE", str(running.key_file))
        yield running


@pytest.fixture
def proxy(sandbox: LiveSandbox) -> Iterator[OrderProxy]:
    with OrderProxy(sandbox.url) as running:
        yield running


@pytest.fixture
def session(tmp_path: Path) -> tuple[Store, int]:
    return live_session(tmp_path / "store.db", ["alpha", "beta"])


def broker_through(proxy: OrderProxy, session: tuple[Store, int], timeout: float = 10.0) -> CoinbaseBroker:
    store, session_id = session
    client = CoinbaseRestClient(proxy.url, auth=auth_hook(load_key()), retry=FAST, timeout=timeout)
    return CoinbaseBroker(LiveGuard.from_flags(True, True), client, store, session_id, ROOMY)


async def test_a_market_order_fills_and_is_recorded_with_its_fill_under_a_traceable_id(
    proxy: OrderProxy, session: tuple[Store, int]
) -> None:
    store, session_id = session
    broker = broker_through(proxy, session)
    try:
        order = await broker.submit(OrderRequest.market("alpha", PRODUCT, Side.BUY, quote_size=Decimal(100)))
        second = await broker.submit(OrderRequest.market("beta", PRODUCT, Side.BUY, quote_size=Decimal(50)))
    finally:
        await broker.aclose()

    alpha, beta = store.accounts(session_id)
    assert OrderTag.parse(order.order_id) == OrderTag(session_id, alpha.id, 1)
    assert OrderTag.parse(second.order_id) == OrderTag(session_id, beta.id, 1)
    assert order.status is OrderStatus.FILLED and order.filled_size > 0 and order.fees > 0
    assert order.filled_value + order.fees <= Decimal(100)
    (row,) = store.orders(alpha.id)
    (fill,) = store.fills(alpha.id)
    assert (row.client_order_id, row.status, row.exchange_order_id is not None) == (order.order_id, "FILLED", True)
    assert (fill.size, fill.price, fill.fee) == (order.fills[0].size, order.fills[0].price, order.fills[0].fee)
    posts = proxy.calls_to("POST", "/orders")
    assert [call.body.count(order.order_id.encode()) for call in posts] == [1, 0]


async def test_an_order_the_grid_refuses_never_leaves_the_process(
    proxy: OrderProxy, session: tuple[Store, int]
) -> None:
    broker = broker_through(proxy, session)
    try:
        order = await broker.submit(OrderRequest.limit("alpha", PRODUCT, Side.BUY, Decimal("0.000000001"),
                                                       Decimal(60_000)))  # fmt: skip
    finally:
        await broker.aclose()
    assert order.status is OrderStatus.REJECTED and order.rejection is not None
    assert order.rejection.reason is RejectReason.INVALID_SIZE and "base increment" in order.rejection.message
    assert proxy.calls_to("POST", "/orders") == [] and session[0].orders(session[0].accounts(session[1])[0].id) == []


@pytest.mark.parametrize("loss", [503, "timeout"])
async def test_a_lost_answer_to_an_order_post_is_resolved_by_client_order_id_not_by_sending_again(
    proxy: OrderProxy, session: tuple[Store, int], sandbox: LiveSandbox, loss: int | str
) -> None:
    store, session_id = session
    broker = broker_through(proxy, session, timeout=0.5)
    proxy.lose_next_order_answer(loss)  # type: ignore[arg-type]
    try:
        order = await broker.submit(OrderRequest.market("alpha", PRODUCT, Side.BUY, quote_size=Decimal(200)))
    finally:
        await broker.aclose()

    assert len(proxy.calls_to("POST", "/orders")) == 1, "an order POST is never sent twice"
    (lookup, *_) = proxy.calls_to("GET", "/orders/historical/batch")
    assert lookup.query["product_ids"] == [PRODUCT]
    landed = sandbox.exchange.list_orders(_key_name(sandbox))
    assert [o.request.client_order_id for o in landed] == [order.order_id]
    assert order.status is OrderStatus.FILLED and len(order.fills) == 1
    (row,) = store.orders(store.accounts(session_id)[0].id)
    assert (row.status, row.exchange_order_id) == ("FILLED", landed[0].order_id)
    assert len(store.fills(row.account_id)) == 1


def _key_name(sandbox: LiveSandbox) -> str:
    (name,) = sandbox.server.app.state.keys.key_names()
    return str(name)


async def test_a_resting_order_is_cancelled_on_the_exchange_and_in_the_store(
    proxy: OrderProxy, session: tuple[Store, int], sandbox: LiveSandbox
) -> None:
    store, session_id = session
    broker = broker_through(proxy, session)
    try:
        book = await broker.client.product_book(PRODUCT, limit=1)
        low = (book.bids[0].price / 2).quantize(Decimal("0.01"), ROUND_DOWN)
        resting = await broker.submit(OrderRequest.limit("beta", PRODUCT, Side.BUY, Decimal("0.001"), low))
        assert [row.client_order_id for row in broker.open_orders("beta")] == [resting.order_id]
        cancelled = await broker.cancel(resting.order_id)
    finally:
        await broker.aclose()
    assert (resting.status, cancelled.status) == (OrderStatus.OPEN, OrderStatus.CANCELLED)
    assert [o.status.value for o in sandbox.exchange.list_orders(_key_name(sandbox))] == ["CANCELLED"]
    assert [row.status for row in store.orders(store.accounts(session_id)[1].id)] == ["CANCELLED"]
    assert broker.open_orders() == []


async def test_an_order_the_exchange_refuses_is_recorded_rejected_with_its_reason(
    proxy: OrderProxy, session: tuple[Store, int]
) -> None:
    store, session_id = session
    broker = broker_through(proxy, session)
    try:
        book = await broker.client.product_book(PRODUCT, limit=1)
        crossing = OrderRequest.limit("alpha", PRODUCT, Side.BUY, Decimal("0.001"), book.asks[0].price + 100,
                                      post_only=True)  # fmt: skip
        order = await broker.submit(crossing)
    finally:
        await broker.aclose()
    assert order.status is OrderStatus.REJECTED and order.rejection is not None
    assert "INVALID_LIMIT_PRICE_POST_ONLY" in order.rejection.message
    (row,) = store.orders(store.accounts(session_id)[0].id)
    assert row.status == "REJECTED" and "INVALID_LIMIT_PRICE_POST_ONLY" in (row.reject_reason or "")
    assert len(proxy.calls_to("POST", "/orders")) == 1


async def test_an_order_kind_the_live_broker_does_not_place_is_refused_before_sending(
    proxy: OrderProxy, session: tuple[Store, int]
) -> None:
    broker = broker_through(proxy, session)
    immediate = OrderRequest.limit("alpha", PRODUCT, Side.BUY, Decimal("0.001"), Decimal(30_000),
                                   time_in_force=TimeInForce.IOC)  # fmt: skip
    stop = OrderRequest.stop("alpha", PRODUCT, Side.SELL, Decimal("0.001"), Decimal(30_000))
    try:
        orders = [await broker.submit(request) for request in (immediate, stop)]
    finally:
        await broker.aclose()
    for order in orders:
        assert order.status is OrderStatus.REJECTED and order.rejection is not None
        assert "places market orders and good-till-cancelled limit orders" in order.rejection.message
    assert proxy.calls_to("POST", "/orders") == []


async def test_an_order_whose_outcome_stays_unknown_is_kept_and_settled_by_reconcile(
    proxy: OrderProxy, session: tuple[Store, int], sandbox: LiveSandbox
) -> None:
    store, session_id = session
    broker = broker_through(proxy, session)
    proxy.lose_next_order_answer(503)
    proxy.refuse_next("GET", "/orders/historical/batch", count=FAST.attempts)
    try:
        with pytest.raises(OrderOutcomeUnknown) as unknown:
            await broker.submit(OrderRequest.market("alpha", PRODUCT, Side.BUY, quote_size=Decimal(100)))
        (row,) = store.orders(store.accounts(session_id)[0].id)
        assert (row.status, row.exchange_order_id) == ("UNKNOWN", None)
        assert [r.client_order_id for r in broker.open_orders()] == [row.client_order_id]
        found = await broker.reconcile()
    finally:
        await broker.aclose()
    assert row.client_order_id in str(unknown.value)
    assert found.status_changes == [(row.client_order_id, "UNKNOWN", "FILLED")] and len(found.new_fills) == 1
    assert len(proxy.calls_to("POST", "/orders")) == 1, "an order POST is never sent twice"
    (landed,) = sandbox.exchange.list_orders(_key_name(sandbox))
    assert store.orders(row.account_id)[0].exchange_order_id == landed.order_id

"""CoinbaseBroker against a real sandbox on loopback: orders that are traceable, recorded before they are
sent, and a lost answer to an order POST resolved by its client order id, never by sending it again."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from gpt_trader.coinbase.auth import auth_hook, load_key
from gpt_trader.coinbase.rest import CoinbaseRestClient
from gpt_trader.coinbase.retry import RetryPolicy
from gpt_trader.market.events import Side
from gpt_trader.store import Store
from gpt_trader.trading.live_broker import CoinbaseBroker, OrderTag
from gpt_trader.trading.live_guard import LiveGuard, LiveLimits
from gpt_trader.trading.orders import OrderRequest, OrderStatus, RejectReason
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

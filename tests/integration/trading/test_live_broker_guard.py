"""The guards of live orders, against a real sandbox on loopback: without both opt-ins no order (not even a
request) leaves the process, and each limit refuses an order before it is sent, saying which and why."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpt_trader.coinbase.auth import auth_hook, load_key
from gpt_trader.coinbase.rest import CoinbaseRestClient
from gpt_trader.errors import ConfigError
from gpt_trader.market.events import Side
from gpt_trader.store import Store
from gpt_trader.trading.live_broker import CoinbaseBroker
from gpt_trader.trading.live_guard import LimitExceeded, LiveGuard, LiveLimits, LiveOrdersDisabled
from gpt_trader.trading.orders import OrderRequest, OrderStatus
from tests.support.live_sandbox import PRODUCT, LiveSandbox, live_session, running_sandbox
from tests.support.order_proxy import OrderProxy


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
    return live_session(tmp_path / "store.db", ["alpha"])


def limits(**given: Any) -> LiveLimits:
    values: dict[str, Any] = {"max_order_notional": Decimal(5_000), "max_daily_notional": Decimal(50_000),
                              "max_daily_loss": Decimal(1_000), "max_open_orders": 10}  # fmt: skip
    return LiveLimits(**{**values, **given})


def sandbox_orders(sandbox: LiveSandbox) -> list[Any]:
    (key_name,) = sandbox.server.app.state.keys.key_names()
    return sandbox.exchange.list_orders(key_name)


@pytest.mark.parametrize(
    ("session_live", "cli_live", "missing"),
    [
        (False, False, ["`live = true` in the session file", "`--live` on the command"]),
        (True, False, ["`--live` on the command"]),
        (False, True, ["`live = true` in the session file"]),
        ("true", True, ["`live = true` in the session file"]),
    ],
)
def test_the_guard_refuses_without_both_opt_ins_and_names_the_missing_one(
    session_live: bool, cli_live: bool, missing: list[str]
) -> None:
    with pytest.raises(LiveOrdersDisabled) as refused:
        LiveGuard.from_flags(session_live, cli_live)
    message = str(refused.value)
    assert message.startswith(f"live orders are off: {' and '.join(missing)}")
    assert "need both `live = true` in the session file and `--live` on the command" in message


def test_both_opt_ins_give_a_guard_that_allows_orders() -> None:
    assert LiveGuard.from_flags(True, True).allows_orders


async def test_without_both_opt_ins_no_order_and_no_request_leaves_the_process(
    sandbox: LiveSandbox, proxy: OrderProxy, session: tuple[Store, int]
) -> None:
    store, session_id = session
    for guard in (LiveGuard(False, False), LiveGuard(True, False), LiveGuard(False, True)):
        with pytest.raises(LiveOrdersDisabled):
            CoinbaseBroker.open(guard, store, session_id, limits(), rest_url=proxy.url)
        client = CoinbaseRestClient(proxy.url, auth=auth_hook(load_key()))
        with pytest.raises(LiveOrdersDisabled):
            CoinbaseBroker(guard, client, store, session_id, limits())
        await client.aclose()

    # The opt-ins are read at every order too: a broker whose guard was swapped for a closed one sends nothing.
    broker = CoinbaseBroker.open(LiveGuard.from_flags(True, True), store, session_id, limits(), rest_url=proxy.url)
    object.__setattr__(broker, "guard", LiveGuard(True, False))
    try:
        with pytest.raises(LiveOrdersDisabled):
            await broker.submit(OrderRequest.market("alpha", PRODUCT, Side.BUY, quote_size=Decimal(10)))
    finally:
        await broker.aclose()

    assert proxy.calls == [] and sandbox_orders(sandbox) == []
    assert store.orders(store.accounts(session_id)[0].id) == []


def test_without_the_opt_ins_not_even_the_key_is_read(
    session: tuple[Store, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GPT_TRADER_COINBASE_KEY_FILE", "/nonexistent/key.json")
    with pytest.raises(LiveOrdersDisabled):
        CoinbaseBroker.open(LiveGuard(True, False), *session, limits())
    with pytest.raises(ConfigError, match="does not exist"):
        CoinbaseBroker.open(LiveGuard(True, True), *session, limits())


@pytest.fixture
async def broker(proxy: OrderProxy, session: tuple[Store, int], request: pytest.FixtureRequest) -> Any:
    store, session_id = session
    opened = CoinbaseBroker.open(LiveGuard.from_flags(True, True), store, session_id, request.param,
                                 rest_url=proxy.url)  # fmt: skip
    yield opened
    await opened.aclose()


def buy(quote: int | str) -> OrderRequest:
    return OrderRequest.market("alpha", PRODUCT, Side.BUY, quote_size=Decimal(quote))


@pytest.mark.parametrize("broker", [limits(max_order_notional=Decimal(100))], indirect=True)
async def test_an_order_worth_more_than_max_order_notional_is_refused(
    broker: CoinbaseBroker, proxy: OrderProxy
) -> None:
    with pytest.raises(LimitExceeded) as refused:
        await broker.submit(buy(150))
    assert refused.value.limit == "max_order_notional"
    assert "worth 150, above max_order_notional 100; no order was sent" in str(refused.value)
    assert (await broker.submit(buy(100))).status is OrderStatus.FILLED
    assert len(proxy.calls_to("POST", "/orders")) == 1


@pytest.mark.parametrize("broker", [limits(max_daily_notional=Decimal(250))], indirect=True)
async def test_orders_beyond_max_daily_notional_are_refused(broker: CoinbaseBroker, proxy: OrderProxy) -> None:
    await broker.submit(buy(100))
    await broker.submit(buy(100))
    with pytest.raises(LimitExceeded) as refused:
        await broker.submit(buy(100))
    assert refused.value.limit == "max_daily_notional"
    assert "with the 200 placed today (UTC) that is above max_daily_notional 250" in str(refused.value)
    assert (await broker.submit(buy(50))).status is OrderStatus.FILLED
    assert len(proxy.calls_to("POST", "/orders")) == 3


@pytest.mark.parametrize("broker", [limits(max_open_orders=2)], indirect=True)
async def test_an_order_beyond_max_open_orders_is_refused(
    broker: CoinbaseBroker, proxy: OrderProxy, sandbox: LiveSandbox
) -> None:
    book = await broker.client.product_book(PRODUCT, limit=1)
    far_below = (book.bids[0].price / 2).quantize(Decimal("0.01"), ROUND_DOWN)
    resting = [OrderRequest.limit("alpha", PRODUCT, Side.BUY, Decimal("0.001"), far_below - n) for n in range(3)]
    assert [(await broker.submit(request)).status for request in resting[:2]] == [OrderStatus.OPEN] * 2
    with pytest.raises(LimitExceeded) as refused:
        await broker.submit(resting[2])
    assert refused.value.limit == "max_open_orders"
    assert "the session has 2 open orders, max_open_orders is 2; no order was sent" in str(refused.value)
    assert len(proxy.calls_to("POST", "/orders")) == 2 and len(sandbox_orders(sandbox)) == 2


@pytest.mark.parametrize("broker", [limits(max_daily_loss=Decimal(1))], indirect=True)
async def test_once_the_day_has_lost_max_daily_loss_no_order_is_sent(broker: CoinbaseBroker, proxy: OrderProxy) -> None:
    # The loss is marked at the bid while the replay moves on: a fee of about 24 against a limit of 1 stays a
    # loss unless the price rises over half a percent before the next order, however long a loaded machine takes.
    bought = await broker.submit(buy(4_000))
    assert bought.status is OrderStatus.FILLED and bought.fees >= Decimal(20)
    with pytest.raises(LimitExceeded) as refused:
        await broker.submit(OrderRequest.market("alpha", PRODUCT, Side.SELL, base_size=bought.filled_size))
    assert refused.value.limit == "max_daily_loss"
    assert "at or above max_daily_loss 1; no order was sent" in str(refused.value)
    assert len(proxy.calls_to("POST", "/orders")) == 1


amounts = st.decimals(min_value=Decimal("0.01"), max_value=Decimal(10_000), places=2)


@settings(max_examples=150)
@given(
    limit_values=st.tuples(amounts, amounts, amounts, st.integers(1, 20)),
    notional=amounts,
    placed=st.decimals(min_value=Decimal(0), max_value=Decimal(20_000), places=2),
    open_orders=st.integers(0, 25),
    lost=st.decimals(min_value=Decimal(-500), max_value=Decimal(10_000), places=2),
)
def test_check_refuses_exactly_when_a_limit_is_broken_and_names_the_first(
    limit_values: tuple[Decimal, Decimal, Decimal, int],
    notional: Decimal,
    placed: Decimal,
    open_orders: int,
    lost: Decimal,
) -> None:
    checked = LiveLimits(*limit_values)
    broken = [name for name, is_broken in (
        ("max_order_notional", notional > checked.max_order_notional),
        ("max_daily_notional", placed + notional > checked.max_daily_notional),
        ("max_open_orders", open_orders >= checked.max_open_orders),
        ("max_daily_loss", lost >= checked.max_daily_loss),
    ) if is_broken]  # fmt: skip
    try:
        checked.check("BUY LIMIT BTC-USD", notional=notional, placed_today=placed, open_orders=open_orders,
                      lost_today=lost)  # fmt: skip
    except LimitExceeded as refused:
        assert broken and refused.limit == broken[0]
        assert refused.limit in str(refused) and "no order was sent" in str(refused)
    else:
        assert broken == []

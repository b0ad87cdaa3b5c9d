"""Exact cases for `trading/broker.py` that mutation testing asked for (`python -m bench.mutation --module broker`)."""

from __future__ import annotations

from decimal import Decimal

from gpt_trader.market.events import Side
from gpt_trader.trading.broker import PaperBroker
from gpt_trader.trading.orders import OrderRequest, RejectReason
from tests.unit.trading.conftest import GRIDS, PRODUCT, snapshot

D = Decimal


def broker() -> PaperBroker:
    paper = PaperBroker(GRIDS)
    for name in ("a", "b"):
        paper.open_account(name, D(10_000))
    paper.on_event(snapshot((("99", "2"),), (("100", "2"),)))
    return paper


def test_open_orders_are_all_accounts_or_one_accounts() -> None:
    paper = broker()
    resting_a = paper.submit(OrderRequest.limit("a", PRODUCT, Side.BUY, D(1), D(90)), 0.0)
    resting_b = paper.submit(OrderRequest.limit("b", PRODUCT, Side.BUY, D(1), D(91)), 0.0)
    paper.submit(OrderRequest.market("a", PRODUCT, Side.BUY, base_size=D(1)), 0.0)  # filled: not open
    assert paper.open_orders() == [resting_a, resting_b]
    assert paper.open_orders("a") == [resting_a]
    assert paper.open_orders("b") == [resting_b]


def test_fill_at_refuses_anything_but_a_market_order_at_a_positive_price() -> None:
    paper = broker()
    for request, price in (
        (OrderRequest.limit("a", PRODUCT, Side.BUY, D(1), D(100)), D(100)),
        (OrderRequest.market("a", PRODUCT, Side.BUY, base_size=D(1)), D(0)),
        (OrderRequest.market("a", PRODUCT, Side.BUY, base_size=D(1)), D(-1)),
    ):
        order = paper.fill_at(request, price, 0.0)
        assert order.rejection is not None and order.rejection.reason is RejectReason.INVALID_ORDER
        assert "market orders at a positive price" in order.rejection.message and not order.fills
    assert paper.accounts["a"].cash == D(10_000)

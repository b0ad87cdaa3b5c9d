"""Exact cases for `trading/broker.py` that mutation testing asked for (`python -m bench.mutation --module broker`)."""

from __future__ import annotations

from decimal import Decimal

from gpt_trader.market.events import Side, Trade
from gpt_trader.trading.broker import PaperBroker
from gpt_trader.trading.orders import OrderRequest, OrderStatus, RejectReason
from tests.unit.trading.conftest import COARSE, GRIDS, PRODUCT, quote, snapshot, update

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


def test_a_cancelled_stop_never_fires() -> None:
    paper = broker()
    stop = paper.submit(OrderRequest.stop("a", PRODUCT, Side.BUY, D(1), D("100.20")), 0.0)
    assert paper.cancel(stop.order_id).status is OrderStatus.CANCELLED
    assert paper.on_event(update(asks=(("100", "0"), ("100.50", "1")), time=1.0)) == []
    assert stop.status is OrderStatus.CANCELLED and not stop.fills and paper.open_orders() == []


def test_fill_at_a_budget_that_buys_less_than_one_increment_cancels_without_a_fill() -> None:
    paper = broker()
    order = paper.fill_at(OrderRequest.market("a", COARSE.product_id, Side.BUY, quote_size=D(1)), D(1000), 0.0)
    assert order.status is OrderStatus.CANCELLED and not order.fills
    assert "1 buys less than one 0.01 at 1000" in order.cancel_message
    assert paper.accounts["a"].cash == D(10_000)


def test_a_snapshot_without_a_resting_orders_level_leaves_nothing_queued_ahead_of_it() -> None:
    paper = broker()  # bids: 2 at 99
    resting = paper.submit(OrderRequest.limit("a", PRODUCT, Side.BUY, D(1), D(99)), 0.0)  # behind those 2
    paper.on_event(snapshot((("98", "5"),), (("100", "2"),), time=1.0))
    fills = paper.on_event(Trade(PRODUCT, 2.0, D(99), D(1), Side.SELL))
    assert [(each.price, each.size) for each in fills] == [(D(99), D(1))]
    assert resting.status is OrderStatus.FILLED


def test_a_quote_showing_less_at_a_resting_orders_price_shortens_its_queue() -> None:
    paper = PaperBroker(GRIDS)
    paper.open_account("a", D(10_000))
    paper.on_event(quote("99", "100", "5", "5"))
    resting = paper.submit(OrderRequest.limit("a", PRODUCT, Side.BUY, D(1), D(99)), 0.0)  # behind 5
    paper.on_event(quote("99", "100", "1", "5", time=1.0))  # only 1 ahead now
    fills = paper.on_event(Trade(PRODUCT, 2.0, D(99), D("1.5"), Side.SELL))
    assert [(each.price, each.size) for each in fills] == [(D(99), D("0.5"))]
    assert resting.is_open and resting.remaining_size == D("0.5")


def test_a_crossing_post_only_order_is_told_which_side_it_would_take_and_where_to_price() -> None:
    paper = broker()  # 99 bid, 100 ask
    paper.fill_at(OrderRequest.market("a", PRODUCT, Side.BUY, base_size=D(1)), D(100), 0.0)
    for side, price, told in (
        (Side.BUY, "100", "post-only BUY at 100 would take the ask at 100; price it below 100 to rest"),
        (Side.SELL, "99", "post-only SELL at 99 would take the bid at 99; price it above 99 to rest"),
    ):
        order = paper.submit(OrderRequest.limit("a", PRODUCT, side, D(1), D(price), post_only=True), 0.0)
        assert order.rejection is not None and order.rejection.reason is RejectReason.POST_ONLY_WOULD_CROSS
        assert order.rejection.message == told


def test_a_buy_may_spend_exactly_the_cash_available() -> None:
    paper = broker()  # 100 ask; the taker rate is 0.6 %
    paper.open_account("exact", D("100.60"))
    order = paper.submit(OrderRequest.market("exact", PRODUCT, Side.BUY, base_size=D(1)), 0.0)
    assert order.status is OrderStatus.FILLED and paper.accounts["exact"].cash == 0


def test_a_resting_buy_needs_the_cash_it_holds() -> None:
    paper = broker()
    paper.open_account("poor", D(50))
    order = paper.submit(OrderRequest.limit("poor", PRODUCT, Side.BUY, D(1), D(90)), 0.0)  # would rest whole
    assert order.rejection is not None and order.rejection.reason is RejectReason.INSUFFICIENT_FUNDS
    assert "needs 90.54" in order.rejection.message and paper.open_orders("poor") == []


def test_a_sale_may_sell_exactly_the_units_available_and_a_resting_sale_needs_the_units_it_holds() -> None:
    paper = broker()  # 99 bid
    paper.fill_at(OrderRequest.market("a", PRODUCT, Side.BUY, base_size=D(2)), D(100), 0.0)
    resting = paper.submit(OrderRequest.limit("a", PRODUCT, Side.SELL, D(1), D(110)), 0.0)
    assert resting.is_open
    too_many = paper.submit(OrderRequest.limit("a", PRODUCT, Side.SELL, D("1.5"), D(120)), 0.0)
    assert too_many.rejection is not None and too_many.rejection.reason is RejectReason.INSUFFICIENT_UNITS
    sale = paper.submit(OrderRequest.market("a", PRODUCT, Side.SELL, base_size=D(1)), 0.0)
    assert sale.status is OrderStatus.FILLED and paper.accounts["a"].units(PRODUCT) == 1


def test_a_trade_at_a_resting_sales_price_fills_it_only_beyond_its_queue() -> None:
    paper = broker()  # asks: 2 at 100
    paper.fill_at(OrderRequest.market("a", PRODUCT, Side.BUY, base_size=D(1)), D(100), 0.0)
    resting = paper.submit(OrderRequest.limit("a", PRODUCT, Side.SELL, D(1), D(100)), 0.0)  # behind 2
    assert resting.is_open
    assert paper.on_event(Trade(PRODUCT, 1.0, D(100), D(1), Side.BUY)) == []
    fills = paper.on_event(Trade(PRODUCT, 2.0, D(100), D("1.5"), Side.BUY))  # 1 left ahead of it
    assert [(each.price, each.size) for each in fills] == [(D(100), D("0.5"))]


def test_a_trade_that_fills_no_resting_buy_still_fills_the_resting_sales_it_reaches() -> None:
    paper = PaperBroker(GRIDS)
    paper.open_account("a", D(10_000))
    paper.on_event(snapshot((("99", "1"),), (("101", "1"),)))
    paper.fill_at(OrderRequest.market("a", PRODUCT, Side.BUY, base_size=D(1)), D(100), 0.0)
    buy = paper.submit(OrderRequest.limit("a", PRODUCT, Side.BUY, D(1), D(100)), 0.0)
    sale = paper.submit(OrderRequest.limit("a", PRODUCT, Side.SELL, D(1), D(100)), 0.0)
    assert buy.is_open and sale.is_open
    # A buyer lifting at 100 fills no resting buy there, but meets the resting sale (nothing queued ahead of it).
    fills = paper.on_event(Trade(PRODUCT, 1.0, D(100), D(1), Side.BUY))
    assert [(each.order_id, each.price, each.size) for each in fills] == [(sale.order_id, D(100), D(1))]
    assert buy.is_open and sale.status is OrderStatus.FILLED


def test_a_resting_buy_takes_the_asks_below_its_price_and_none_at_it() -> None:
    paper = PaperBroker(GRIDS)
    paper.open_account("a", D(10_000))
    paper.on_event(snapshot((("98", "1"),), (("101", "1"),)))
    resting = paper.submit(OrderRequest.limit("a", PRODUCT, Side.BUY, D(2), D(100)), 0.0)
    fills = paper.on_event(update(asks=(("99", "1"), ("100", "5")), time=1.0))
    assert [(each.price, each.size) for each in fills] == [(D(100), D(1))]  # a maker, at its own price
    assert resting.is_open and resting.remaining_size == 1


def test_a_partly_filled_resting_order_holds_only_what_its_remainder_needs() -> None:
    paper = broker()  # 99 bid, 100 ask: nothing displayed at 98 or 101, so nothing queues ahead there
    paper.fill_at(OrderRequest.market("b", PRODUCT, Side.BUY, base_size=D(3)), D(100), 0.0)
    buy = paper.submit(OrderRequest.limit("a", PRODUCT, Side.BUY, D(3), D(98)), 0.0)
    sale = paper.submit(OrderRequest.limit("b", PRODUCT, Side.SELL, D(3), D(101)), 0.0)
    assert paper.accounts["a"].held_cash == D("295.76")  # 294 + 1.764 -> 1.76 fee
    paper.on_event(Trade(PRODUCT, 1.0, D(98), D(1), Side.SELL))
    paper.on_event(Trade(PRODUCT, 1.0, D(101), D(1), Side.BUY))
    assert buy.remaining_size == sale.remaining_size == 2
    assert paper.accounts["a"].held_cash == D("197.18")  # 196 + 1.176 -> 1.18 fee
    assert paper.accounts["b"].held_units[PRODUCT] == 2


def test_a_resting_buy_walks_the_asks_below_its_price_up_to_its_size_and_no_further() -> None:
    paper = PaperBroker(GRIDS)
    paper.open_account("a", D(10_000))
    paper.on_event(snapshot((("97", "1"),), (("101", "1"),)))
    resting = paper.submit(OrderRequest.limit("a", PRODUCT, Side.BUY, D(2), D(100)), 0.0)
    fills = paper.on_event(update(asks=(("98", "1"), ("99", "5")), time=1.0))
    assert [(each.price, each.size) for each in fills] == [(D(100), D(2))]
    assert resting.status is OrderStatus.FILLED and paper.accounts["a"].units(PRODUCT) == 2

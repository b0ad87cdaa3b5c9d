"""Limit, post-only, IOC/FOK and stop orders in the paper broker, funds checks, and the bar fill hook."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpt_trader.market.events import FeedHealth, HealthKind, Side, Trade
from gpt_trader.trading.broker import PaperBroker
from gpt_trader.trading.fees import Liquidity
from gpt_trader.trading.orders import Order, OrderRequest, OrderStatus, RejectReason, TimeInForce
from tests.unit.trading.conftest import GRID, GRIDS, PRODUCT, snapshot, update

D = Decimal
BIDS = (("99.00", "2"), ("98.50", "1"))
ASKS = (("100.00", "1"), ("100.50", "1"), ("101.00", "2"))
CASH = D(10_000)


@pytest.fixture
def paper() -> PaperBroker:
    broker = PaperBroker(GRIDS)
    for name in ("a", "b"):
        broker.open_account(name, CASH)
    broker.on_event(snapshot(BIDS, ASKS))
    return broker


def limit(paper: PaperBroker, side: Side, size: str, price: str, account: str = "a", **options: object) -> Order:
    request = OrderRequest.limit(account, PRODUCT, side, D(size), D(price), **options)  # type: ignore[arg-type]
    return paper.submit(request, 0.0)


def trade(price: str, size: str, aggressor: Side | None = Side.SELL, time: float = 1.0) -> Trade:
    return Trade(PRODUCT, time, D(price), D(size), aggressor)


def test_post_only_that_would_cross_is_refused_and_one_that_would_not_rests(paper: PaperBroker) -> None:
    crossing = limit(paper, Side.BUY, "1", "100.00", post_only=True)
    assert crossing.status is OrderStatus.REJECTED and not crossing.fills
    assert crossing.rejection is not None and crossing.rejection.reason is RejectReason.POST_ONLY_WOULD_CROSS
    assert "price it below 100.00" in crossing.rejection.message
    resting = limit(paper, Side.BUY, "1", "99.50", post_only=True)
    assert resting.status is OrderStatus.OPEN and not resting.fills
    assert paper.accounts["a"].held_cash == GRID.buy_cost(D(1), D("99.50"), D("0.006"))


def test_a_resting_limit_fills_only_when_the_market_trades_through_it(paper: PaperBroker) -> None:
    order = limit(paper, Side.BUY, "1", "99.50")
    assert paper.on_event(trade("99.60", "5")) == []
    assert paper.on_event(trade("99.50", "5", aggressor=Side.BUY)) == []  # the ask side of 99.50 traded, not us
    fills = paper.on_event(trade("99.49", "0.1"))
    assert [(each.price, each.size, each.liquidity) for each in fills] == [(D("99.50"), D(1), Liquidity.MAKER)]
    assert fills[0].fee == GRID.fee(D("99.50"), D("0.004"))
    assert order.status is OrderStatus.FILLED
    assert paper.accounts["a"].held_cash == 0
    assert paper.accounts["a"].cash == CASH - D("99.50") - fills[0].fee


def test_a_resting_limit_waits_behind_the_size_displayed_at_its_price(paper: PaperBroker) -> None:
    order = limit(paper, Side.BUY, "1", "99.00")  # 2 displayed at 99.00 are ahead of it
    assert paper.on_event(trade("99.00", "1.5")) == []
    fills = paper.on_event(trade("99.00", "0.8"))
    assert [(each.price, each.size) for each in fills] == [(D(99), D("0.3"))]
    # Cancels shrink the level to 0.2: nothing displayed can still be ahead of us.
    paper.on_event(update(bids=(("99.00", "0.2"),), time=2.0))
    assert [each.size for each in paper.on_event(trade("99.00", "0.5", time=2.0))] == [D("0.5")]
    assert order.remaining_size == D("0.2") and order.is_open


def test_two_resting_orders_share_a_trade_at_their_price_in_arrival_order(paper: PaperBroker) -> None:
    first = limit(paper, Side.BUY, "1", "99.00", account="a")
    second = limit(paper, Side.BUY, "1", "99.00", account="b")
    paper.on_event(trade("99.00", "2.5"))
    assert (first.filled_size, second.filled_size) == (D("0.5"), D(0))
    paper.on_event(trade("99.00", "1"))
    assert (first.filled_size, second.filled_size) == (D(1), D("0.5"))


def test_a_resting_limit_fills_against_a_book_that_moves_through_it(paper: PaperBroker) -> None:
    order = limit(paper, Side.BUY, "1", "99.50")
    fills = paper.on_event(update(asks=(("99.40", "0.3"),), time=1.0))
    assert [(each.price, each.size, each.liquidity) for each in fills] == [(D("99.50"), D("0.3"), Liquidity.MAKER)]
    assert paper.on_event(update(bids=(("98.00", "1"),), time=1.0)) == []  # that size is taken already
    assert order.remaining_size == D("0.7")


def test_a_marketable_limit_takes_up_to_its_price_and_rests_the_rest(paper: PaperBroker) -> None:
    order = limit(paper, Side.BUY, "3", "100.50")
    assert [(each.price, each.size, each.liquidity) for each in order.fills] == [
        (D(100), D(1), Liquidity.TAKER),
        (D("100.50"), D(1), Liquidity.TAKER),
    ]
    assert order.status is OrderStatus.OPEN and order.remaining_size == 1
    assert paper.accounts["a"].held_cash == GRID.buy_cost(D(1), D("100.50"), D("0.006"))


def test_immediate_or_cancel_fills_what_it_can_and_cancels_the_rest(paper: PaperBroker) -> None:
    order = limit(paper, Side.BUY, "3", "100.50", time_in_force=TimeInForce.IOC)
    assert order.filled_size == 2 and order.status is OrderStatus.CANCELLED
    assert paper.accounts["a"].held_cash == 0 and paper.open_orders() == []


def test_fill_or_kill_fills_in_full_or_not_at_all(paper: PaperBroker) -> None:
    killed = limit(paper, Side.BUY, "3", "100.50", time_in_force=TimeInForce.FOK)
    assert killed.status is OrderStatus.CANCELLED and not killed.fills
    assert "offers 2 of 3" in killed.cancel_message
    filled = limit(paper, Side.BUY, "2", "100.50", time_in_force=TimeInForce.FOK)
    assert filled.status is OrderStatus.FILLED and filled.filled_size == 2


def test_a_sell_stop_triggers_on_a_trade_at_its_price_and_sells_at_the_bid(paper: PaperBroker) -> None:
    paper.submit(OrderRequest.market("a", PRODUCT, Side.BUY, base_size=D(1)), 0.0)
    stop = paper.submit(OrderRequest.stop("a", PRODUCT, Side.SELL, D(1), D("98.00"), reason="stop_loss"), 0.0)
    assert stop.is_open
    assert paper.on_event(trade("98.01", "1")) == []
    fills = paper.on_event(trade("98.00", "1"))
    assert [(each.price, each.size, each.reason) for each in fills] == [(D(99), D(1), "stop_loss")]
    assert stop.status is OrderStatus.FILLED
    trip = paper.accounts["a"].round_trips[-1]
    assert trip.exit_reason == "stop_loss" and trip.pnl == -1


def test_a_buy_stop_triggers_when_the_ask_rises_to_it(paper: PaperBroker) -> None:
    stop = paper.submit(OrderRequest.stop("a", PRODUCT, Side.BUY, D(1), D("100.20")), 0.0)
    paper.on_event(update(asks=(("100.00", "0"),), time=1.0))  # best ask 100.50 now
    assert stop.status is OrderStatus.FILLED and stop.fills[0].price == D("100.50")


def test_orders_that_would_overdraw_are_refused_with_the_reason(paper: PaperBroker) -> None:
    greedy = paper.submit(OrderRequest.market("a", PRODUCT, Side.BUY, quote_size=CASH + 1), 0.0)
    assert greedy.rejection is not None and greedy.rejection.reason is RejectReason.INSUFFICIENT_FUNDS
    assert "needs 10001" in greedy.rejection.message and "buy less" in greedy.rejection.message
    limit(paper, Side.BUY, "99", "99.00")  # holds 9859.86 of the 10000
    blocked = paper.submit(OrderRequest.market("a", PRODUCT, Side.BUY, base_size=D(2)), 0.0)
    assert blocked.rejection is not None and blocked.rejection.reason is RejectReason.INSUFFICIENT_FUNDS
    assert not blocked.fills and paper.books[PRODUCT].asks.available(D(100)) == 1
    no_units = paper.submit(OrderRequest.market("b", PRODUCT, Side.SELL, base_size=D(1)), 0.0)
    assert no_units.rejection is not None and no_units.rejection.reason is RejectReason.INSUFFICIENT_UNITS
    assert paper.accounts["b"].cash == CASH and paper.accounts["a"].cash == CASH


def test_units_promised_to_a_resting_sell_cannot_be_sold_twice(paper: PaperBroker) -> None:
    paper.submit(OrderRequest.market("a", PRODUCT, Side.BUY, base_size=D(1)), 0.0)
    limit(paper, Side.SELL, "1", "105.00")
    again = paper.submit(OrderRequest.market("a", PRODUCT, Side.SELL, base_size=D(1)), 0.0)
    assert again.rejection is not None and "0 available" in again.rejection.message


def test_cancelling_releases_the_hold(paper: PaperBroker) -> None:
    order = limit(paper, Side.BUY, "1", "99.00")
    assert paper.accounts["a"].held_cash > 0
    assert paper.cancel(order.order_id).status is OrderStatus.CANCELLED
    assert paper.accounts["a"].held_cash == 0 and paper.open_orders("a") == []
    assert paper.on_event(trade("98.00", "5")) == []
    with pytest.raises(KeyError, match="no order 'nope'"):
        paper.cancel("nope")


def test_fill_at_fills_a_market_order_at_the_given_price_without_a_book() -> None:
    paper = PaperBroker(GRIDS)
    paper.open_account("a", CASH)
    order = paper.fill_at(OrderRequest.market("a", PRODUCT, Side.BUY, quote_size=D(1000)), D("123.45"), 60.0)
    assert order.status is OrderStatus.FILLED
    (only,) = order.fills
    assert only.price == D("123.45") and only.quote is None and only.time == 60.0
    assert only.size == GRID.affordable_size(D(1000), D("123.45"), D("0.006"))
    assert paper.accounts["a"].units(PRODUCT) == only.size


def test_unknown_accounts_and_products_are_named_in_the_rejection(paper: PaperBroker) -> None:
    stranger = paper.submit(OrderRequest.market("zed", PRODUCT, Side.BUY, base_size=D(1)), 0.0)
    assert stranger.rejection is not None and "no account 'zed'" in stranger.rejection.message
    unknown = paper.submit(OrderRequest.market("a", "ETH-EUR", Side.BUY, base_size=D(1)), 0.0)
    assert unknown.rejection is not None and "ETH-EUR is not traded here" in unknown.rejection.message
    assert "BTC-USD" in unknown.rejection.message
    with pytest.raises(ValueError, match="already open"):
        paper.open_account("a", CASH)
    with pytest.raises(ValueError, match="positive starting cash"):
        paper.open_account("c", D(0))


@pytest.mark.parametrize("kind", [HealthKind.GAP, HealthKind.STALE, HealthKind.DISCONNECTED])
def test_resting_and_stop_orders_wait_while_the_book_is_broken(paper: PaperBroker, kind: HealthKind) -> None:
    resting = limit(paper, Side.BUY, "1", "99.50")
    stop = paper.submit(OrderRequest.stop("a", PRODUCT, Side.BUY, D(1), D("100.20")), 0.0)
    paper.on_event(FeedHealth(kind, "lost the feed", 1, 1.0))
    assert paper.on_event(trade("99.00", "5", time=1.0)) == []
    assert paper.on_event(trade("101.00", "5", time=1.0)) == []
    assert resting.is_open and stop.is_open
    fills = paper.on_event(snapshot(BIDS, (("99.40", "0.4"), ("100.00", "1")), time=2.0))
    assert [(each.order_id, each.size) for each in fills] == [(resting.order_id, D("0.4"))]
    assert stop.is_open


def test_a_short_account_sells_what_it_does_not_hold_and_covers_from_cash() -> None:
    paper = PaperBroker(GRIDS)
    account = paper.open_account("s", CASH, allow_short=True)
    paper.on_event(snapshot(BIDS, ASKS))
    paper.submit(OrderRequest.market("s", PRODUCT, Side.SELL, base_size=D(1), reason="signal"), 0.0)
    assert account.units(PRODUCT) == -1 and account.cash == CASH + 99 - D("0.59")
    cover = paper.submit(OrderRequest.market("s", PRODUCT, Side.BUY, base_size=D(1), reason="take_profit"), 0.0)
    assert cover.status is OrderStatus.FILLED and account.units(PRODUCT) == 0
    (trip,) = account.round_trips
    assert (trip.side, trip.pnl, trip.exit_reason) == (Side.SELL, D(-1), "take_profit")


def reference_queue_fills(
    price: Decimal, size: Decimal, ahead: Decimal, trades: list[tuple[Decimal, Decimal, Side | None]]
) -> list[Decimal]:
    """One resting buy in a plain queue: trades below its price fill the rest; sells at its price eat the queue."""
    fills, left = [], size
    for trade_price, trade_size, aggressor in trades:
        if left <= 0:
            break
        if trade_price < price:
            fills.append(left)
            left = D(0)
        elif trade_price == price and aggressor is not Side.BUY:
            got = min(left, max(trade_size - ahead, D(0)))
            ahead = max(ahead - trade_size, D(0))
            if got > 0:
                fills.append(got)
                left -= got
    return fills


@settings(max_examples=100, deadline=None)
@given(
    ahead=st.integers(min_value=0, max_value=300).map(lambda c: D(c) / 100),
    size=st.integers(min_value=2, max_value=300).map(lambda c: D(c) / 100),  # worth at least 1 USD at 99
    trades=st.lists(
        st.tuples(
            st.sampled_from([D("98.99"), D("99.00"), D("99.01")]),
            st.integers(min_value=1, max_value=200).map(lambda c: D(c) / 100),
            st.sampled_from([Side.BUY, Side.SELL, None]),
        ),
        max_size=15,
    ),
)
def test_the_simulated_queue_matches_a_plain_reference(
    ahead: Decimal, size: Decimal, trades: list[tuple[Decimal, Decimal, Side | None]]
) -> None:
    paper = PaperBroker(GRIDS)
    paper.open_account("a", CASH)
    bids = (("99.00", str(ahead)), ("98.50", "1")) if ahead else (("98.50", "1"),)
    paper.on_event(snapshot(bids, ASKS))
    order = limit(paper, Side.BUY, str(size), "99.00")
    assert order.is_open
    got = [each.size for trade_price, trade_size, aggressor in trades
           for each in paper.on_event(Trade(PRODUCT, 1.0, trade_price, trade_size, aggressor))]  # fmt: skip
    assert got == reference_queue_fills(D("99.00"), size, ahead, trades)
    assert order.filled_size == sum(got, D(0))

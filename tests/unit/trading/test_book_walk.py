"""Market orders against the broker's book: the level-2 walk, consumed size, and books that must not fill."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from gpt_trader.market.events import BookLevel, FeedHealth, HealthKind, Side
from gpt_trader.trading.broker import PaperBroker
from gpt_trader.trading.fees import Liquidity
from gpt_trader.trading.fills import BOOK, TOUCH, BookSide, FillModel, plan_take
from gpt_trader.trading.money import ZERO
from gpt_trader.trading.orders import Fill, OrderRequest, OrderStatus, RejectReason
from tests.unit.trading.conftest import COARSE, GRID, GRIDS, PRODUCT, quote, snapshot, update

D = Decimal
BIDS = (("99.00", "2"), ("98.50", "1"), ("98.00", "4"))
ASKS = (("100.00", "1"), ("100.50", "1"), ("101.00", "2"))


def broker(fill_model: FillModel = BOOK, stale_after: float | None = 30.0) -> PaperBroker:
    paper = PaperBroker(GRIDS, fill_model=fill_model, stale_after=stale_after)
    for name in ("a", "b", "c"):
        paper.open_account(name, D(1_000_000))
    paper.on_event(snapshot(BIDS, ASKS))
    return paper


def buy(paper: PaperBroker, size: str, account: str = "a", now: float = 0.0) -> list[Fill]:
    order = paper.submit(OrderRequest.market(account, PRODUCT, Side.BUY, base_size=D(size)), now)
    return order.fills


def taken(fills: list[Fill]) -> list[tuple[Decimal, Decimal]]:
    return [(each.price, each.size) for each in fills]


def test_a_market_order_three_times_the_top_level_walks_the_book_at_its_vwap() -> None:
    paper = broker()
    order = paper.submit(OrderRequest.market("a", PRODUCT, Side.BUY, base_size=D(3)), 1.0)
    assert order.status is OrderStatus.FILLED
    assert taken(order.fills) == [(D(100), D(1)), (D("100.5"), D(1)), (D(101), D(1))]
    assert order.average_price == D("100.5")
    for each in order.fills:
        assert each.liquidity is Liquidity.TAKER
        assert each.fee == GRID.fee(each.value, D("0.006"))
        assert each.quote is not None and (each.quote.bid, each.quote.ask) == (D(99), D(100))
    account = paper.accounts["a"]
    assert account.units(PRODUCT) == 3
    assert account.cash == D(1_000_000) - D("301.5") - sum((each.fee for each in order.fills), D(0))


def test_a_market_sell_walks_the_bids() -> None:
    paper = broker()
    buy(paper, "4")
    sale = paper.submit(OrderRequest.market("a", PRODUCT, Side.SELL, base_size=D("3.5")), 0.0)
    assert taken(sale.fills) == [(D(99), D(2)), (D("98.5"), D(1)), (D(98), D("0.5"))]
    assert sale.average_price == (D(198) + D("98.5") + D(49)) / D("3.5")


def test_two_orders_cannot_consume_the_same_displayed_size() -> None:
    paper = broker()
    assert taken(buy(paper, "1.5", "a")) == [(D(100), D(1)), (D("100.5"), D("0.5"))]
    assert taken(buy(paper, "1.5", "b")) == [(D("100.5"), D("0.5")), (D(101), D(1))]
    # The book shows the top level again (an update of that price): it can be taken again; 100.50 cannot.
    paper.on_event(update(asks=(("100.00", "1"),), time=1.0))
    assert taken(buy(paper, "1.5", "c", 1.0)) == [(D(100), D(1)), (D(101), D("0.5"))]


def test_an_order_larger_than_the_book_fills_what_there_is_and_cancels_the_rest() -> None:
    paper = broker()
    order = paper.submit(OrderRequest.market("a", PRODUCT, Side.BUY, base_size=D(10)), 0.0)
    assert order.status is OrderStatus.CANCELLED and order.filled_size == 4
    assert "immediate or cancel" in order.cancel_message
    empty = paper.submit(OrderRequest.market("b", PRODUCT, Side.BUY, base_size=D(1)), 0.0)
    assert empty.status is OrderStatus.CANCELLED and not empty.fills


def test_the_touch_model_fills_only_the_displayed_top_size() -> None:
    paper = broker(fill_model=TOUCH)
    order = paper.submit(OrderRequest.market("a", PRODUCT, Side.BUY, base_size=D(3)), 0.0)
    assert taken(order.fills) == [(D(100), D(1))] and order.status is OrderStatus.CANCELLED
    assert buy(paper, "1", "b") == []
    paper.on_event(update(asks=(("100.00", "0.4"),), time=1.0))
    assert taken(buy(paper, "1", "b", 1.0)) == [(D(100), D("0.4"))]


def test_a_market_buy_sized_in_quote_spends_at_most_its_budget_across_levels() -> None:
    paper = broker()
    order = paper.submit(OrderRequest.market("a", PRODUCT, Side.BUY, quote_size=D("250")), 0.0)
    assert order.status is OrderStatus.FILLED
    spent = order.filled_value + order.fees
    assert spent <= 250 and 250 - spent < D("0.05")
    # 100.60 and 101.10 with fees for the first two levels; the remaining 48.30 buys what it can at 101.
    assert taken(order.fills)[:2] == [(D(100), D(1)), (D("100.5"), D(1))]
    assert order.fills[2].price == 101 and order.fills[2].size == GRID.affordable_size(D("48.30"), D(101), D("0.006"))


@settings(max_examples=300, deadline=None)
@given(
    sizes=st.lists(st.decimals(min_value="0", max_value="50", places=3), min_size=1, max_size=8),
    budget=st.decimals(min_value="0", max_value="5000", places=2),
    coarse=st.booleans(),
)
def test_a_budget_walk_takes_whole_levels_while_they_fit_then_what_the_rest_affords(
    sizes: list[Decimal], budget: Decimal, coarse: bool
) -> None:
    grid, rate = (COARSE if coarse else GRID), D("0.006")
    levels = [(D(100) + D("0.5") * step, size) for step, size in enumerate(sizes)]
    plan = plan_take(levels, Side.BUY, grid, rate, budget=budget)
    assert sum((grid.buy_cost(size, price, rate) for price, size in plan), D(0)) <= budget
    money, taken_in_order = budget, iter(plan)
    for price, available in levels:
        whole = grid.floor_size(available)
        if whole <= 0:
            continue  # a level too small for one increment is passed over
        took = next(taken_in_order, None)
        if took is None:
            assert grid.affordable_size(money, price, rate) <= 0, "money that buys more is left unspent"
            break
        assert took[0] == price and 0 < took[1] <= whole and grid.floor_size(took[1]) == took[1]
        money -= grid.buy_cost(took[1], price, rate)
        if took[1] < whole:
            assert grid.buy_cost(whole, price, rate) > money + grid.buy_cost(took[1], price, rate)
            break  # only the last level taken may be taken in part


level_prices = st.integers(min_value=1, max_value=6).map(Decimal)
level_sizes = st.integers(min_value=0, max_value=5).map(Decimal)
book_steps = st.one_of(
    st.tuples(st.just("set"), level_prices, level_sizes),
    st.tuples(st.just("take"), level_prices, st.integers(min_value=1, max_value=3).map(Decimal)),
    st.tuples(st.just("replace"), st.lists(st.tuples(level_prices, level_sizes), max_size=4), st.just(ZERO)),
)


@settings(max_examples=300, deadline=None)
@given(steps=st.lists(book_steps, max_size=30), best_is_highest=st.booleans())
def test_the_untaken_size_of_a_side_is_what_its_levels_still_offer(
    steps: list[tuple[str, object, Decimal]], best_is_highest: bool
) -> None:
    side = BookSide(best_is_highest)
    for kind, what, size in steps:
        if kind == "set":
            assert isinstance(what, Decimal)
            side.set(what, size)
        elif kind == "take":
            assert isinstance(what, Decimal)
            take = min(size, side.available(what))
            if take > 0:
                side.consume(what, take)
        else:
            assert isinstance(what, list)
            side.replace(BookLevel(price, shown) for price, shown in what)
        assert side.untaken == sum((available for _, available in side.levels()), ZERO)
        levels = list(side.levels())
        assert all(available <= 0 for _, available in levels[: side.taken_through]), "an untaken level is skipped"
    walked = list(BOOK.liquidity(side))
    untaken = [level for level in side.levels() if level[1] > 0]
    assert [level for level in walked if level[1] > 0] == untaken, "a walk meets every level with size left"
    assert walked == ([] if side.untaken == 0 else list(side.levels())[side.taken_through :])


def test_a_stale_book_gets_no_fill() -> None:
    paper = broker(stale_after=30.0)
    order = paper.submit(OrderRequest.market("a", PRODUCT, Side.BUY, base_size=D(1)), 31.0)
    assert order.status is OrderStatus.REJECTED and not order.fills
    assert order.rejection is not None and order.rejection.reason is RejectReason.NO_MARKET
    assert "stale" in order.rejection.message
    paper.on_event(update(asks=(("100.00", "1"),), time=31.0))
    assert taken(buy(paper, "1", now=31.0)) == [(D(100), D(1))]


def test_a_gapped_book_gets_no_fill_until_a_fresh_snapshot() -> None:
    paper = broker()
    paper.on_event(FeedHealth(HealthKind.GAP, "sequence jumped", 1, 1.0))
    order = paper.submit(OrderRequest.market("a", PRODUCT, Side.BUY, base_size=D(1)), 1.0)
    assert order.rejection is not None and "lost messages" in order.rejection.message
    paper.on_event(update(asks=(("100.00", "3"),), time=2.0))
    assert paper.submit(OrderRequest.market("a", PRODUCT, Side.BUY, base_size=D(1)), 2.0).rejection is not None
    paper.on_event(snapshot(BIDS, ASKS, time=3.0))
    assert taken(buy(paper, "1", now=3.0)) == [(D(100), D(1))]


def test_a_crossed_book_gets_no_fill() -> None:
    paper = broker()
    paper.on_event(update(bids=(("100.00", "1"),), time=1.0))
    order = paper.submit(OrderRequest.market("a", PRODUCT, Side.BUY, base_size=D(1)), 1.0)
    assert order.rejection is not None and "crossed" in order.rejection.message and not order.fills
    quoted = PaperBroker(GRIDS)
    quoted.open_account("a", D(1000))
    quoted.on_event(quote("100.01", "100.00"))
    rejected = quoted.submit(OrderRequest.market("a", PRODUCT, Side.BUY, base_size=D(1)), 0.0)
    assert rejected.rejection is not None and "crossed" in rejected.rejection.message


def test_no_fill_before_any_price_arrived() -> None:
    paper = PaperBroker(GRIDS)
    paper.open_account("a", D(1000))
    order = paper.submit(OrderRequest.market("a", PRODUCT, Side.BUY, base_size=D(1)), 0.0)
    assert order.rejection is not None and "no quote or book" in order.rejection.message


def test_a_product_fed_only_quotes_fills_at_the_quote() -> None:
    paper = PaperBroker(GRIDS)
    paper.open_account("a", D(1000))
    paper.on_event(quote("99.99", "100.01", "0.5", "0.7", time=5.0))
    order = paper.submit(OrderRequest.market("a", PRODUCT, Side.BUY, base_size=D(1)), 5.0)
    assert taken(order.fills) == [(D("100.01"), D("0.7"))]
    assert order.fills[0].quote == quote("99.99", "100.01", "0.5", "0.7", time=5.0)
    paper.on_event(quote("99.99", "100.01", "0.5", "0.7", time=6.0))
    assert buy(paper, "1", now=6.0) == []
    paper.on_event(quote("99.99", "100.02", "0.5", "0.2", time=7.0))
    assert taken(buy(paper, "1", now=7.0)) == [(D("100.02"), D("0.2"))]


def reference_walk(asks: list[tuple[Decimal, Decimal]], orders: list[Decimal]) -> list[list[tuple[Decimal, Decimal]]]:
    """Plain walk: cheapest level first, each order taking what earlier orders left."""
    left = dict(asks)
    result = []
    for size in orders:
        fills = []
        for price in sorted(left):
            if size <= 0:
                break
            take = min(size, left[price])
            if take > 0:
                fills.append((price, take))
                left[price] -= take
                size -= take
        result.append(fills)
    return result


books = st.dictionaries(
    st.integers(min_value=10_001, max_value=10_400).map(lambda cents: D(cents) / 100),
    st.integers(min_value=1, max_value=500).map(lambda units: D(units) / 100),
    min_size=1,
    max_size=25,
)
sizes = st.lists(st.integers(min_value=1, max_value=2000).map(lambda units: D(units) / 100), min_size=1, max_size=4)


@settings(max_examples=120, deadline=None)
@given(asks=books, orders=sizes)
def test_the_book_walk_matches_a_plain_reference_on_random_books(
    asks: dict[Decimal, Decimal], orders: list[Decimal]
) -> None:
    paper = PaperBroker(GRIDS)
    paper.open_account("a", D(10_000_000))
    paper.on_event(snapshot((("100.00", "1"),), tuple((str(price), str(size)) for price, size in asks.items())))
    expected = reference_walk(sorted(asks.items()), orders)
    for size, want in zip(orders, expected, strict=True):
        order = paper.submit(OrderRequest.market("a", PRODUCT, Side.BUY, base_size=size), 0.0)
        assert taken(order.fills) == want
        if want:
            notional = sum((price * part for price, part in want), D(0))
            assert order.average_price == notional / sum((part for _, part in want), D(0))


def test_a_book_with_an_empty_side_gets_no_fill() -> None:
    paper = broker()
    paper.on_event(update(bids=(("99.00", "0"), ("98.50", "0"), ("98.00", "0")), time=1.0))
    order = paper.submit(OrderRequest.market("a", PRODUCT, Side.BUY, base_size=D(1)), 1.0)
    assert order.rejection is not None and "has no bids" in order.rejection.message and not order.fills


def test_a_market_order_worth_less_than_the_minimum_at_the_touch_is_refused() -> None:
    paper = broker()
    order = paper.submit(OrderRequest.market("a", PRODUCT, Side.BUY, base_size=D("0.005")), 0.0)
    assert order.rejection is not None and order.rejection.reason is RejectReason.INVALID_SIZE
    assert "worth 0.5" in order.rejection.message and "between 1 and" in order.rejection.message and not order.fills


def test_a_walk_starts_after_the_levels_earlier_orders_took_in_full() -> None:
    side = BookSide(best_is_highest=False)
    for price in ("100", "101", "102"):
        side.set(D(price), D(1))
    side.consume(D(100), D(1))
    side.consume(D(101), D("0.5"))
    assert side.taken_through == 1
    assert list(BOOK.liquidity(side)) == [(D(101), D("0.5")), (D(102), D(1))]
    assert list(TOUCH.liquidity(side)) == [(D(100), D(0))], "the touch stays the touch, taken or not"
    side.consume(D(101), D("0.5"))
    assert side.taken_through == 2
    side.set(D(101), D(2))  # shown again: available again
    assert side.taken_through == 1
    assert list(BOOK.liquidity(side)) == [(D(101), D(2)), (D(102), D(1))]
    side.set(D(100), D(0))  # a taken level goes
    assert side.taken_through == 0
    assert list(BOOK.liquidity(side)) == [(D(101), D(2)), (D(102), D(1))]

"""PaperBroker: many accounts trading paper orders against one feed's books, in one process.

The broker reads the feed's events (`on_event`: book updates, quotes, trades, feed health) into an exact book
per product (`fills.DepthBook`) and executes the orders it is given (`submit`), booking every fill in the
account's ledger:

* A market order takes the best ask (a buy) or bid (a sell) and, with the `book` fill model, walks further
  levels; whatever the book cannot give is cancelled (immediate or cancel). Size one order took is not
  available to the next until the book shows that level again.
* A limit order first takes what the book offers at its price or better (unless post-only: a post-only order
  that would cross is rejected); the rest is cancelled (IOC), everything is cancelled unless all can fill
  (FOK), or it rests (GTC). A resting order queues behind the size displayed at its price when it arrived;
  trades at its price eat that queue first, and only then fill it; a trade beyond its price, or the other
  side of the book moving beyond it, fills it. Resting fills pay the maker rate.
* A stop order waits until a trade or the book reaches its stop price, then executes as a market order (or a
  limit order, if it has a limit price).
* Nothing fills against a book that is stale, crossed, one-sided, lost messages, or has not arrived: a new
  market or limit order is rejected with the reason; resting and stop orders wait for a sound book.

Waiting orders sit on price ladders (`resting.py`), so an event looks only at the orders its price reaches.

Funds are checked before anything fills: a buy needs the cash for what it takes plus a hold, at the taker
rate, for what it rests; a sale on a spot account needs the units. `fill_at` is the hook for the engine's
bar fill model: it fills a market order at the price the engine gives (a bar's open or close), as the
backtest kernel does, without a book.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from itertools import count

from gpt_trader.market.events import BookUpdate, FeedHealth, HealthKind, MarketEvent, Quote, Side, Trade
from gpt_trader.trading.fees import FeeSchedule, Liquidity
from gpt_trader.trading.fills import BOOK, DepthBook, FillModel, plan_take
from gpt_trader.trading.ledger import Account
from gpt_trader.trading.money import ZERO, ProductIncrements
from gpt_trader.trading.orders import (
    Fill,
    Order,
    OrderRequest,
    OrderStatus,
    OrderType,
    RejectReason,
    TimeInForce,
    check_request,
    value_problem,
)
from gpt_trader.trading.resting import RestingOrder, Waiting

LOST_MESSAGES = frozenset({HealthKind.GAP, HealthKind.STALE, HealthKind.DISCONNECTED})
"""Feed health after which no book can be trusted until its next snapshot."""


class PaperBroker:
    """Paper accounts trading `grids`' products; `fill_model` is `fills.BOOK` (level-2 walk) or `fills.TOUCH`.

    `stale_after`: seconds of market time without a book or quote message after which a product's book is
    stale (None: never).
    """

    def __init__(
        self,
        grids: Mapping[str, ProductIncrements],
        *,
        fill_model: FillModel = BOOK,
        stale_after: float | None = 30.0,
    ) -> None:
        self.grids = dict(grids)
        self.fill_model = fill_model
        self.stale_after = stale_after
        self.accounts: dict[str, Account] = {}
        self.books = {product_id: DepthBook(product_id) for product_id in self.grids}
        self.orders: dict[str, Order] = {}
        self._waiting = {product_id: Waiting() for product_id in self.grids}
        self._ids = count(1)

    def open_account(
        self,
        account_id: str,
        cash: Decimal,
        *,
        fee_schedule: FeeSchedule | None = None,
        allow_short: bool = False,
    ) -> Account:
        if account_id in self.accounts:
            raise ValueError(f"account {account_id!r} is already open; give each account its own id")
        if cash <= 0:
            raise ValueError(f"account {account_id!r} needs positive starting cash, got {cash}")
        account = Account(account_id, cash, self.grids, fee_schedule or FeeSchedule.coinbase(), allow_short=allow_short)
        self.accounts[account_id] = account
        return account

    def open_orders(self, account_id: str | None = None) -> list[Order]:
        return [
            order
            for order in self.orders.values()
            if order.is_open and (account_id is None or order.request.account_id == account_id)
        ]

    def submit(self, request: OrderRequest, now: float) -> Order:
        """Place `request` at market time `now`; the order comes back filled, open, cancelled or rejected."""
        order = self._receive(request, now)
        if order.status is OrderStatus.REJECTED:
            return order
        if request.type is OrderType.STOP:
            self._waiting[request.product_id].stops(request.side).add(request.stop_price or ZERO, order)
            return order
        return self._execute(order, request, now)

    def fill_at(self, request: OrderRequest, price: Decimal, now: float) -> Order:
        """Fill a market order in full at `price` as a taker, without a book: the bar fill model's hook."""
        order = self._receive(request, now)
        if order.status is OrderStatus.REJECTED:
            return order
        if request.type is not OrderType.MARKET or price <= 0:
            return order.reject(RejectReason.INVALID_ORDER, "fill_at fills market orders at a positive price only")
        account, grid = self.accounts[request.account_id], self.grids[request.product_id]
        rate = account.fee_rates(now).taker
        size = request.base_size or grid.affordable_size(request.quote_size or ZERO, price, rate)
        if size <= 0:
            return order.cancel(f"{request.quote_size} buys less than one {grid.base_increment} at {price}")
        small = value_problem(f"{request.side.value} MARKET order on {request.product_id}", size, price, grid)
        if small is not None:
            return order.reject(small.reason, small.message)
        refusal = self._refusal(account, request, [(price, size)], rate, ZERO)
        if refusal is not None:
            return order.reject(*refusal)
        return self._take(order, request, [(price, size)], rate, now, quote=None)

    def market_buy_size(self, account_id: str, product_id: str, budget: Decimal, now: float) -> Decimal:
        """The base size a market buy for `budget` (the taker fee included) takes from the book now: a buy
        sized on another price (a bar's close) would be refused for funds when the ask is above it."""
        rate = self.accounts[account_id].fee_rates(now).taker
        plan = plan_take(self.fill_model.liquidity(self.books[product_id].asks), Side.BUY, self.grids[product_id],
                         rate, budget=budget)  # fmt: skip
        return sum((size for _, size in plan), ZERO)

    def takes(self, product_id: str, side: Side, now: float) -> bool:
        """Whether a market order of `side` would meet size now: the book is sound and shows some that no
        paper order took within the fill model's reach."""
        book = self.books[product_id]
        if book.problem(now, self.stale_after) is not None:
            return False
        return any(size > 0 for _, size in self.fill_model.liquidity(book.taken_by(side)))

    def cancel(self, order_id: str) -> Order:
        order = self.orders.get(order_id)
        if order is None:
            raise KeyError(f"no order {order_id!r} was placed with this broker")
        if not order.is_open:
            return order
        request = order.request
        waiting = self._waiting[request.product_id]
        stops = waiting.stops(request.side)
        if order in stops.at(request.stop_price or ZERO):
            stops.remove(request.stop_price or ZERO, order)
        for entry in waiting.resting(request.side).at(request.limit_price or ZERO):
            if entry.order is order:
                self._unrest(entry)
                break
        return order.cancel("cancelled")

    def on_event(self, event: MarketEvent) -> list[Fill]:
        """Read one feed event; returns the fills it caused, in order."""
        if isinstance(event, FeedHealth):
            if event.kind in LOST_MESSAGES:
                for each in self.books.values():
                    each.invalidate()
            return []
        book = self.books.get(event.product_id)
        if book is None:
            return []
        if isinstance(event, BookUpdate):
            book.apply_update(event)
        elif isinstance(event, Quote):
            book.apply_quote(event)
        elif not isinstance(event, Trade):
            return []
        if not self._waiting[book.product_id]:
            return []  # the book is kept; only waiting orders react to the market
        if isinstance(event, BookUpdate):
            self._shorten_queues(book, None if event.snapshot else event)
            return self._react(book, event.time, None)
        if isinstance(event, Quote):
            if not book.has_depth:
                self._shorten_queues(book, event)
            return self._react(book, event.time, None)
        return self._react(book, event.time, event)

    def _receive(self, request: OrderRequest, now: float) -> Order:
        order = Order(f"paper-{next(self._ids)}", request, now)
        self.orders[order.order_id] = order
        if request.account_id not in self.accounts:
            return order.reject(
                RejectReason.UNKNOWN_ACCOUNT, f"no account {request.account_id!r}; open it with open_account first"
            )
        grid = self.grids.get(request.product_id)
        if grid is None:
            known = ", ".join(sorted(self.grids))
            return order.reject(
                RejectReason.UNKNOWN_PRODUCT, f"{request.product_id} is not traded here; the broker knows {known}"
            )
        rejection = check_request(request, grid)
        if rejection is not None:
            return order.reject(rejection.reason, rejection.message)
        return order

    def _execute(self, order: Order, request: OrderRequest, now: float) -> Order:
        """A market or limit order on arrival (or a stop order once triggered, as `request`)."""
        book = self.books[request.product_id]
        problem = book.problem(now, self.stale_after)
        if problem is not None:
            return order.reject(RejectReason.NO_MARKET, f"{problem}; place the order again once the book is sound")
        account, grid, side = self.accounts[request.account_id], self.grids[request.product_id], request.side
        rate = account.fee_rates(now).taker
        limit, opposite = request.limit_price, book.taken_by(side).best()
        if request.type is OrderType.MARKET and request.base_size is not None and opposite is not None:
            # A market order's worth is known only now, at the touch it would take.
            small = value_problem(
                f"{side.value} MARKET order on {request.product_id}", request.base_size, opposite, grid
            )
            if small is not None:
                return order.reject(small.reason, small.message)
        if request.post_only and limit is not None and opposite is not None and _crosses(side, limit, opposite):
            return order.reject(
                RejectReason.POST_ONLY_WOULD_CROSS,
                f"post-only {side.value} at {limit} would take the {'ask' if side is Side.BUY else 'bid'} at "
                f"{opposite}; price it {'below' if side is Side.BUY else 'above'} {opposite} to rest",
            )
        plan = [] if request.post_only else plan_take(
            self.fill_model.liquidity(book.taken_by(side)), side, grid, rate,
            base_size=request.base_size, budget=request.quote_size, limit=limit,
        )  # fmt: skip
        planned = sum((size for _, size in plan), ZERO)
        wanted = request.base_size
        if request.time_in_force is TimeInForce.FOK and wanted is not None and planned < wanted:
            return order.cancel(f"fill or kill: the book offers {planned} of {wanted} at {limit} or better")
        rest = (wanted or ZERO) - planned if request.time_in_force is TimeInForce.GTC and limit is not None else ZERO
        hold = grid.buy_cost(rest, limit, rate) if rest and limit is not None and side is Side.BUY else rest
        refusal = self._refusal(account, request, plan, rate, hold)
        if refusal is not None:
            return order.reject(*refusal)
        self._take(order, request, plan, rate, now, book.top(now), book)
        if rest and limit is not None:
            own = book.bids if side is Side.BUY else book.asks
            entry = RestingOrder(order, account, side, limit, own.displayed(limit), rate)
            self._hold(entry, hold)
            self._waiting[request.product_id].resting(side).add(limit, entry)
            order.status = OrderStatus.OPEN
        else:
            self._settle_taker(order, request, grid, rate)
        return order

    def _refusal(
        self, account: Account, request: OrderRequest, plan: list[tuple[Decimal, Decimal]], rate: Decimal, hold: Decimal
    ) -> tuple[RejectReason, str] | None:
        grid, product_id = self.grids[request.product_id], request.product_id
        if request.side is Side.BUY:
            needed = sum((grid.buy_cost(size, price, rate) for price, size in plan), ZERO) + hold
            if request.quote_size is not None:
                needed = max(needed, request.quote_size)
            if needed > account.available_cash:
                return RejectReason.INSUFFICIENT_FUNDS, (
                    f"account {account.account_id} needs {needed} for this buy of {product_id} but has "
                    f"{account.available_cash} available ({account.held_cash} held by resting orders); buy less"
                )
            return None
        needed = sum((size for _, size in plan), ZERO) + hold
        if needed > account.available_units(product_id):
            return RejectReason.INSUFFICIENT_UNITS, (
                f"account {account.account_id} cannot sell {needed} {product_id}: it has "
                f"{account.available_units(product_id)} available; sell at most that"
            )
        return None

    def _take(
        self,
        order: Order,
        request: OrderRequest,
        plan: list[tuple[Decimal, Decimal]],
        rate: Decimal,
        now: float,
        quote: Quote | None,
        book: DepthBook | None = None,
    ) -> Order:
        """Fill `plan` as a taker at `rate`, taking its size from `book` (None: a bar fill, done in full)."""
        account, grid = self.accounts[request.account_id], self.grids[request.product_id]
        for price, size in plan:
            if book is not None:
                book.taken_by(request.side).consume(price, size)
            self._book_fill(order, account, grid, price, size, Liquidity.TAKER, rate, now, quote)
        if book is None:
            order.status = OrderStatus.FILLED
        return order

    def _settle_taker(self, order: Order, request: OrderRequest, grid: ProductIncrements, rate: Decimal) -> None:
        """End an order that does not rest: filled if nothing more could be had, else the remainder cancelled."""
        if request.quote_size is not None:
            left = request.quote_size - order.filled_value - order.fees
            last = order.fills[-1].price if order.fills else None
            done = last is not None and grid.affordable_size(left, last, rate) <= 0
        else:
            done = order.remaining_size <= 0
        if done:
            order.status = OrderStatus.FILLED
        else:
            order.cancel("immediate or cancel: the book had no more at an acceptable price")

    def _book_fill(
        self,
        order: Order,
        account: Account,
        grid: ProductIncrements,
        price: Decimal,
        size: Decimal,
        liquidity: Liquidity,
        rate: Decimal,
        now: float,
        quote: Quote | None,
    ) -> Fill:
        request = order.request
        value = grid.value(size, price)
        fill = Fill(
            order.order_id, account.account_id, request.product_id, request.side, price, size, value,
            grid.fee(value, rate), liquidity, now, quote, request.reason,
        )  # fmt: skip
        account.apply(fill)
        order.record(fill)
        return fill

    def _react(self, book: DepthBook, now: float, trade: Trade | None) -> list[Fill]:
        """Trigger stops and fill resting orders that the market reached; nothing while the book is unsound."""
        if book.problem(now, self.stale_after) is not None:
            return []
        waiting, fills = self._waiting[book.product_id], []
        # A buy stop fires when the market rises to it, a sell stop when it falls to it.
        rising = trade.price if trade is not None else book.asks.best()
        falling = trade.price if trade is not None else book.bids.best()
        fired = waiting.buy_stops.from_lowest(rising) + waiting.sell_stops.from_highest(falling)
        for order in fired:
            waiting.stops(order.request.side).remove(order.request.stop_price or ZERO, order)
            before = len(order.fills)
            self._execute(order, order.request.triggered(), now)
            fills.extend(order.fills[before:])
        if trade is not None:
            reached = waiting.buys.from_highest(trade.price) + waiting.sells.from_lowest(trade.price)
        else:
            # Only the other side showing a better price than a resting order's can fill it.
            reached = waiting.buys.from_highest(book.asks.best(), inclusive=False) + waiting.sells.from_lowest(
                book.bids.best(), inclusive=False
            )
        quote = book.top(now)
        taken_at_trade = ZERO
        for entry in reached:
            size = self._reachable(entry, book, trade, taken_at_trade)
            if size <= 0:
                continue
            if trade is not None and trade.price == entry.price:
                taken_at_trade += size
            fills.append(self._fill_resting(entry, size, now, quote))
        return fills

    def _reachable(self, entry: RestingOrder, book: DepthBook, trade: Trade | None, taken_at_trade: Decimal) -> Decimal:
        """How much of a resting order the market fills now (the caller consumes the book's size it uses)."""
        remaining, grid = entry.order.remaining_size, self.grids[book.product_id]
        if trade is not None:
            through = trade.price < entry.price if entry.side is Side.BUY else trade.price > entry.price
            if through:
                return remaining
            if trade.price == entry.price and trade.aggressor is not entry.side:
                beyond_queue = trade.size - entry.queue_ahead - taken_at_trade
                entry.queue_ahead = max(entry.queue_ahead - trade.size, ZERO)
                return min(remaining, grid.floor_size(max(beyond_queue, ZERO)))
            return ZERO
        # The other side showing a better price than ours: in a real book, that size would have met our order.
        opposite = book.taken_by(entry.side)
        size = ZERO
        for price, available in opposite.levels():
            if not _crosses(entry.side, entry.price, price) or price == entry.price or size >= remaining:
                break
            take = min(grid.floor_size(available), remaining - size)
            if take > 0:
                opposite.consume(price, take)
                size += take
        return size

    def _fill_resting(self, entry: RestingOrder, size: Decimal, now: float, quote: Quote | None) -> Fill:
        order, account, grid = entry.order, entry.account, self.grids[entry.order.request.product_id]
        left = order.remaining_size - size
        self._hold(entry, (grid.buy_cost(left, entry.price, entry.hold_rate) if entry.side is Side.BUY else left)
                   - entry.hold)  # fmt: skip
        rate = account.fee_rates(now).maker
        fill = self._book_fill(order, account, grid, entry.price, size, Liquidity.MAKER, rate, now, quote)
        if order.remaining_size <= 0:
            self._unrest(entry)
            order.status = OrderStatus.FILLED
        return fill

    def _shorten_queues(self, book: DepthBook, change: BookUpdate | Quote | None) -> None:
        """Nothing can wait ahead of a resting order beyond what its price level still displays.

        `change` names the levels that moved (None: all of them, after a snapshot).
        """
        waiting = self._waiting[book.product_id]
        if change is None:
            touched = [(entry, book.bids) for entry in waiting.buys]
            touched += [(entry, book.asks) for entry in waiting.sells]
        elif isinstance(change, Quote):
            touched = [(entry, book.bids) for entry in waiting.buys.at(change.bid)]
            touched += [(entry, book.asks) for entry in waiting.sells.at(change.ask)]
        else:
            touched = [(entry, book.bids) for level in change.bids for entry in waiting.buys.at(level.price)]
            touched += [(entry, book.asks) for level in change.asks for entry in waiting.sells.at(level.price)]
        for entry, own in touched:
            entry.queue_ahead = min(entry.queue_ahead, own.displayed(entry.price))

    def _hold(self, entry: RestingOrder, change: Decimal) -> None:
        entry.hold += change
        account, product_id = entry.account, entry.order.request.product_id
        if entry.side is Side.BUY:
            account.held_cash += change
        else:
            account.held_units[product_id] = account.held_units.get(product_id, ZERO) + change

    def _unrest(self, entry: RestingOrder) -> None:
        self._hold(entry, -entry.hold)
        self._waiting[entry.order.request.product_id].resting(entry.side).remove(entry.price, entry)


def _crosses(side: Side, limit: Decimal, opposite: Decimal) -> bool:
    """Whether an order of `side` at `limit` meets the best price `opposite` of the other side."""
    return opposite <= limit if side is Side.BUY else opposite >= limit

"""The matching engine: orders from API keys against the replayed market's best bid and ask.

How orders meet the market (the replay is the rest of the world; our orders do not move it):

- A market order fills whole, at once, at the touch: a buy at the ask, a sell at the bid, paying the taker
  fee. A buy sized in quote spends at most `quote_size` including the fee, as on Coinbase.
- A limit order whose price crosses the quote on arrival walks the book as taker: each level up to its
  limit, at that level's price. What is left is cancelled (IOC) or stays (GTC, GTD); a fill-or-kill order
  fills whole from the book within its limit or not at all. A post-only order that would cross is refused.
- What stays never rests across the book: while each new quote still crosses its limit it keeps taking
  the book (fresh with every quote) at the book's prices. Once a quote no longer crosses, it rests, and it
  fills whole, as maker, at its own price, on the first quote whose opposite side comes back to that
  price (`on_quote`). A GTD order expires at its `end_time`.

Every state change (PENDING, OPEN, each fill, FILLED, CANCELLED, EXPIRED, FAILED) is published to the
subscribers as the `user` channel's order. The engine is synchronous and single-threaded: the sandbox calls
it from its one event loop.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import uuid
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from gpt_trader.sandbox.catalog import Catalog
from gpt_trader.sandbox.exchange.ledger import DEFAULT_STARTING_BALANCES, Account, Ledger, stable_id
from gpt_trader.sandbox.exchange.matching import (
    Arrival,
    Take,
    fill_cost,
    plan_arrival,
    reaches,
    remaining_hold,
    total_cost,
    walk,
)
from gpt_trader.sandbox.exchange.model import (
    LIMIT_FOK,
    ZERO,
    FeeRates,
    Fill,
    Liquidity,
    Order,
    OrderRequest,
    OrderStatus,
    Quote,
    QuoteSource,
    Side,
    utc_now,
)
from gpt_trader.sandbox.exchange.payloads import preview_payload, transaction_summary_payload, user_order_payload
from gpt_trader.sandbox.exchange.validation import UNKNOWN_FAILURE, Rejection, parse_order_request

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class OrderEvent:
    """One change of one order: whose it is, and the order as the `user` channel shows it."""

    key_name: str
    order: dict[str, Any]


OrderListener = Callable[[OrderEvent], None]


class Exchange:
    """Accounts, orders and fills of every API key, matched against `quotes`.

    `clock` gives the exchange's time (the replay's, or the wall clock); `starting_balances` funds each key's
    accounts when the key is first seen (100,000 USD and nothing else by default).
    """

    def __init__(
        self,
        catalog: Catalog,
        quotes: QuoteSource,
        fees: FeeRates | None = None,
        clock: Callable[[], datetime] = utc_now,
        starting_balances: Mapping[str, Decimal] | None = None,
    ) -> None:
        self.catalog = catalog
        self.quotes = quotes
        self.fees = fees or FeeRates()
        self._clock = clock
        self.ledger = Ledger(
            catalog.currencies(),
            DEFAULT_STARTING_BALANCES if starting_balances is None else starting_balances,
            clock,
        )
        self._orders: dict[str, Order] = {}
        self._by_client_id: dict[tuple[str, str], Order] = {}
        self._resting: dict[str, list[Order]] = {}
        self._expiries: list[tuple[datetime, int, Order]] = []
        self._fills: list[Fill] = []
        self._listeners: list[OrderListener] = []
        self._sequence = itertools.count()
        self.changes = 0
        """Counts order changes (every fill and balance change comes with one): what a saver watches."""

    # -- saving and restoring ---------------------------------------------------------------------

    def records(self) -> tuple[list[Account], list[Order], list[Fill]]:
        """Every account, order and fill, in the order they came (what `state.save_state` writes)."""
        return self.ledger.every_account(), list(self._orders.values()), list(self._fills)

    def restore(self, accounts: list[Account], orders: list[Order], fills: list[Fill]) -> None:
        """Take back the records of an earlier run (on an exchange that has none yet): live orders rest
        in the book again, GTD ones keep their expiry, client order ids keep their orders."""
        self.ledger.restore(accounts)
        self._fills = sorted(fills, key=lambda fill: fill.sequence)
        for order in sorted(orders, key=lambda order: order.sequence):
            self._orders[order.order_id] = order
            self._by_client_id[(order.key_name, order.request.client_order_id)] = order
            if order.status.is_live and order.request.rests and order.remaining_size > 0:
                self._resting.setdefault(order.product.product_id, []).append(order)
                if order.request.end_time is not None:
                    heapq.heappush(self._expiries, (order.request.end_time, order.sequence, order))
        last = max([order.sequence for order in orders] + [fill.sequence for fill in fills], default=-1)
        self._sequence = itertools.count(last + 1)

    # -- subscribers ------------------------------------------------------------------------------

    def subscribe(self, listener: OrderListener) -> Callable[[], None]:
        """Call `listener` on every order change; returns the function that unsubscribes it."""
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    def user_snapshot(self, key_name: str) -> list[dict[str, Any]]:
        """The key's open orders as the `user` channel's snapshot lists them, oldest first."""
        self.expire_due()
        return [
            user_order_payload(order)
            for order in self._orders.values()
            if order.key_name == key_name and order.status.is_live
        ]

    # -- accounts ---------------------------------------------------------------------------------

    def accounts(self, key_name: str) -> list[Account]:
        self.expire_due()
        return self.ledger.accounts(key_name)

    def account(self, key_name: str, account_uuid: str) -> Account | None:
        self.expire_due()
        return self.ledger.by_uuid(key_name, account_uuid)

    # -- orders -----------------------------------------------------------------------------------

    def create_order(self, key_name: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """Place an order; the create-order response (success or failure shape, both sent with HTTP 200).

        A `client_order_id` this key used before returns the order it placed then, not a new one.
        """
        now = self._clock()
        self.expire_due(now)
        client_order_id = str(body.get("client_order_id") or uuid.uuid4().hex)
        earlier = self._by_client_id.get((key_name, client_order_id))
        if earlier is not None:
            return _success(earlier)
        try:
            request = parse_order_request(body, self.catalog, now, client_order_id)
            _, arrival = self._plan(key_name, request)
        except Rejection as rejection:
            return rejection.failure_payload(body.get("order_configuration"))

        order = Order(
            sequence=next(self._sequence),
            order_id=str(uuid.uuid4()),
            key_name=key_name,
            user_id=stable_id(key_name, "user"),
            request=request,
            created_time=now,
        )
        self._orders[order.order_id] = order
        self._by_client_id[(key_name, client_order_id)] = order
        self._emit(order)
        if arrival.no_market:
            order.reject_reason = "INVALID_NO_LIQUIDITY"
            order.reject_message = f"{request.product.product_id} has no quote yet to fill a market order against"
            self._finish(order, OrderStatus.FAILED)
        else:
            self._start(order, arrival, now)
        return _success(order)

    def preview_order(self, key_name: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """What `create_order` would do with this body now, without doing it (`POST /orders/preview`)."""
        try:
            request = parse_order_request(body, self.catalog, self._clock())
            quote, arrival = self._plan(key_name, request)
        except Rejection as rejection:
            return preview_payload(None, None, None, self.fees, rejection.preview_failure_reason)
        return preview_payload(request, arrival, quote, self.fees)

    def cancel_orders(self, key_name: str, order_ids: Collection[str]) -> list[dict[str, Any]]:
        """Cancel the key's open orders; one result per id, as `POST /orders/batch_cancel` reports them."""
        self.expire_due()
        results = []
        for order_id in order_ids:
            order = self.get_order(key_name, order_id)
            if order is None:
                success, reason = False, "UNKNOWN_CANCEL_ORDER"
            elif order.status is OrderStatus.CANCELLED:
                success, reason = False, "DUPLICATE_CANCEL_REQUEST"
            elif not order.status.is_live:
                success, reason = False, "INVALID_CANCEL_REQUEST"
            else:
                order.cancel_message = "User requested cancel"
                self._finish(order, OrderStatus.CANCELLED)
                success, reason = True, "UNKNOWN_CANCEL_FAILURE_REASON"
            results.append({"success": success, "failure_reason": reason, "order_id": order_id})
        return results

    def get_order(self, key_name: str, order_id: str) -> Order | None:
        """The key's order of that id (another key's orders are invisible)."""
        self.expire_due()
        order = self._orders.get(order_id)
        return order if order is not None and order.key_name == key_name else None

    def list_orders(
        self,
        key_name: str,
        *,
        order_ids: Collection[str] = (),
        product_ids: Collection[str] = (),
        statuses: Collection[str] = (),
        side: str | None = None,
        order_types: Collection[str] = (),
        time_in_forces: Collection[str] = (),
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> list[Order]:
        """The key's orders matching every filter given (empty = any), newest first; `start <= created < end`."""
        self.expire_due()
        return [
            order
            for order in reversed(self._orders.values())
            if order.key_name == key_name
            and (not order_ids or order.order_id in order_ids)
            and (not product_ids or order.product.product_id in product_ids)
            and (not statuses or order.status.value in statuses)
            and (side is None or order.side.value == side)
            and (not order_types or order.request.order_type in order_types)
            and (not time_in_forces or order.request.time_in_force in time_in_forces)
            and (start is None or order.created_time >= start)
            and (end is None or order.created_time < end)
        ]

    def list_fills(
        self,
        key_name: str,
        *,
        order_ids: Collection[str] = (),
        trade_ids: Collection[str] = (),
        product_ids: Collection[str] = (),
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> list[Fill]:
        """The key's fills matching every filter given, newest first; `start <= trade_time < end`."""
        return [
            fill
            for fill in reversed(self._fills)
            if fill.key_name == key_name
            and (not order_ids or fill.order_id in order_ids)
            and (not trade_ids or fill.trade_id in trade_ids)
            and (not product_ids or fill.product_id in product_ids)
            and (start is None or fill.time >= start)
            and (end is None or fill.time < end)
        ]

    def transaction_summary(self, key_name: str) -> dict[str, Any]:
        """`GET /transaction_summary`: the key's traded volume and fees, and its fee tier."""
        return transaction_summary_payload([fill for fill in self._fills if fill.key_name == key_name], self.fees)

    # -- the market -------------------------------------------------------------------------------

    def on_quote(self, product_id: str, quote: Quote) -> None:
        """A new quote for `product_id`: marketable orders take the book while it crosses their limit;
        every resting order whose price the quote reaches fills, as maker."""
        resting = self._resting.get(product_id)
        if not resting and not self._expiries:
            return  # called on every trade of the replay: the usual case has nothing to do
        now = self._clock()
        self.expire_due(now)
        if not resting:
            return
        for order in list(resting):
            limit = order.request.limit_price or ZERO
            if not reaches(order.side, limit, quote):
                order.marketable = False
            elif order.marketable:
                self._take(order, now)
            else:
                # The whole remainder fills, so the order finishes and its hold is freed.
                self._fill(order, order.remaining_size, limit, Liquidity.MAKER, now)

    def expire_due(self, now: datetime | None = None) -> None:
        """Expire every GTD order whose `end_time` has come."""
        moment = self._clock() if now is None else now
        while self._expiries and self._expiries[0][0] <= moment:
            _, _, order = heapq.heappop(self._expiries)
            if order.status.is_live:
                order.cancel_message = "Order expired"
                self._finish(order, OrderStatus.EXPIRED)

    # -- internals --------------------------------------------------------------------------------

    def _plan(self, key_name: str, request: OrderRequest) -> tuple[Quote | None, Arrival]:
        product = request.product
        try:
            quote = self.quotes.quote(product.product_id)
        except LookupError:
            raise Rejection(
                "INVALID_PRODUCT_ID",
                "PREVIEW_INVALID_PRODUCT_ID",
                f"{product.product_id} is in the catalogue but this sandbox's market does not trade it",
            ) from None
        bids, asks = self.quotes.book(product.product_id)
        available = self.ledger.account(key_name, request.funding_currency).available
        levels = asks if request.side is Side.BUY else bids
        return quote, plan_arrival(request, quote, levels, self.fees, available)

    def _take(self, order: Order, now: datetime) -> None:
        """A marketable order takes the book up to its limit; what it still holds shrinks to what is left."""
        bids, asks = self.quotes.book(order.product.product_id)
        levels = asks if order.side is Side.BUY else bids
        limit = order.request.limit_price or ZERO
        for take in walk(order.side, limit, levels, order.remaining_size, order.product.base_increment):
            held_before = order.hold
            self._fill(order, take.size, take.price, Liquidity.TAKER, now)
            if order.status.is_live:
                self._rehold(order, held_before, take)

    def _rehold(self, order: Order, held: Decimal, take: Take) -> None:
        """After a taker fill of an order that holds funds: hold what the rest needs, never more than
        was held less what the fill spent (so `available` can only grow)."""
        if order.side is Side.SELL:
            spent = take.size
        else:
            spent = total_cost(order.product, take.size, take.price, self.fees.taker)
        needed = min(remaining_hold(order.request, order.remaining_size, self.fees), max(held - spent, ZERO))
        self._release(order)
        self._hold(order, needed)

    def _start(self, order: Order, arrival: Arrival, now: datetime) -> None:
        if arrival.rest_size > 0:
            self._hold(order, arrival.rest_hold)
        order.status = OrderStatus.OPEN
        self._emit(order)
        for take in arrival.takes:
            self._fill(order, take.size, take.price, Liquidity.TAKER, now)
        if arrival.rest_size > 0:
            order.marketable = arrival.marketable
            self._resting.setdefault(order.product.product_id, []).append(order)
            end_time = order.request.end_time
            if end_time is not None:
                heapq.heappush(self._expiries, (end_time, next(self._sequence), order))
        elif order.status.is_live:
            # Immediate-or-cancel and fill-or-kill: what did not fill on arrival is cancelled.
            order.cancel_message = (
                "Fill-or-kill: the book within its limit could not fill the whole order"
                if order.request.kind == LIMIT_FOK
                else "Immediate-or-cancel: the remainder could not be filled on arrival"
            )
            self._finish(order, OrderStatus.CANCELLED)

    def _fill(self, order: Order, size: Decimal, price: Decimal, liquidity: Liquidity, now: datetime) -> None:
        product = order.product
        rate = self.fees.maker if liquidity is Liquidity.MAKER else self.fees.taker
        value, commission = fill_cost(product, size, price, rate)
        base = self.ledger.account(order.key_name, product.base_currency)
        quote = self.ledger.account(order.key_name, product.quote_currency)
        if order.side is Side.BUY:
            self.ledger.move(quote, -(value + commission))
            self.ledger.move(base, size)
        else:
            self.ledger.move(base, -size)
            self.ledger.move(quote, value - commission)
        fill = Fill(
            sequence=next(self._sequence),
            entry_id=uuid.uuid4().hex,
            trade_id=str(uuid.uuid4()),
            order_id=order.order_id,
            key_name=order.key_name,
            user_id=order.user_id,
            product_id=product.product_id,
            side=order.side,
            price=price,
            size=size,
            value=value,
            commission=commission,
            liquidity=liquidity,
            time=now,
        )
        self._fills.append(fill)
        order.fills.append(fill)
        order.filled_size += size
        order.filled_value += value
        order.notional += size * price
        order.total_fees += commission
        order.last_fill_time = now
        if order.request.quote_size is not None or order.remaining_size == 0:
            self._finish(order, OrderStatus.FILLED)
        else:
            self._emit(order)

    def _hold(self, order: Order, amount: Decimal) -> None:
        self.ledger.place_hold(self.ledger.account(order.key_name, order.request.funding_currency), amount)
        order.hold = amount

    def _release(self, order: Order) -> None:
        if order.hold:
            self.ledger.release_hold(self.ledger.account(order.key_name, order.request.funding_currency), order.hold)
            order.hold = ZERO

    def _finish(self, order: Order, status: OrderStatus) -> None:
        """Close an order for good: free its hold, take it off the book, tell the subscribers."""
        self._release(order)
        resting = self._resting.get(order.product.product_id)
        if resting and order in resting:
            resting.remove(order)
        order.status = status
        self._emit(order)

    def _emit(self, order: Order) -> None:
        self.changes += 1
        if not self._listeners:
            return
        event = OrderEvent(order.key_name, user_order_payload(order))
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                # One broken subscriber (a WebSocket gone away) must not stop the engine or the others.
                log.exception("an order-event subscriber failed")


def _success(order: Order) -> dict[str, Any]:
    request = order.request
    return {
        "success": True,
        "failure_reason": UNKNOWN_FAILURE,
        "order_id": order.order_id,
        "success_response": {
            "order_id": order.order_id,
            "product_id": request.product.product_id,
            "side": request.side.value,
            "client_order_id": request.client_order_id,
        },
        "order_configuration": request.configuration,
    }

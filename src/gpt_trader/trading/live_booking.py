"""A live session's bookings: the engine's rule fills sent to the exchange through a `CoinbaseBroker`.

The engine books synchronously (the rules follow the ledger right after each order), and the broker is
async, so the broker lives on an event loop of its own thread (`LiveOrders`) and `LiveBooker` waits for
each order's outcome there. Its fills, at the exchange's prices and fees, go into the instance's ledger
(which the rules then follow, as they follow a refused paper order), and the broker records the order and
its fills in the store; the round trips, positions and equity go through the session's writer as on paper.

Every decision of an account is numbered, and its number is the order's (`gpt-{session}-{account}-{k}`):
a resumed session re-trades its bars from the start, so the k-th decision is the k-th order whichever
process took it. A decision the store holds an order for is read back (with its fills, after `reconcile`)
rather than sent again; a decision on a bar that closed while the session was not trading (the re-traded
past, or a backfilled gap) is not sent late, so the rules go on flat, as after a refused order.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Coroutine
from decimal import Decimal
from typing import Any, TypeVar

from gpt_trader.coinbase.orders import OrderOutcomeUnknown
from gpt_trader.errors import UserError
from gpt_trader.market.events import Side
from gpt_trader.store.db import Store
from gpt_trader.trading.booking import Booker, market_time
from gpt_trader.trading.instance import Instance
from gpt_trader.trading.ledger import LedgerError
from gpt_trader.trading.live_broker import CoinbaseBroker, Reconciliation
from gpt_trader.trading.live_guard import LiveGuard, LiveLimits
from gpt_trader.trading.orders import Fill, Order, OrderRequest, RejectReason
from gpt_trader.trading.session_records import SessionError

log = logging.getLogger(__name__)

BUY_CUSHION = Decimal("0.02")
"""The share of an account's cash a live market buy leaves unspent: the ask may move, and the exchange's fee
may be above the session's, before it fills; the ledger cannot book a fill that costs more than its cash."""
CALL_SECONDS = 120.0
"""The longest the engine waits for one call to the broker (its client retries and looks orders up within)."""

_T = TypeVar("_T")


class LiveOrders:
    """A `CoinbaseBroker` on an event loop of its own thread, called from the engine's.

    `venue_clock()` is the venue's time (Unix seconds); a decision older than `fresh_seconds` is not sent.
    """

    def __init__(self, broker: CoinbaseBroker, loop: asyncio.AbstractEventLoop, thread: threading.Thread,
                 venue_clock: Callable[[], float], fresh_seconds: float) -> None:  # fmt: skip
        self.broker = broker
        self.venue_clock = venue_clock
        self.fresh_seconds = fresh_seconds
        self._loop = loop
        self._thread = thread

    @classmethod
    def open(
        cls, guard: LiveGuard, store: Store, session_id: int, limits: LiveLimits, rest_url: str,
        venue_clock: Callable[[], float], fresh_seconds: float,
    ) -> LiveOrders:  # fmt: skip
        """The broker on `rest_url` with the configured key (read only once the guard has allowed it)."""
        guard.require()
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="live-broker", daemon=True)
        thread.start()

        async def opened() -> CoinbaseBroker:
            return CoinbaseBroker.open(guard, store, session_id, limits, rest_url=rest_url)

        try:
            broker = asyncio.run_coroutine_threadsafe(opened(), loop).result(CALL_SECONDS)
        except BaseException:
            _stop(loop, thread)
            raise
        return cls(broker, loop, thread, venue_clock, fresh_seconds)

    def call(self, coroutine: Coroutine[Any, Any, _T]) -> _T:
        """Run `coroutine` on the broker's loop and wait for its result (or its exception)."""
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(CALL_SECONDS)

    def reconcile(self) -> Reconciliation:
        found = self.call(self.broker.reconcile())
        log.warning(
            "reconciled session %d with the exchange: %d status changes, %d orders adopted, %d new fills",
            self.broker.session_id, len(found.status_changes), len(found.adopted), len(found.new_fills),
        )  # fmt: skip
        return found

    def is_fresh(self, decided_at: float) -> bool:
        return decided_at >= self.venue_clock() - self.fresh_seconds

    def close(self) -> None:
        try:
            self.call(self.broker.aclose())
        finally:
            _stop(self._loop, self._thread)


def _stop(loop: asyncio.AbstractEventLoop, thread: threading.Thread) -> None:
    loop.call_soon_threadsafe(loop.stop)
    thread.join()
    loop.close()


class LiveBooker(Booker):
    """A `Booker` whose orders go to the exchange through `live`; see the module."""

    def __init__(self, *args: Any, live: LiveOrders, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.live = live
        self._decisions: dict[str, int] = {}

    def _order(self, instance: Instance, request: OrderRequest, price: Decimal, now: float) -> Order:
        """The account's next decision as an order on the exchange (or as the store has it from before)."""
        name = request.account_id
        number = self._decisions.get(name, 0) + 1
        self._decisions[name] = number
        order = self.live.call(self.live.broker.placed(name, number))
        if order is None:
            order = self._send(instance, request, number, now)
        elif order.request.side is not request.side:
            raise SessionError(
                f"resuming re-derived decision {number} of {name} as a {request.side.value}, but its order "
                f"{order.order_id} on the exchange is a {order.request.side.value}: the session's record and its "
                "market disagree, so it cannot resume exactly; `gpt-trader session kill` cancels what is open"
            )
        for fill in order.fills:
            self._book_fill(instance, order, fill)
        return order

    def _send(self, instance: Instance, request: OrderRequest, number: int, now: float) -> Order:
        if not self.live.is_fresh(now):
            return Order(f"decision-{number}", request, now).reject(RejectReason.NO_MARKET, (
                f"decided at {market_time(now):%Y-%m-%d %H:%M} UTC on a bar that closed while the session was "
                "not trading; a late live order is not sent"))  # fmt: skip
        if request.side is Side.BUY:
            request = self._affordable(instance, request, now)
        try:
            return self.live.call(self.live.broker.submit(request, number))
        except OrderOutcomeUnknown as lost:
            # Recorded; `reconcile` on the next start settles it, and this decision reads it back then.
            log.error("live order %d of %s: %s", number, request.account_id, lost)
            return Order(f"decision-{number}", request, now).cancel(str(lost))
        except UserError as refused:  # the guard, the kill switch or a limit: nothing was sent
            log.warning("live order %d of %s refused: %s", number, request.account_id, refused)
            return Order(f"decision-{number}", request, now).reject(RejectReason.INVALID_ORDER, str(refused))

    def _affordable(self, instance: Instance, request: OrderRequest, now: float) -> OrderRequest:
        """`request` cut to what the account's cash buys at the ask now, less `BUY_CUSHION`."""
        grid = self.broker.grids[request.product_id]
        book = self.live.call(self.live.broker.client.product_book(request.product_id, limit=1))
        if not book.asks or request.base_size is None:
            return request  # the broker refuses it, saying why
        account = instance.account
        budget = account.available_cash * (1 - BUY_CUSHION)
        size = grid.affordable_size(budget, book.asks[0].price, account.fee_rates(now).taker)
        if size >= request.base_size:
            return request
        return OrderRequest.market(request.account_id, request.product_id, request.side, base_size=size,
                                   reason=request.reason)  # fmt: skip

    def _book_fill(self, instance: Instance, order: Order, fill: Fill) -> None:
        """Book an exchange fill in the instance's ledger, its fee on the ledger's quote grid."""
        grid = self.broker.grids[fill.product_id]
        booked = Fill(fill.order_id, instance.account.account_id, fill.product_id, fill.side, fill.price, fill.size,
                      grid.value(fill.size, fill.price), grid.quote_amount(fill.fee), fill.liquidity, fill.time,
                      None, fill.reason)  # fmt: skip
        try:
            instance.account.apply(booked)
        except LedgerError as error:
            raise SessionError(
                f"the exchange filled live order {order.order_id} in a way the account's ledger cannot book "
                f"({error}); the session stops: `gpt-trader session kill` cancels what is still open"
            ) from None

    def _record(self, instance: Instance, order: Order, quote: Any) -> None:
        """Nothing: the live broker records its orders and fills itself, before and as they happen."""

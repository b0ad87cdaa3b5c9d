"""CoinbaseBroker: a session's real orders, placed through the Coinbase REST client and kept in the store.

It speaks the paper broker's language (an `OrderRequest` in, an `Order` with its `Fill`s out), but every
order is real, so every step is guarded and written down before it happens:

* Nothing is sent without a `LiveGuard` that allows orders (both opt-ins), an account the store still
  marks active (the kill switch stops them all), and room under every `LiveLimits` limit.
* Each order gets a client order id that says whose it is, `gpt-{session}-{account}-{sequence}` (store
  ids), and it is recorded in the store as SENDING *before* the POST. A crash after the POST leaves a
  record that `reconcile` resolves by that id; Coinbase answers a repeated client order id with the
  original order, so nothing can be placed twice.
* A POST that fails without a verdict (a 5xx, a timeout) is resolved by looking the order up by its
  client order id, never by sending it again (`CoinbaseRestClient.create_order`, and once more here among
  the product's newest orders, should the client's time window miss an exchange on another clock).
* `reconcile` (on start, on resume, and whenever the open orders look full) compares the orders the
  store thinks live with the exchange's, adopts open orders of the session the store does not know,
  and records every fill once, through the store, whose unique trade ids make a repeat a no-op.

`kill_session` is the kill switch (`kill` opens the configured client for it): it marks every account of the
session stopped, then cancels each of its open orders. It works from another process too: a running broker
reads the accounts' status before each order, and again once an order has landed, cancelling it if the
kill switch struck while it was in flight.

Credentials come only from `coinbase.auth.load_key` (in `open`); the broker never sees the secret.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from gpt_trader.coinbase import orders as coinbase_orders
from gpt_trader.coinbase.auth import auth_hook, load_key
from gpt_trader.coinbase.errors import CoinbaseError
from gpt_trader.coinbase.orders import OrderNotPlaced, OrderOutcomeUnknown, OrderRejected
from gpt_trader.coinbase.rest import CoinbaseRestClient
from gpt_trader.errors import UserError
from gpt_trader.market.events import Side
from gpt_trader.store.base import utc_now
from gpt_trader.store.db import Store
from gpt_trader.store.schema import Account as AccountRow
from gpt_trader.store.schema import AccountStatus, Liquidity
from gpt_trader.store.schema import Fill as FillRow
from gpt_trader.store.schema import Order as OrderRow
from gpt_trader.trading.fees import Liquidity as FillLiquidity
from gpt_trader.trading.live_guard import LiveGuard, LiveLimits
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
)

log = logging.getLogger(__name__)

SENDING = "SENDING"
"""Recorded, about to be sent: the process may have died before or after the POST."""
UNKNOWN = "UNKNOWN"
"""Sent, and neither the answer nor a lookup said whether it landed."""
NOT_PLACED = "NOT_PLACED"
REJECTED = "REJECTED"
LIVE_STATUSES = frozenset({SENDING, UNKNOWN, "PENDING", "OPEN", "QUEUED", "CANCEL_QUEUED", "EDIT_QUEUED"})
"""Statuses of an order that may still trade: they count as open, and `reconcile` looks at them."""
_NOTHING = frozenset({REJECTED, NOT_PLACED, "FAILED"})
"""Statuses of orders that never traded: they do not count against the day's notional."""
_STATUS = {
    "FILLED": OrderStatus.FILLED,
    "CANCELLED": OrderStatus.CANCELLED,
    "EXPIRED": OrderStatus.CANCELLED,
    "FAILED": OrderStatus.REJECTED,
    REJECTED: OrderStatus.REJECTED,
    NOT_PLACED: OrderStatus.REJECTED,
}
KILLED = "stopped by the kill switch"
"""The error the kill switch leaves on every account of the session."""
_CLIENT_ID = re.compile(r"gpt-(\d+)-(\d+)-(\d+)")
_BATCH = 50
"""Order ids per fills or cancel request."""


@dataclass(frozen=True, slots=True)
class OrderTag:
    """What a client order id says: the store's session and account, and the account's order count."""

    session_id: int
    account_id: int
    sequence: int

    @property
    def client_order_id(self) -> str:
        return f"gpt-{self.session_id}-{self.account_id}-{self.sequence}"

    @classmethod
    def parse(cls, client_order_id: str) -> OrderTag | None:
        """The tag of one of our client order ids; None for anyone else's."""
        match = _CLIENT_ID.fullmatch(client_order_id)
        return None if match is None else cls(*(int(part) for part in match.groups()))


@dataclass
class Reconciliation:
    """What `reconcile` found: orders whose status changed, orders adopted from the exchange, fills recorded."""

    status_changes: list[tuple[str, str, str]] = field(default_factory=list)
    """(client order id, status the store had, status now)."""
    adopted: list[str] = field(default_factory=list)
    new_fills: list[Fill] = field(default_factory=list)


@dataclass
class KillReport:
    accounts_stopped: list[str]
    cancelled: list[str]
    """Client order ids of the orders cancelled."""
    not_cancelled: list[tuple[str, str]]
    """(client order id, why) of open orders the exchange would not cancel."""
    already_done: list[tuple[str, str]] = field(default_factory=list)
    """(client order id, status) of orders the store showed open that had filled or ended on the exchange by
    the cancel: a running session's order that traded while the kill switch listed it. Nothing is left open."""


class AccountStopped(UserError):
    """The account (or its whole session, by the kill switch) is stopped: it places no more orders."""


class CoinbaseBroker:
    """The live orders of trading session `session_id` (a store id), whose accounts are the store's.

    An `OrderRequest.account_id` is the name of one of the session's accounts. Build one with `open` (which
    loads the configured key), or give it a client; call `reconcile` before the first order.
    """

    def __init__(
        self,
        guard: LiveGuard,
        client: CoinbaseRestClient,
        store: Store,
        session_id: int,
        limits: LiveLimits,
        *,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        guard.require()
        self.guard = guard
        self.client = client
        self.store = store
        self.session_id = session_id
        self.limits = limits
        self.clock = clock
        self._grids: dict[str, ProductIncrements] = {}
        self._sequences: dict[int, int] = {}
        self._placing = asyncio.Lock()
        # The store is written directly, not through StoreWriter: each record must be durable before the next
        # step (the order before its POST), and live orders are few.

    @classmethod
    def open(
        cls, guard: LiveGuard, store: Store, session_id: int, limits: LiveLimits, rest_url: str | None = None
    ) -> CoinbaseBroker:
        """A broker on the configured Coinbase REST URL with the configured key; the guard is checked first,
        so without both opt-ins no key is even read."""
        guard.require()
        return cls(guard, CoinbaseRestClient(rest_url, auth=auth_hook(load_key())), store, session_id, limits)

    async def aclose(self) -> None:
        await self.client.aclose()

    # -- orders ---------------------------------------------------------------------------------------

    async def submit(self, request: OrderRequest, sequence: int | None = None) -> Order:
        """Place `request` on the exchange; the order comes back open, filled, cancelled or rejected.

        `sequence` numbers the order within its account (a session's k-th decision of the account, so that
        a decision taken again after a crash has the id it had; see `placed`); default: the next number.
        Raises `LiveOrdersDisabled`, `AccountStopped` or `LimitExceeded` (nothing sent), and
        `OrderOutcomeUnknown` when the exchange's answer was lost and a lookup could not find out (the order
        stays recorded; `reconcile` settles it).
        """
        self.guard.require()
        account = self._active_account(request.account_id)
        if sequence is not None and self._recorded(OrderTag(self.session_id, account.id, sequence)) is not None:
            raise UserError(f"order {sequence} of account {request.account_id} is recorded already; it is not "
                            "placed twice (read it with `placed`)")  # fmt: skip
        order = Order("", request, self.clock().timestamp())
        rejection = await self._local_rejection(request)
        if rejection is not None:
            return order.reject(*rejection)
        configuration = _configuration(request)
        # Checking the limits and recording the order is one step, so two orders in flight cannot both fit.
        async with self._placing:
            notional = await self._notional(request)
            await self._check_limits(request, notional)
            tag = OrderTag(self.session_id, account.id, sequence or self._next_sequence(account.id))
            self.store.record_order(
                account.id, tag.client_order_id, product_id=request.product_id, side=request.side.value,
                order_type=request.type.value, status=SENDING, base_size=request.base_size,
                quote_size=request.quote_size, limit_price=request.limit_price, time=self.clock(),
                config={"order_configuration": configuration, "notional": str(notional), "reason": request.reason},
            )  # fmt: skip
        order.order_id = tag.client_order_id
        exchange_order_id = await self._place(order, tag.client_order_id, configuration)
        if exchange_order_id is None:
            return order
        self.store.update_order(tag.client_order_id, "PENDING", exchange_order_id=exchange_order_id, time=self.clock())
        if not self._is_active(account.id):
            # The kill switch struck while this order was in flight, after it listed the open orders.
            await self.client.cancel_orders([exchange_order_id])
        return await self._refresh(order, exchange_order_id)

    async def _place(self, order: Order, client_order_id: str, configuration: dict[str, Any]) -> str | None:
        """POST the recorded order; its exchange id, or None when it was refused or not placed (`order` says why)."""
        request = order.request
        try:
            created = await self.client.create_order(client_order_id, request.product_id, request.side.value,
                                                     configuration)  # fmt: skip
        except OrderRejected as refused:
            self.store.update_order(client_order_id, REJECTED, reject_reason=str(refused), time=self.clock())
            order.reject(RejectReason.INVALID_ORDER, str(refused))
            return None
        except OrderNotPlaced as lost:
            self.store.update_order(client_order_id, NOT_PLACED, reject_reason=str(lost), time=self.clock())
            order.reject(RejectReason.NO_MARKET, str(lost))
            return None
        except OrderOutcomeUnknown:
            self.store.update_order(client_order_id, UNKNOWN, time=self.clock())
            raise
        return created.order_id

    async def placed(self, account_name: str, sequence: int) -> Order | None:
        """Order number `sequence` of the account as the store records it, with its fills (None if there is
        none): what a resumed session reads instead of placing a decision it took before again. Call
        `reconcile` first, so the store has what the exchange did meanwhile."""
        account = next((row for row in self._accounts() if row.name == account_name), None)
        row = None if account is None else self._recorded(OrderTag(self.session_id, account.id, sequence))
        if row is None or account is None:
            return None
        order = Order(row.client_order_id, _request_of(row, account), row.created_at.timestamp())
        grid = await self._grid(row.product_id)
        for fill in self.store.fills(account.id):
            if fill.order_id == row.id:
                order.record(_stored_fill(row.client_order_id, order.request, fill, grid))
        order.status = _STATUS.get(row.status, OrderStatus.OPEN)
        if order.status is OrderStatus.REJECTED:
            order.reject(RejectReason.INVALID_ORDER, row.reject_reason or f"order {row.client_order_id} failed")
        return order

    async def cancel(self, client_order_id: str) -> Order:
        """Cancel one of the session's orders; it comes back as the exchange now has it."""
        row, account = self._tracked(client_order_id)
        if row.exchange_order_id is None:
            raise UserError(f"order {client_order_id} has no exchange order id yet; run reconcile first")
        await self.client.cancel_orders([row.exchange_order_id])
        order = Order(client_order_id, _request_of(row, account), row.created_at.timestamp())
        return await self._refresh(order, row.exchange_order_id)

    def open_orders(self, account_name: str | None = None) -> list[OrderRow]:
        """The session's orders the store records as live (of one account, if named)."""
        return [
            row
            for account in self._accounts()
            if account_name is None or account.name == account_name
            for row in self.store.orders(account.id)
            if row.status in LIVE_STATUSES
        ]

    async def kill(self) -> KillReport:
        """The kill switch for this broker's session: see `kill_session`."""
        return await kill_session(self.client, self.store, self.session_id)

    # -- reconciliation -------------------------------------------------------------------------------

    async def reconcile(self) -> Reconciliation:
        """Bring the store in line with the exchange: the status of every order the store thinks live, open
        orders of this session the store does not know, and every fill of those orders, each recorded once."""
        found = Reconciliation()
        accounts = {account.id: account for account in self._accounts()}
        known = {row.client_order_id: row for account in accounts.values() for row in self.store.orders(account.id)}
        for row in [row for row in known.values() if row.status in LIVE_STATUSES]:
            exchange_order = await self._exchange_order(row)
            if exchange_order is None:
                missing = "the exchange has no order with this client order id"
                self.store.update_order(row.client_order_id, NOT_PLACED, reject_reason=missing, time=self.clock())
                found.status_changes.append((row.client_order_id, row.status, NOT_PLACED))
                continue
            request = _request_of(row, accounts[row.account_id])
            await self._settle(row.client_order_id, exchange_order, request, found.new_fills)
            if exchange_order.status != row.status:
                found.status_changes.append((row.client_order_id, row.status, exchange_order.status))
        for exchange_order in await session_open_orders(self.client, self.session_id):
            tag = OrderTag.parse(exchange_order.client_order_id)
            if tag is None or exchange_order.client_order_id in known or tag.account_id not in accounts:
                continue
            self._adopt(exchange_order, tag)
            found.adopted.append(exchange_order.client_order_id)
            row, account = self._tracked(exchange_order.client_order_id)
            await self._settle(row.client_order_id, exchange_order, _request_of(row, account), found.new_fills)
        return found

    # -- inside ---------------------------------------------------------------------------------------

    def _accounts(self) -> list[AccountRow]:
        return self.store.accounts(self.session_id)

    def _active_account(self, name: str) -> AccountRow:
        accounts = self._accounts()
        # Even an account a rotation started after the kill switch struck: the whole session is stopped.
        if stopped_by_kill_switch(accounts):
            raise AccountStopped(f"session {self.session_id} was stopped by the kill switch; no order was sent")
        for account in accounts:
            if account.name == name:
                if account.status is not AccountStatus.ACTIVE:
                    raise AccountStopped(
                        f"account {name} of session {self.session_id} is {account.status.value}"
                        f"{f' ({account.error})' if account.error else ''}; no order was sent"
                    )
                return account
        names = ", ".join(account.name for account in self._accounts()) or "none"
        raise UserError(f"session {self.session_id} has no account {name!r}; its accounts are {names}")

    def _is_active(self, account_id: int) -> bool:
        accounts = self._accounts()
        return not stopped_by_kill_switch(accounts) and any(
            account.id == account_id and account.status is AccountStatus.ACTIVE for account in accounts
        )

    def _tracked(self, client_order_id: str) -> tuple[OrderRow, AccountRow]:
        for account in self._accounts():
            for row in self.store.orders(account.id):
                if row.client_order_id == client_order_id:
                    return row, account
        raise UserError(f"session {self.session_id} has no order {client_order_id!r}")

    def _recorded(self, tag: OrderTag) -> OrderRow | None:
        wanted = tag.client_order_id
        return next((row for row in self.store.orders(tag.account_id) if row.client_order_id == wanted), None)

    def _next_sequence(self, account_id: int) -> int:
        if account_id not in self._sequences:
            tags = (OrderTag.parse(row.client_order_id) for row in self.store.orders(account_id))
            self._sequences[account_id] = max((tag.sequence for tag in tags if tag is not None), default=0)
        self._sequences[account_id] += 1
        return self._sequences[account_id]

    async def _grid(self, product_id: str) -> ProductIncrements:
        if product_id not in self._grids:
            product = await self.client.product(product_id)
            self._grids[product_id] = ProductIncrements(
                product_id, product.base_increment, product.quote_increment, product.price_increment,
                product.base_min_size, product.base_max_size, product.quote_min_size, product.quote_max_size,
            )  # fmt: skip
        return self._grids[product_id]

    async def _local_rejection(self, request: OrderRequest) -> tuple[RejectReason, str] | None:
        """Why the request cannot go out as it stands (its shape, the product's grid), or None."""
        supported = request.type is OrderType.MARKET or (
            request.type is OrderType.LIMIT and request.time_in_force is TimeInForce.GTC
        )
        if not supported:
            return RejectReason.INVALID_ORDER, (
                f"the live broker places market orders and good-till-cancelled limit orders; this is a "
                f"{request.type.value} {request.time_in_force.value} order: place one of those instead"
            )
        rejection = check_request(request, await self._grid(request.product_id))
        return None if rejection is None else (rejection.reason, rejection.message)

    async def _notional(self, request: OrderRequest) -> Decimal:
        """What the order is worth in quote currency: its spend, its limit value, or its size at the touch."""
        if request.quote_size is not None:
            return request.quote_size
        size = request.base_size or ZERO
        if request.limit_price is not None:
            return size * request.limit_price
        book = await self.client.product_book(request.product_id, limit=1)
        touch = book.asks if request.side is Side.BUY else book.bids
        if not touch:
            raise UserError(f"{request.product_id} has no {'ask' if request.side is Side.BUY else 'bid'} to value "
                            "a market order against; no order was sent")  # fmt: skip
        return size * touch[0].price

    async def _check_limits(self, request: OrderRequest, notional: Decimal) -> None:
        today = self._orders_today()
        placed = sum((Decimal(row.config.get("notional", "0")) for row in today if row.status not in _NOTHING), ZERO)
        if len(self.open_orders()) >= self.limits.max_open_orders:
            # The store's open orders may have filled or been cancelled since it last heard: ask before refusing.
            await self.reconcile()
        self.limits.check(
            f"{request.side.value} {request.type.value} {request.product_id}",
            notional=notional,
            placed_today=placed,
            open_orders=len(self.open_orders()),
            lost_today=await self._loss_today(today),
        )

    def _orders_today(self) -> list[OrderRow]:
        day = self.clock().replace(hour=0, minute=0, second=0, microsecond=0)
        return [row for account in self._accounts() for row in self.store.orders(account.id) if row.created_at >= day]

    async def _loss_today(self, today: Sequence[OrderRow]) -> Decimal:
        """Minus the result of today's fills, fees included, with what they bought or sold marked at the price
        that would close it (the bid for units held, the ask for units owed)."""
        by_id = {row.id: row for row in today}
        cash, units = ZERO, dict[str, Decimal]()
        for account_id in {row.account_id for row in today}:
            for fill in self.store.fills(account_id):
                row = by_id.get(fill.order_id)
                if row is None:
                    continue
                sign = 1 if row.side.value == Side.BUY.value else -1
                cash -= sign * fill.price * fill.size + fill.fee
                units[row.product_id] = units.get(row.product_id, ZERO) + sign * fill.size
        marked = ZERO
        for product_id, held in units.items():
            if held:
                book = await self.client.product_book(product_id, limit=1)
                levels = book.bids if held > 0 else book.asks
                if not levels:
                    raise UserError(f"{product_id} has no quote to mark today's fills against; no order was sent")
                marked += held * levels[0].price
        return -(cash + marked)

    async def _exchange_order(self, row: OrderRow) -> coinbase_orders.Order | None:
        if row.exchange_order_id is not None:
            return await self.client.get_order(row.exchange_order_id)
        return await self.client.find_order(row.client_order_id, row.product_id, row.side.value)

    def _adopt(self, exchange_order: coinbase_orders.Order, tag: OrderTag) -> None:
        """Record an open order of this session that the store lost (its record never committed)."""
        configuration = exchange_order.order_configuration
        details = next(iter(configuration.values()), {})
        kind = "LIMIT" if "limit_price" in details else "MARKET"
        self.store.record_order(
            tag.account_id, exchange_order.client_order_id, product_id=exchange_order.product_id,
            side=exchange_order.side, order_type=kind, status=exchange_order.status,
            base_size=details.get("base_size"), quote_size=details.get("quote_size"),
            limit_price=details.get("limit_price"), exchange_order_id=exchange_order.order_id,
            time=exchange_order.created_time or self.clock(),
            config={"order_configuration": configuration, "notional": str(_value_of(details)), "adopted": True},
        )  # fmt: skip
        log.warning("adopted open order %s, which the exchange lists and the store did not",
                    exchange_order.client_order_id)  # fmt: skip

    async def _refresh(self, order: Order, exchange_order_id: str) -> Order:
        """`order` as the exchange has it now, its fills and status recorded in the store."""
        exchange_order = await self.client.get_order(exchange_order_id)
        for fill in await self._settle(order.order_id, exchange_order, order.request, []):
            order.record(fill)
        order.status = _STATUS.get(exchange_order.status, OrderStatus.OPEN)
        if order.status is OrderStatus.REJECTED:
            why = "; ".join(text for text in (exchange_order.reject_reason, exchange_order.reject_message) if text)
            order.reject(
                RejectReason.INVALID_ORDER, f"the exchange failed order {order.order_id}: {why or 'no reason given'}"
            )
        return order

    async def _settle(
        self, client_order_id: str, exchange_order: coinbase_orders.Order, request: OrderRequest, new_fills: list[Fill]
    ) -> list[Fill]:
        """Record the order's fills that are new (appending them to `new_fills`), then its status, so that a
        final status in the store implies its fills are there too; returns every fill of the order."""
        every: list[Fill] = []
        grid = await self._grid(exchange_order.product_id)
        if exchange_order.number_of_fills or exchange_order.filled_size:
            for fill in await self._fills_of([exchange_order.order_id]):
                written = self.store.add_fill(
                    client_order_id, trade_id=fill.trade_id, price=fill.price, size=fill.size, fee=fill.commission,
                    liquidity=Liquidity.MAKER if fill.liquidity_indicator == "MAKER" else Liquidity.TAKER,
                    time=fill.trade_time,
                )  # fmt: skip
                every.append(_fill(client_order_id, request, fill, grid))
                if written:
                    new_fills.append(every[-1])
        self.store.update_order(client_order_id, exchange_order.status, exchange_order_id=exchange_order.order_id,
                                time=self.clock(), reject_reason=exchange_order.reject_reason or None)  # fmt: skip
        return every

    async def _fills_of(self, order_ids: Sequence[str]) -> list[coinbase_orders.Fill]:
        fills: list[coinbase_orders.Fill] = []
        for batch in _batches(order_ids):
            cursor: str | None = None
            while True:
                page = await self.client.list_fills(order_ids=batch, cursor=cursor)
                fills += page.fills
                if not page.cursor or page.cursor == cursor:
                    break
                cursor = page.cursor
        return sorted(fills, key=lambda fill: (fill.trade_time, fill.trade_id))


async def kill_session(client: CoinbaseRestClient, store: Store, session_id: int) -> KillReport:
    """The kill switch: mark every account of the session stopped, then cancel every open order of the
    session, those the store records as live and those the exchange lists under the session's client order
    ids. Safe to call from another process while the session runs, and to call twice."""
    accounts = store.accounts(session_id)
    for account in accounts:
        store.set_account_status(account.id, AccountStatus.STOPPED, KILLED)
    rows = {row.client_order_id: row for account in accounts for row in store.orders(account.id)}
    targets = {row.exchange_order_id: cid for cid, row in rows.items()
               if row.status in LIVE_STATUSES and row.exchange_order_id is not None}  # fmt: skip
    targets.update({order.order_id: order.client_order_id for order in await session_open_orders(client, session_id)})
    report = KillReport([account.name for account in accounts], [], [])
    for batch in _batches(list(targets)):
        for result in await client.cancel_orders(batch):
            client_order_id = targets[result.order_id]
            if result.success:
                report.cancelled.append(client_order_id)
                if client_order_id in rows:
                    store.update_order(client_order_id, "CANCELLED")
            elif (status := await _ended_status(client, result.order_id)) is not None:
                report.already_done.append((client_order_id, status))
            else:
                report.not_cancelled.append((client_order_id, result.failure_reason))
    log.warning("kill switch: session %d stopped, %d orders cancelled", session_id, len(report.cancelled))
    return report


async def _ended_status(client: CoinbaseRestClient, order_id: str) -> str | None:
    """The exchange's status of an order it would not cancel, if the order has ended (it cannot trade again);
    None when it has not, or the exchange cannot say (the cancel's failure is then what the report gives)."""
    try:
        status = (await client.get_order(order_id)).status
    except CoinbaseError as error:
        log.debug("kill switch: order %s could not be looked up after a refused cancel: %s", order_id, error)
        return None
    return None if status in LIVE_STATUSES else status


async def kill(store: Store, session_id: int, rest_url: str | None = None) -> KillReport:
    """`kill_session` with a client on the configured REST URL and key: what `gpt-trader session kill ID` runs."""
    async with CoinbaseRestClient(rest_url, auth=auth_hook(load_key())) as client:
        return await kill_session(client, store, session_id)


async def session_open_orders(client: CoinbaseRestClient, session_id: int) -> list[coinbase_orders.Order]:
    """The orders the exchange lists open under the session's client order ids."""
    found: list[coinbase_orders.Order] = []
    cursor: str | None = None
    prefix = f"gpt-{session_id}-"
    while True:
        page = await client.list_orders(order_status=["OPEN", "PENDING", "QUEUED"], cursor=cursor)
        found += [order for order in page.orders if order.client_order_id.startswith(prefix)]
        if not page.has_next or not page.cursor or page.cursor == cursor:
            return found
        cursor = page.cursor


def stopped_by_kill_switch(accounts: Iterable[AccountRow]) -> bool:
    """Whether the kill switch stopped the session of `accounts` (all of one session)."""
    return any(account.error == KILLED for account in accounts)


def _configuration(request: OrderRequest) -> dict[str, dict[str, Any]]:
    if request.type is OrderType.MARKET:
        return coinbase_orders.market_configuration(quote_size=request.quote_size, base_size=request.base_size)
    assert request.base_size is not None and request.limit_price is not None
    return coinbase_orders.limit_gtc_configuration(request.base_size, request.limit_price, post_only=request.post_only)


def _request_of(row: OrderRow, account: AccountRow) -> OrderRequest:
    side = Side(row.side.value)
    reason = str(row.config.get("reason", ""))
    if row.limit_price is not None and row.base_size is not None:
        return OrderRequest.limit(account.name, row.product_id, side, row.base_size, row.limit_price, reason=reason)
    return OrderRequest.market(account.name, row.product_id, side, base_size=row.base_size,
                               quote_size=row.quote_size, reason=reason)  # fmt: skip


def _fill(client_order_id: str, request: OrderRequest, fill: coinbase_orders.Fill, grid: ProductIncrements) -> Fill:
    liquidity = FillLiquidity.MAKER if fill.liquidity_indicator == "MAKER" else FillLiquidity.TAKER
    return Fill(
        client_order_id, request.account_id, fill.product_id, request.side, fill.price, fill.size,
        grid.value(fill.size, fill.price), fill.commission, liquidity, fill.trade_time.timestamp(), None,
        request.reason,
    )  # fmt: skip


def _stored_fill(client_order_id: str, request: OrderRequest, fill: FillRow, grid: ProductIncrements) -> Fill:
    liquidity = FillLiquidity.MAKER if fill.liquidity is Liquidity.MAKER else FillLiquidity.TAKER
    return Fill(
        client_order_id, request.account_id, request.product_id, request.side, fill.price, fill.size,
        grid.value(fill.size, fill.price), fill.fee, liquidity, fill.time.timestamp(), None, request.reason,
    )  # fmt: skip


def _value_of(details: dict[str, Any]) -> Decimal:
    if "quote_size" in details:
        return Decimal(str(details["quote_size"]))
    return Decimal(str(details.get("base_size", "0"))) * Decimal(str(details.get("limit_price", "0")))


def _batches(items: Sequence[str]) -> Iterable[list[str]]:
    return (list(items[start : start + _BATCH]) for start in range(0, len(items), _BATCH))

"""What the engine does with a decision of the position rules: an order to the broker, then the record.

The rules decide in floats, as the backtest kernel does (`trading/stepper.py`); this module turns each of
their fills into an exact order on the instance's ledger account and writes what happened through the
`StoreWriter`: the order, its fills with the quote they met, the round trip a fill closed, the position
state after it and an equity snapshot.

Rows wait in the booker until `flush()`, which hands them to the writer in the order they were made; the
writer commits each kind's rows of a batch in one statement.

Sizes follow the rules. An entry asks for the rules' units, floored to the product's base increment and,
for a buy, cut to what the ledger's cash affords (at the rules' price with the bar fill model, at the
book's asks otherwise); an entry smaller than the product's minimum order is not placed (the engine's
rules then go flat with the ledger); an exit closes whatever the ledger holds. With the bar
fill model the order fills in full at the rules' price (`PaperBroker.fill_at`), so the ledger meets the
backtest within the rounding of each fill to the product's increments; with the touch or book model it is
a market order against the live book, and fills at what the book gives.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

from gpt_trader.market.events import Quote, Side
from gpt_trader.store.schema import AccountStatus
from gpt_trader.store.writer import StoreWriter
from gpt_trader.trading.broker import PaperBroker
from gpt_trader.trading.instance import Instance
from gpt_trader.trading.ledger import RoundTrip
from gpt_trader.trading.money import ZERO
from gpt_trader.trading.orders import Order, OrderRequest, OrderStatus
from gpt_trader.trading.rules import Position


@lru_cache(maxsize=1024)
def market_time(seconds: float) -> datetime:
    """`seconds` as a UTC datetime; an order, its fill and the round trip it closes share theirs."""
    return datetime.fromtimestamp(seconds, UTC)


def decimal_of(number: float) -> Decimal:
    """The shortest decimal that reads back as `number`: how a float price enters the exact ledger."""
    return Decimal(repr(number))


class Booker:
    """Executes rule decisions on the broker and records them; `writer` None keeps no record."""

    def __init__(
        self,
        broker: PaperBroker,
        *,
        bar_fills: bool,
        writer: StoreWriter | None = None,
        account_ids: Mapping[str, int] | None = None,
        order_prefix: str = "",
    ) -> None:
        self.broker = broker
        self.bar_fills = bar_fills
        self.writer = writer
        self.account_ids = dict(account_ids or {})
        self.order_prefix = order_prefix
        self.orders = 0
        self.fills = 0
        self.rejected = 0
        self._pending: list[tuple[str, dict[str, Any]]] = []
        """(writer method, its arguments) of every row waiting for `flush()`."""
        missing = [] if writer is None else [name for name in self.account_ids if name not in broker.accounts]
        if missing:
            raise ValueError(f"store account ids name accounts the broker does not hold: {', '.join(missing)}")

    def execute(
        self, instance: Instance, side: Side, units: float, entry: bool, price: float, reason: str, now: float,
        quote: Quote | None,
    ) -> Order | None:  # fmt: skip
        """Place the order for one rule fill; None when there is nothing to trade (an exit with no units)."""
        account, product_id = instance.account, instance.spec.product_id
        grid = self.broker.grids[product_id]
        exact_price = decimal_of(price)
        held = account.units(product_id)
        if entry:
            size = grid.floor_size(decimal_of(units))
            if side is Side.BUY and self.bar_fills:
                size = min(size, grid.affordable_size(account.available_cash, exact_price,
                                                      account.fee_rates(now).taker))  # fmt: skip
            elif side is Side.BUY:
                # At the book's prices; when it affords nothing the broker says why (no asks, a stale book...).
                affordable = self.broker.market_buy_size(account.account_id, product_id, account.available_cash, now)
                size = min(size, affordable) if affordable > 0 else size
        else:
            size = abs(held)
        if size <= 0 or (entry and (size < grid.base_min_size or size * exact_price < grid.quote_min_size)):
            return None  # an account down to less than the smallest order does not spam refused orders every bar
        request = OrderRequest.market(account.account_id, product_id, side, base_size=size, reason=reason)
        rounds = len(account.round_trips)
        order = self._order(instance, request, exact_price, now)
        self.orders += 1
        self.fills += len(order.fills)
        if order.status is OrderStatus.REJECTED:
            self.rejected += 1
        self._record(instance, order, quote)
        if len(account.round_trips) > rounds:
            for trip in account.round_trips[rounds:]:
                self._record_trip(instance, trip)
        return order

    def _order(self, instance: Instance, request: OrderRequest, price: Decimal, now: float) -> Order:
        """Execute `request` (the rules' fill at `price`) on the paper broker, which books it in the ledger."""
        return self.broker.fill_at(request, price, now) if self.bar_fills else self.broker.submit(request, now)

    def position_state(self, instance: Instance, rule: Position, last_bar: float | None, now: float) -> None:
        account_id = self._store_id(instance)
        if account_id is None or self.writer is None:
            return
        position = instance.account.positions.get(instance.spec.product_id)
        units = ZERO if position is None else position.units
        entry = None if position is None or position.trip is None else position.trip.entry_time
        self._queue(
            "save_position_state",
            account_id=account_id,
            product_id=instance.spec.product_id,
            units=units,
            entry_price=None if position is None or position.entry_price is None else _quantized(position.entry_price),
            entry_time=None if entry is None else market_time(entry),
            stop_loss_level=_finite(rule.stop),
            take_profit_level=_finite(rule.take),
            trailing_best=_finite(rule.best),
            pending_signal=rule.pending,
            last_bar_time=None if last_bar is None else market_time(last_bar),
            time=market_time(now),
        )

    def snapshot(self, instance: Instance, mark: Decimal, now: float) -> None:
        account_id = self._store_id(instance)
        if account_id is None or self.writer is None:
            return
        product_id = instance.spec.product_id
        units = instance.account.units(product_id)
        value = self.broker.grids[product_id].quote_amount(units * mark)
        self._queue("add_equity_snapshot", account_id=account_id, cash=instance.account.cash, position_value=value,
                    units=units, time=market_time(now))  # fmt: skip

    def status(self, instance: Instance, status: AccountStatus, error: str | None = None) -> None:
        account_id = self._store_id(instance)
        if account_id is not None and self.writer is not None:
            self._queue("set_account_status", account_id=account_id, status=status, error=error)

    @property
    def queued(self) -> int:
        """Rows waiting for `flush()`."""
        return len(self._pending)

    def flush(self) -> None:
        """Hand every waiting row to the writer, in the order they were made."""
        writer = self.writer
        if writer is None:
            return
        for kind, row in self._pending:
            getattr(writer, kind)(**row)
        self._pending.clear()

    def _queue(self, kind: str, **row: Any) -> None:
        self._pending.append((kind, row))

    def _store_id(self, instance: Instance) -> int | None:
        return self.account_ids.get(instance.spec.account)

    def _record(self, instance: Instance, order: Order, quote: Quote | None) -> None:
        account_id = self._store_id(instance)
        if account_id is None or self.writer is None:
            return
        request = order.request
        client_id = f"{self.order_prefix}{order.order_id}"
        self._queue(
            "record_order", account_id=account_id, client_order_id=client_id, product_id=request.product_id,
            side=request.side.value, order_type=request.type.value, status=order.status.value,
            base_size=request.base_size, config={"reason": request.reason}, time=market_time(order.created_time),
        )  # fmt: skip
        for number, fill in enumerate(order.fills, 1):
            met = fill.quote or quote
            self._queue(
                "add_fill", client_order_id=client_id, trade_id=f"{client_id}-{number}", price=fill.price,
                size=fill.size, fee=fill.fee, liquidity=fill.liquidity.value, time=market_time(fill.time),
                bid=None if met is None else met.bid, ask=None if met is None else met.ask,
            )  # fmt: skip
        if order.rejection is not None:
            self._queue("update_order", client_order_id=client_id, status=order.status.value,
                        reject_reason=order.rejection.message, time=market_time(order.created_time))  # fmt: skip

    def _record_trip(self, instance: Instance, trip: RoundTrip) -> None:
        account_id = self._store_id(instance)
        if account_id is None or self.writer is None:
            return
        self._queue(
            "add_round_trip", account_id=account_id, product_id=trip.product_id, side=trip.side.value, units=trip.size,
            entry_time=market_time(trip.entry_time), entry_price=_quantized(trip.entry_price),
            exit_time=market_time(trip.exit_time), exit_price=_quantized(trip.exit_price),
            fees=trip.fees, pnl=trip.net_pnl, exit_reason=trip.exit_reason,
        )  # fmt: skip


def _finite(level: float) -> float | None:
    return level if level == level and abs(level) != float("inf") else None


_AVERAGE_PRICE_PLACES = Decimal("1e-12")


def _quantized(price: Decimal) -> Decimal:
    """An average price (a quotient of many digits) to twelve places, finer than any product's increment."""
    return price.quantize(_AVERAGE_PRICE_PLACES)

"""An exact account: Decimal cash and positions, realised and unrealised PnL, fees, and round trips.

Each position keeps its units and its cost: the quote currency paid for the units it holds long (or, for a
short, minus what selling them brought in). Closing part of a position moves the matching share of that cost
out, rounded to the quote grid, and books the difference from the closing value as realised PnL. So for
every account, at every mark and after every fill, exactly:

    cash + Σ units × mark = start + realised + unrealised − fees,   unrealised = Σ (units × mark − cost)

Realised PnL is before fees; fees are counted once, apart. A position that goes from flat to open and back
to flat is a round trip, closed with the reason of the order that closed it. Float never enters: fills arrive
as Decimal on the product's grid (anything else is refused), and a fill that would leave cash, or (on a spot
account) units, below zero is refused with a `LedgerError` — the broker checks funds first, so that error
means a broker bug.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from gpt_trader.market.events import Side
from gpt_trader.trading.fees import FeeRates, FeeSchedule
from gpt_trader.trading.money import ZERO, ProductIncrements, is_multiple
from gpt_trader.trading.orders import Fill

VOLUME_WINDOW_SECONDS = 30 * 86_400
"""Coinbase sets an account's fee tier by its trading volume over the last 30 days."""


class LedgerError(ValueError):
    """A fill the account cannot take: it would overdraw cash or sell units the account does not hold."""


@dataclass(frozen=True, slots=True)
class RoundTrip:
    """A position from opening to flat: `side` is how it was entered (BUY for a long, SELL for a short)."""

    account_id: str
    product_id: str
    side: Side
    entry_time: float
    exit_time: float
    size: Decimal
    """Units entered in all (the most a position held, unless it was added to after a partial exit)."""
    entry_value: Decimal
    exit_value: Decimal
    pnl: Decimal
    """Realised PnL before fees."""
    fees: Decimal
    exit_reason: str

    @property
    def net_pnl(self) -> Decimal:
        return self.pnl - self.fees

    @property
    def entry_price(self) -> Decimal:
        return self.entry_value / self.size

    @property
    def exit_price(self) -> Decimal:
        return self.exit_value / self.size


@dataclass(slots=True)
class _OpenTrip:
    side: Side
    entry_time: float
    size: Decimal = ZERO
    entry_value: Decimal = ZERO
    exit_value: Decimal = ZERO
    pnl: Decimal = ZERO
    fees: Decimal = ZERO


@dataclass(slots=True)
class Position:
    """Units of one product (negative when short) and their cost in quote currency."""

    product_id: str
    units: Decimal = ZERO
    cost: Decimal = ZERO
    trip: _OpenTrip | None = None

    def unrealised(self, mark: Decimal) -> Decimal:
        return self.units * mark - self.cost

    @property
    def entry_price(self) -> Decimal | None:
        """The average price of the units held, or None when flat."""
        return self.cost / self.units if self.units else None


@dataclass(slots=True, eq=False)
class Account:
    """One trading account in one quote currency."""

    account_id: str
    start_cash: Decimal
    grids: Mapping[str, ProductIncrements]
    fee_schedule: FeeSchedule = field(default_factory=FeeSchedule.coinbase)
    allow_short: bool = False
    """Whether a sale may take units below zero; a spot account (the default, and Coinbase) cannot."""
    cash: Decimal = ZERO
    realised: Decimal = ZERO
    fees: Decimal = ZERO
    positions: dict[str, Position] = field(default_factory=dict)
    round_trips: list[RoundTrip] = field(default_factory=list)
    held_cash: Decimal = ZERO
    """Cash promised to resting buy orders."""
    held_units: dict[str, Decimal] = field(default_factory=dict)
    """Units promised to resting sell orders, by product."""
    _volume: deque[tuple[float, Decimal]] = field(default_factory=deque)
    """(time, value) of the fills inside the fee-tier window, oldest first; `_volume_total` is their sum."""
    _volume_total: Decimal = ZERO

    def __post_init__(self) -> None:
        if self.start_cash < 0:
            raise ValueError(f"account {self.account_id}: starting cash cannot be negative, got {self.start_cash}")
        self.cash = self.start_cash

    def position(self, product_id: str) -> Position:
        found = self.positions.get(product_id)
        if found is None:
            found = self.positions[product_id] = Position(product_id)
        return found

    def units(self, product_id: str) -> Decimal:
        found = self.positions.get(product_id)
        return ZERO if found is None else found.units

    @property
    def available_cash(self) -> Decimal:
        return self.cash - self.held_cash

    def available_units(self, product_id: str) -> Decimal:
        """Units a new sell may take: held long units not promised to resting sells (unbounded when shorting)."""
        if self.allow_short:
            return Decimal("Infinity")
        return max(self.units(product_id), ZERO) - self.held_units.get(product_id, ZERO)

    def fee_rates(self, now: float) -> FeeRates:
        return self.fee_schedule.rates_for(self.volume_30d(now))

    def volume_30d(self, now: float) -> Decimal:
        volume = self._volume
        while volume and volume[0][0] <= now - VOLUME_WINDOW_SECONDS:
            self._volume_total -= volume.popleft()[1]
        return self._volume_total

    def unrealised(self, marks: Mapping[str, Decimal]) -> Decimal:
        return sum((p.unrealised(marks[p.product_id]) for p in self.positions.values() if p.units or p.cost), ZERO)

    def equity(self, marks: Mapping[str, Decimal]) -> Decimal:
        """Cash plus every position at its mark; `marks` needs a price for each product held."""
        return self.cash + sum((p.units * marks[p.product_id] for p in self.positions.values() if p.units), ZERO)

    def apply(self, fill: Fill) -> RoundTrip | None:
        """Book `fill`; returns the round trip it closed, if any."""
        self._check(fill)
        position = self.position(fill.product_id)
        signed = fill.size * fill.side.sign
        closing = ZERO if position.units * signed >= 0 else min(fill.size, abs(position.units))
        grid = self.grids[fill.product_id]
        close_value = fill.value if closing == fill.size else grid.quote_amount(fill.value * closing / fill.size)
        close_fee = fill.fee if closing == fill.size else grid.quote_amount(fill.fee * closing / fill.size)
        self.cash += -fill.value - fill.fee if fill.side is Side.BUY else fill.value - fill.fee
        self.fees += fill.fee
        self._volume.append((fill.time, fill.value))
        self._volume_total += fill.value
        closed = None
        if closing:
            closed = self._close(position, fill, closing, close_value, close_fee, grid)
        if closing < fill.size:
            self._open(position, fill, fill.size - closing, fill.value - close_value, fill.fee - close_fee)
        return closed

    def _check(self, fill: Fill) -> None:
        if fill.product_id not in self.grids:
            raise LedgerError(f"account {self.account_id} has no grid for {fill.product_id}")
        grid = self.grids[fill.product_id]
        amounts = (fill.size, fill.price, fill.value, fill.fee)
        if not all(isinstance(amount, Decimal) for amount in amounts):
            raise LedgerError(f"fill {fill.order_id}: size, price, value and fee must be Decimal, never float")
        if fill.size <= 0 or fill.price <= 0 or fill.fee < 0:
            raise LedgerError(f"fill {fill.order_id}: size and price must be positive and the fee not negative")
        if not is_multiple(fill.size, grid.base_increment):
            raise LedgerError(f"fill {fill.order_id}: size {fill.size} is off the base grid {grid.base_increment}")
        if not (is_multiple(fill.value, grid.quote_increment) and is_multiple(fill.fee, grid.quote_increment)):
            raise LedgerError(
                f"fill {fill.order_id}: value {fill.value} and fee {fill.fee} must sit on the quote grid "
                f"{grid.quote_increment}"
            )
        if fill.side is Side.BUY and fill.value + fill.fee > self.cash:
            raise LedgerError(
                f"account {self.account_id}: a buy costing {fill.value + fill.fee} exceeds its cash {self.cash}"
            )
        if fill.side is Side.SELL and not self.allow_short and fill.size > self.units(fill.product_id):
            raise LedgerError(
                f"account {self.account_id}: cannot sell {fill.size} {fill.product_id}; "
                f"it holds {self.units(fill.product_id)}"
            )

    def _close(
        self, position: Position, fill: Fill, size: Decimal, value: Decimal, fee: Decimal, grid: ProductIncrements
    ) -> RoundTrip | None:
        share = (
            position.cost
            if size == abs(position.units)
            else grid.quote_amount(position.cost * size / abs(position.units))
        )
        # A long's cost is positive and a sale brings value in; a short's cost is negative and a buy pays out.
        pnl = value - share if fill.side is Side.SELL else -share - value
        position.units += size * fill.side.sign
        position.cost -= share
        self.realised += pnl
        trip = position.trip
        assert trip is not None, "an open position always has its open trip"
        trip.exit_value += value
        trip.pnl += pnl
        trip.fees += fee
        if position.units:
            return None
        position.trip = None
        closed = RoundTrip(
            self.account_id, position.product_id, trip.side, trip.entry_time, fill.time, trip.size,
            trip.entry_value, trip.exit_value, trip.pnl, trip.fees, fill.reason,
        )  # fmt: skip
        self.round_trips.append(closed)
        return closed

    def _open(self, position: Position, fill: Fill, size: Decimal, value: Decimal, fee: Decimal) -> None:
        if position.trip is None:
            position.trip = _OpenTrip(fill.side, fill.time)
        position.units += size * fill.side.sign
        position.cost += value * fill.side.sign
        position.trip.size += size
        position.trip.entry_value += value
        position.trip.fees += fee

"""The event engine: one feed, many strategy instances, the shared position rules, the broker, the store.

    feed events ──reader──> broker books, marks, feed health ──queue──> worker: per closed bar of a product,
    each instance's signal (`Strategy.signals` on the trailing window, or a signal tape in a replay) ->
    the position rules for all its instances in one compiled step -> orders on the broker -> the ledger
    -> the store (through the `StoreWriter`)

The reader does a bounded amount of work per message and hands closed bars and quotes to a worker task,
so evaluating strategies never holds up reading the feed: the reader yields to the worker every
`yield_every` messages, and the worker yields back after each `slice_seconds` of work.

Fill models: "bar" fills each rule decision at the price the rules chose (a bar's open or close, or a stop
level), exactly as the backtest kernel does, through `PaperBroker.fill_at`: replaying bars then gives the
backtest's trades. "touch" and "book" send market orders to the broker against the live book; a pending
next_open signal, the stops and the take-profits are then checked on every quote, at its mid price, with
levels re-based on the entry's actual fills. Under every model the rule state follows the ledger: an order
the broker refuses leaves the rules with what the ledger holds (see `_follow_ledger`).

A strategy that raises stops its own instance: its account is marked failed with the error (its file and
line) and the other instances go on.
"""

from __future__ import annotations

import asyncio
import time as wall_clock
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Literal

import numpy as np

from gpt_trader.market.bars import Bars
from gpt_trader.market.buffer import BarBuffer
from gpt_trader.market.events import BarClosed, FeedHealth, MarketEvent, Quote, Side
from gpt_trader.market.granularity import Granularity
from gpt_trader.store.schema import AccountStatus
from gpt_trader.store.writer import StoreWriter
from gpt_trader.strategies import trailing_signal
from gpt_trader.strategies.registry import describe_failure
from gpt_trader.trading.booking import Booker, decimal_of, market_time
from gpt_trader.trading.broker import PaperBroker
from gpt_trader.trading.instance import Instance, InstanceSpec, resolve_strategy
from gpt_trader.trading.money import ZERO
from gpt_trader.trading.orders import Order
from gpt_trader.trading.rules import EXIT_REASONS, Position, flat, refilled, rules_from_params
from gpt_trader.trading.stepper import (
    E_ENTRY,
    E_PHASE,
    E_PRICE,
    E_REASON,
    E_ROW,
    E_SIDE,
    E_UNITS,
    PHASE_OPEN,
    S_CASH,
    S_DRAWDOWN,
    S_PENDING,
    S_UNITS,
    before_of,
    compile_stepper,
    event_buffer,
    new_state,
    position_of,
    step_bar,
    step_close,
    step_quote,
)
from gpt_trader.trading.tape import SignalTape

FillModelName = Literal["bar", "touch", "book"]
FILL_MODELS: tuple[FillModelName, ...] = ("bar", "touch", "book")
DEFAULT_SNAPSHOT_EVERY = 240
"""Bars between two equity snapshots of an account (besides one after each fill and one at the end)."""
_LATENCY_SAMPLES = 100_000
_FLUSH_ROWS = 4096
"""A replay hands its rows to the writer in runs of about this many (live trading, after every decision)."""


@dataclass(frozen=True, slots=True)
class InstanceStatus:
    """One instance as a live table shows it; money in the account's quote currency, the position valued at
    the last close (or quote) and rounded to the quote increment, as its equity snapshots store it."""

    strategy: str
    product_id: str
    params: dict[str, object]
    account: str
    capital: Decimal
    equity: Decimal
    pnl: Decimal
    units: Decimal
    trades: int
    """Entries, an open position included (as the backtest counts trades)."""
    closed_trades: int
    fees: Decimal
    win_rate: float | None
    """Share of closed round trips with a positive net PnL; None before the first closes."""
    max_drawdown: float
    """Deepest fall of the rule equity from its peak, at bar closes and quotes, as a fraction."""
    last_signal: int
    error: str | None

    @property
    def total_return(self) -> float:
        return float(self.pnl / self.capital)


@dataclass(frozen=True, slots=True)
class EngineSummary:
    statuses: list[InstanceStatus]
    bars: int
    """Closed bars the engine stepped (all products)."""
    instance_bars: int
    """Closed bars times the instances that traded them."""
    messages: int
    orders: int
    fills: int
    rejected_orders: int
    latency_p50: float | None
    """Seconds from reading a closed bar or quote to the end of the decisions on it (median, 99th pct)."""
    latency_p99: float | None
    seconds: float
    feed_health: dict[int, FeedHealth] = field(default_factory=dict)


@dataclass(eq=False)
class _Product:
    """One product's buffer and the instances that trade it."""

    buffer: BarBuffer
    members: list[Instance]
    running: list[Instance] = field(default_factory=list)
    rows: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    tape: np.ndarray | None = None
    """Per running member, its tape's signals over the replayed bars (bars × members), when all have one."""
    tape_times: np.ndarray | None = None
    cursor: int = 0
    taped: int = -1
    """Row of the tape the last bar's signals came from (-1: they were evaluated bar by bar, and are kept
    on each instance); the instances' `last_signal` is read from it only when asked, not on every bar."""
    since_snapshot: int = 0
    mark: float = float("nan")
    quote: Quote | None = None


class Engine:
    """Strategy instances trading one feed through `broker`; see the module doc.

    `writer` and `account_ids` (account name -> store account id, from `start_trading_run`) record the run;
    `clock` is the market time the writer stamps rows with, kept by the engine from the events it reads.
    `tape` gives replayed instances their signals (see `SignalTape`); `price_increments` is the grid the
    strategies compute on per product (default: the broker's price increment; pass the backtest bars'
    `price_increment` to replay exactly what a backtest of them computed). `observer(product_id, bar)` is
    called after the decisions on each closed bar (`bar` counts the product's bars from 0). Building an engine
    compiles the rule stepper (`stepper.compile_stepper`; seconds on a cold Numba cache), reported to
    `compile_progress(done, total)`.

    Store rows: orders, fills and round trips as they happen; equity snapshots every `snapshot_every` bars
    of each product and at the end; position state at the end and, in the touch and book models (live
    trading, where a restart resumes from it), after every change; with the bar model (replay) after a
    change only at the next snapshot, which keeps a replay's writes within what the writer commits.
    """

    def __init__(
        self,
        instances: Sequence[InstanceSpec],
        *,
        granularity: Granularity | str,
        broker: PaperBroker,
        fill_model: FillModelName = "bar",
        writer: StoreWriter | None = None,
        session_id: int | None = None,
        account_ids: Mapping[str, int] | None = None,
        clock: Callable[[], float] | None = None,
        tape: SignalTape | None = None,
        price_increments: Mapping[str, float | None] | None = None,
        observer: Callable[[str, int], None] | None = None,
        snapshot_every: int = DEFAULT_SNAPSHOT_EVERY,
        yield_every: int = 64,
        slice_seconds: float = 0.002,
        compile_progress: Callable[[int, int], None] | None = None,
    ) -> None:
        if fill_model not in FILL_MODELS:
            raise ValueError(f"fill model {fill_model!r} is not one of {', '.join(FILL_MODELS)}")
        if not instances:
            raise ValueError("an engine needs at least one strategy instance")
        self.granularity = Granularity.parse(granularity)
        self.broker = broker
        self.fill_model = fill_model
        self.session_id = session_id
        self.snapshot_every = max(1, snapshot_every)
        self.yield_every = max(1, yield_every)
        self.slice_seconds = slice_seconds
        self.market_time = 0.0
        self._clock = clock or (lambda: self.market_time)
        self.feed_health: dict[int, FeedHealth] = {}
        self.instances = [self._open(spec, row) for row, spec in enumerate(instances)]
        compile_stepper(compile_progress)  # here, not on the first bar of the feed
        self._state = new_state(len(self.instances), np.array([float(s.capital) for s in instances]))
        self._params = np.stack([instance.kernel_params for instance in self.instances])
        self._rules = [rules_from_params(instance.kernel_params) for instance in self.instances]
        self._events = event_buffer(len(self.instances))
        self._products: dict[str, _Product] = {}
        increments = dict(price_increments or {})
        for instance in self.instances:
            product_id = instance.spec.product_id
            if product_id not in self._products:
                increment = increments.get(product_id, float(broker.grids[product_id].price_increment))
                buffer = BarBuffer(product_id, self.granularity, price_increment=increment)
                self._products[product_id] = _Product(buffer, [])
            self._products[product_id].members.append(instance)
        self.booker = Booker(
            broker, bar_fills=fill_model == "bar", writer=writer, account_ids=account_ids,
            order_prefix=f"s{session_id}-" if session_id is not None else "",
        )  # fmt: skip
        self._tape = tape
        self._observer = observer
        self._dirty: dict[int, Instance] = {}
        self._granularity_seconds = self.granularity.seconds
        self._bar_fills = fill_model == "bar"
        for product in self._products.values():
            self._regroup(product)
        self._work: deque[tuple[BarClosed | Quote, float]] = deque()
        self._wake = asyncio.Event()
        self._latencies: deque[float] = deque(maxlen=_LATENCY_SAMPLES)
        self._messages = self._bars = self._instance_bars = 0

    # The interface.

    def warm_up(self, history: Mapping[str, Bars]) -> None:
        """Give products the bars before the feed starts, so the first signals see a full window."""
        for product_id, bars in history.items():
            product = self._products.get(product_id)
            if product is None or len(bars) == 0:
                continue
            buffer = BarBuffer.from_bars(replace(bars, price_increment=product.buffer.price_increment))
            product.buffer = buffer
            product.mark = float(bars.close[-1])

    async def run(self, events: AsyncIterator[MarketEvent], stop: asyncio.Event | None = None) -> EngineSummary:
        """Trade `events` until they end or `stop` is set; the final state is recorded before returning."""
        started = wall_clock.perf_counter()
        worker = asyncio.create_task(self._worker())
        read = 0
        try:
            async for event in events:
                self._read(event)
                read += 1
                if read % self.yield_every == 0 and self._work:
                    self._wake.set()
                    await asyncio.sleep(0)
                if stop is not None and stop.is_set():
                    break
        finally:
            self._work.append((_END, 0.0))
            self._wake.set()
            await worker
        self._finish()
        return self.summary(wall_clock.perf_counter() - started)

    def flatten(self, reason: str = "stop") -> list[Order]:
        """Close every open position now: a market order each, through the broker, the ledger and the store
        like any other, at the book (with the bar fill model, at the last mark). A position the book cannot
        take (stale, gapped) stays open with its rule state; its refused order says why. Returns the orders."""
        now = self.market_time
        orders: list[Order] = []
        for product in self._products.values():
            product_id = product.buffer.product_id
            quote = product.quote
            if self._bar_fills and not product.mark > 0.0:
                continue  # no price to close at: the positions and their last snapshots stand
            for instance in product.members:
                units = instance.account.units(product_id)
                if not units:
                    continue
                side = Side.SELL if units > 0 else Side.BUY
                order = self.booker.execute(instance, side, 0.0, False, product.mark, reason, now, quote)
                if order is not None:
                    orders.append(order)
                if instance.account.units(product_id):
                    continue
                self._follow_ledger(instance, False, None)
                self._save(instance, product, now)
                self.booker.snapshot(instance, self._mark(product_id), now)
        self.booker.flush()
        return orders

    def status(self) -> list[InstanceStatus]:
        """Every instance's numbers now: a few Decimal operations each, cheap enough for a live table."""
        for product in self._products.values():
            if product.taped >= 0 and product.tape is not None:
                for instance, signal in zip(product.running, product.tape[product.taped].tolist(), strict=True):
                    instance.last_signal = signal
        return [self._status(instance) for instance in self.instances]

    def position(self, instance: Instance) -> Position:
        """The rule state of `instance`."""
        return position_of(self._state[instance.row])

    def rule_cash(self, instance: Instance) -> float:
        return float(self._state[instance.row, S_CASH])

    def summary(self, seconds: float) -> EngineSummary:
        ordered = sorted(self._latencies)
        return EngineSummary(
            self.status(), self._bars, self._instance_bars, self._messages, self.booker.orders, self.booker.fills,
            self.booker.rejected, _quantile(ordered, 0.5), _quantile(ordered, 0.99), seconds, dict(self.feed_health),
        )  # fmt: skip

    # The reader: bounded work per message.

    def _read(self, event: MarketEvent) -> None:
        self._messages += 1
        if isinstance(event, BarClosed):
            if event.granularity == self._granularity_seconds and event.product_id in self._products:
                self.market_time = max(self.market_time, float(event.end))
                self._work.append((event, wall_clock.perf_counter()))
            return
        if isinstance(event, FeedHealth):
            self.feed_health[event.connection] = event
            writer = self.booker.writer
            if writer is not None:
                writer.record_feed_event(
                    event.kind, {"detail": event.detail}, session_id=self.session_id, connection=event.connection,
                    time=market_time(event.time),
                )  # fmt: skip
            if not self._bar_fills:
                self.broker.on_event(event)
            return
        self.market_time = max(self.market_time, event.time)
        if not self._bar_fills:
            # The engine places market orders only, which fill on arrival, so no event fills one of them.
            self.broker.on_event(event)
        if isinstance(event, Quote):
            product = self._products.get(event.product_id)
            if product is not None:
                product.quote = event
                if not self._bar_fills:
                    self._work.append((event, wall_clock.perf_counter()))

    # The worker: decisions.

    async def _worker(self) -> None:
        work = self._work
        while True:
            if not work:
                self._wake.clear()
                await self._wake.wait()
                continue
            slice_start = wall_clock.perf_counter()
            while work:
                item, read_at = work.popleft()
                if item is _END:
                    return
                if isinstance(item, BarClosed):
                    self._on_bar(item)
                else:
                    self._on_quote(item)
                done = wall_clock.perf_counter()
                self._latencies.append(done - read_at)
                if done - slice_start > self.slice_seconds:
                    break
            await asyncio.sleep(0)

    def _on_bar(self, bar: BarClosed) -> None:
        product = self._products[bar.product_id]
        product.buffer.append(bar)
        if bar.close == bar.close:
            product.mark = bar.close
        rows = product.rows
        index = len(product.buffer) - 1
        count = 0
        if len(rows):
            self._bars += 1
            self._instance_bars += len(rows)
            signals = self._signals(product, bar)
            if self._bar_fills:
                count = step_bar(self._state, product.rows, signals, self._params, index, bar.open, bar.high,
                                 bar.low, bar.close, self._events)  # fmt: skip
            else:
                count = step_close(self._state, product.rows, signals, self._params, index, bar.close, self._events)
            if count:
                self._book(product, count, bar.start, float(bar.end))
        product.since_snapshot += 1
        if product.since_snapshot >= self.snapshot_every:
            product.since_snapshot = 0
            self._snapshot(product)
        if self.booker.queued >= _FLUSH_ROWS or (count and not self._bar_fills):
            self.booker.flush()
        if self._observer is not None:
            self._observer(bar.product_id, index)

    def _on_quote(self, quote: Quote) -> None:
        product = self._products[quote.product_id]
        if not len(product.rows):
            return
        mid = float((quote.bid + quote.ask) / 2)
        index = len(product.buffer)
        count = step_quote(self._state, product.rows, self._params, index, mid, self._events)
        if count:
            self._book(product, count, quote.time, quote.time)
            self.booker.flush()

    def _signals(self, product: _Product, bar: BarClosed) -> np.ndarray:
        tape, times = product.tape, product.tape_times
        if tape is not None and times is not None:
            cursor = product.cursor
            if cursor >= len(times) or times[cursor] != bar.start:
                cursor = int(np.searchsorted(times, bar.start))
            if cursor < len(times) and times[cursor] == bar.start:
                product.cursor = cursor + 1
                product.taped = cursor
                return tape[cursor]
        product.taped = -1
        values: list[int] = []
        failed = False
        for instance in product.running:
            try:
                signal = trailing_signal(instance.strategy, product.buffer.view(instance.lookback), instance.params)
            except Exception as error:  # a user's strategy may raise anything: it stops, the others go on
                self._fail(instance, describe_failure(instance.strategy, error))
                failed = True
                continue
            instance.last_signal = signal
            values.append(signal)
        if failed:
            self._regroup(product)
        return np.array(values, dtype=np.int8)

    def _book(self, product: _Product, count: int, bar_start: float, bar_end: float) -> None:
        """Execute the rule fills of one step and record what changed."""
        quote = product.quote
        if quote is not None and not (quote.bid.is_finite() and quote.ask.is_finite()):
            quote = None
        changed: dict[int, Instance] = {}
        cash_before: dict[int, Decimal] = {}  # ledger cash before a row's last entry order, to re-base on its fills
        unfinished: set[int] = set()  # rows whose exit the broker did not complete: a reversal's entry waits too
        for event in self._events[:count].tolist():
            instance = self.instances[int(event[E_ROW])]
            row = instance.row
            changed[row] = instance
            if row in unfinished:
                continue
            entry = event[E_ENTRY] != 0.0
            now = bar_start if event[E_PHASE] == PHASE_OPEN else bar_end
            reason = "signal" if entry else EXIT_REASONS[int(event[E_REASON])]
            side = Side.BUY if event[E_SIDE] > 0 else Side.SELL
            if entry:
                cash_before[row] = instance.account.cash
            self.booker.execute(instance, side, event[E_UNITS], entry, event[E_PRICE], reason, now, quote)
            if not entry and instance.account.units(product.buffer.product_id):
                unfinished.add(row)
        for row, instance in changed.items():
            self._follow_ledger(instance, row in unfinished, cash_before.get(row))
        if self._bar_fills:
            self._dirty.update(changed)
            return
        for instance in changed.values():
            self._save(instance, product, bar_end)

    def _follow_ledger(self, instance: Instance, exit_unfinished: bool, cash_before: Decimal | None) -> None:
        """Bring the rule state of `instance` to what its ledger holds after the broker executed the rules' fills.

        A refused entry leaves the ledger flat: so are the rules. An exit the broker did not complete (a
        stale or gapped book, or part of the size) leaves the position open: the rules hold it again, as it
        was before the step, with the units left, so its stops are checked on the next price. With the
        touch and book fill models an entry fills at the book: the rules take its units, average price and
        fee, and re-base the stop levels and trailing extreme on that fill, and the rule cash is the
        ledger's. With the bar fill model the ledger follows the rules' prices, so a filled order leaves the
        rule state as the backtest has it.
        """
        row = self._state[instance.row]
        units = float(row[S_UNITS])
        held = instance.account.units(instance.spec.product_id)
        if not held:
            if units != 0.0 or not self._bar_fills:
                # Numba's own Python source: a compiled call from Python converts its NamedTuple result slowly.
                self._set_rule_state(instance, flat.py_func(int(row[S_PENDING])), float(instance.account.cash))
            return
        same_side = units != 0.0 and (units > 0.0) == (held > 0)
        if same_side and not exit_unfinished and (self._bar_fills or cash_before is None):
            return  # the rules' fills went through as they decided them
        rule, cash = position_of(row), float(instance.account.cash)
        rules = self._rules[instance.row]
        trip = instance.account.positions[instance.spec.product_id].trip
        assert trip is not None, "an open position always has its open trip"
        # The average price of the fills that opened it (the cost per unit drifts with a partial exit's rounding).
        entry_price, fee = float(trip.entry_value / trip.size), float(trip.fees)
        if same_side and not exit_unfinished and cash_before is not None:
            rebased = refilled(rule, float(held), entry_price, fee, float(cash_before), rules)
            self._set_rule_state(instance, rebased, cash)
            return
        before, _ = before_of(row)
        if before.units != 0.0 and (before.units > 0.0) == (held > 0):
            kept = before._replace(units=float(held), pending=rule.pending)
        else:  # it opened within the step that failed to close it: what the ledger holds is all there is
            kept = refilled(rule, float(held), entry_price, fee, cash, rules)
        self._set_rule_state(instance, kept, cash)

    def _set_rule_state(self, instance: Instance, position: Position, cash: float) -> None:
        row = self._state[instance.row]
        row[: len(position)] = position
        row[S_CASH] = cash

    def _snapshot(self, product: _Product) -> None:
        """Equity of each running member now, and the position state of those that traded since the last."""
        mark = self._mark(product.buffer.product_id)
        for instance in product.running:
            self.booker.snapshot(instance, mark, self.market_time)
            if self._dirty.pop(instance.row, None) is not None:
                self._save(instance, product, self.market_time)

    def _save(self, instance: Instance, product: _Product, now: float) -> None:
        last = product.buffer.last_start
        self.booker.position_state(instance, self.position(instance), None if last is None else float(last), now)

    # Bookkeeping.

    def _open(self, spec: InstanceSpec, row: int) -> Instance:
        strategy, params, lookback = resolve_strategy(spec)
        if spec.product_id not in self.broker.grids:
            known = ", ".join(sorted(self.broker.grids))
            raise ValueError(f"{spec.product_id} has no grid in the broker; it trades {known}")
        account = self.broker.open_account(
            spec.account, spec.capital, fee_schedule=spec.fee_schedule, allow_short=spec.settings.allow_short
        )
        return Instance(spec, strategy, params, row, lookback, account,
                        kernel_params=spec.rule_settings.kernel_params())  # fmt: skip

    def _regroup(self, product: _Product) -> None:
        running = [instance for instance in product.members if instance.running]
        product.rows = np.array([instance.row for instance in running], dtype=np.int64)
        product.running = running
        product.tape = product.tape_times = None
        product.taped = -1
        tape = self._tape
        if tape is None or not running:
            return
        found = [tape.signals_of(instance.spec.account) for instance in running]
        columns = [column for column in found if column is not None]
        times = tape.times_of(product.buffer.product_id)
        if times is None or len(columns) < len(running):
            return
        product.tape = np.ascontiguousarray(np.stack(columns, axis=1))
        product.tape_times = times

    def _fail(self, instance: Instance, error: str) -> None:
        instance.error = error
        self.booker.status(instance, AccountStatus.FAILED, error)

    def _mark(self, product_id: str) -> Decimal:
        mark = self._products[product_id].mark
        return decimal_of(mark) if mark == mark else ZERO

    def _finish(self) -> None:
        for product in self._products.values():
            mark = self._mark(product.buffer.product_id)
            for instance in product.members:
                self._save(instance, product, self.market_time)
                self.booker.snapshot(instance, mark, self.market_time)
                if instance.running:
                    self.booker.status(instance, AccountStatus.STOPPED)
        self._dirty.clear()
        self.booker.flush()

    def _status(self, instance: Instance) -> InstanceStatus:
        account, product_id = instance.account, instance.spec.product_id
        units = account.units(product_id)
        value = self.broker.grids[product_id].quote_amount(units * self._mark(product_id)) if units else ZERO
        equity = account.cash + value
        trips = account.round_trips
        wins = sum(1 for trip in trips if trip.net_pnl > 0)
        return InstanceStatus(
            instance.strategy.name, product_id, dict(instance.params), account.account_id, account.start_cash,
            equity, equity - account.start_cash, units, len(trips) + (1 if units else 0), len(trips), account.fees,
            wins / len(trips) if trips else None, float(self._state[instance.row, S_DRAWDOWN]),
            instance.last_signal, instance.error,
        )  # fmt: skip


_END = BarClosed("", 0, 0, 0.0, 0.0, 0.0, 0.0, 0.0)
"""Queued after the feed's last event: the worker stops there."""


def _quantile(ordered: list[float], q: float) -> float | None:
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

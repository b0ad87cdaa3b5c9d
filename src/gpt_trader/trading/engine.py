"""The event engine: one feed, many strategy instances, the shared position rules, the broker, the store.

    feed events ──reader──> broker books, feed health, bar buffers ──per-product work──> worker: each
    group of instances, in turn, one step: a closed bar's signal (`Strategy.signals` on the trailing
    window, or a signal tape in a replay) -> the position rules for the group's instances in one compiled
    step -> orders on the broker (a bounded run of them per step) -> the ledger -> the store (through the
    `StoreWriter`); or a quote's stops, take-profits and pending next-open entries the same way

Scheduling. A product's running instances form groups that share one signal per bar: the instances of one
strategy with the same parameters (so 100 instances of five configurations cost five evaluations a bar), or,
replaying a signal tape, all of them. Each group takes its product's closed bars and quotes in feed order,
so every instance sees the events of its product in the order they came and decides exactly as a serial
engine would; groups go at their own pace. The worker steps the groups with work round-robin, one bounded
step each (one signal evaluation and the compiled rule step, or one run of bookings), and every quote that
can be decided goes first: a quote waits only for its own instances' earlier messages, the quotes ahead of
it and the one step under way (a slow strategy's evaluation included), and a closed bar with many trades is
booked in runs with the quotes read meanwhile between them. Every evaluation goes before the next run of
bookings, and a group keeps its turn until its fills are booked: when the bars of several products close
together, a product whose instances trade nothing on its bar is decided without waiting for the others'
fills, one product's bookings end before the next one's begin, and its quotes wait for its own bookings,
not for everyone's. A group decides a closed bar once every group has decided the product's earlier
messages, so snapshots and the observer see all its instances right after the bar. The reader does a
bounded amount of work per message and yields to the worker after any message while quotes wait (else every
`yield_every` messages); the worker yields back after each `slice_seconds` of work. One step still runs on
the event loop's thread: a strategy that takes seconds on one bar holds the engine's reader that long, though
not the live feed's socket, which is read in a thread of its own (`market/feed_thread.py`).

Latency is measured per message from the moment it was read (by a live feed's reader thread, see
`market/arrival.py`; else when the engine's reader takes it; at the earliest when `run` began) to the end
of the decisions on it by every group of its product (a closed bar's snapshot and observer included), for
closed bars and quotes apart (`EngineSummary.latency`).

Fill models: "bar" fills each rule decision at the price the rules chose (a bar's open or close, or a stop
level), exactly as the backtest kernel does, through `PaperBroker.fill_at`: replaying bars then gives the
backtest's trades. "touch" and "book" send market orders to the broker against the live book; a pending
next_open signal, the stops and the take-profits are then checked on every quote, at its mid price, with
levels re-based on the entry's actual fills. Under every model the rule state follows the ledger: an order
the broker refuses leaves the rules with what the ledger holds (see `_follow_ledger`).

A strategy that raises stops the instances running it with those parameters (they share one evaluation):
each account is marked failed with the error (its file and line) and the other instances go on.
"""

from __future__ import annotations

import asyncio
import time as wall_clock
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Literal, TypeAlias

import numpy as np

from gpt_trader.market import arrival
from gpt_trader.market.bars import Bars
from gpt_trader.market.buffer import BarBuffer
from gpt_trader.market.events import BarClosed, BookUpdate, FeedHealth, MarketEvent, Quote, Side, Trade
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
from gpt_trader.trading.rules import EXIT_REASONS, Position, flat, python_source, refilled, rules_from_params
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
_FLUSH_SECONDS = 1.0
"""...or after this much wall time, whichever comes first, so a paced replay shows on the monitors as it runs."""
_BOOKINGS_PER_STEP = 8
"""Rule fills a group books in one step of the worker; the rest wait for its next turn."""
MessageKind: TypeAlias = Literal["bar", "quote"]


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
class Latency:
    """Seconds from reading messages of one kind to the end of the decisions on them."""

    count: int
    p50: float
    p99: float
    max: float

    @classmethod
    def of(cls, samples: Sequence[float]) -> Latency | None:
        if not samples:
            return None
        ordered = sorted(samples)
        return cls(len(ordered), ordered[len(ordered) // 2], ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))],
                   ordered[-1])  # fmt: skip


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
    latency: dict[MessageKind, Latency | None] = field(default_factory=dict)
    """The same per kind of message ("bar", "quote"), with the count and the maximum (the last
    `_LATENCY_SAMPLES` messages of each kind)."""
    cpu_latency: dict[MessageKind, Latency | None] = field(default_factory=dict)
    """The CPU seconds this process spent over the same spans: the latency if it had a core of its own."""


@dataclass(eq=False, slots=True)
class _Work:
    """A closed bar or a quote of one product, on its way through the product's groups."""

    message: BarClosed | Quote
    kind: MessageKind
    read_at: float
    index: int
    """A bar's row in the product's buffer; for a quote, the row the next bar will take."""
    waiting: int
    """Groups that have not decided on it yet."""
    mid: float = float("nan")
    read_cpu: float = 0.0
    quote: Quote | None = None
    """The product's quote when the message was read (a quote's own), which its fills record: the reader runs
    ahead of the decisions, so the product's latest quote may be a later one."""


@dataclass(eq=False, slots=True)
class _Product:
    """One product's buffer, the instances that trade it, and its bars and quotes still being decided."""

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
    groups: list[_Group] = field(default_factory=list)
    log: deque[_Work] = field(default_factory=deque)
    """Bars and quotes read and not yet decided by every group, oldest first."""
    first_seq: int = 0
    """Sequence number of `log[0]` (the product's messages are numbered as read)."""
    next_seq: int = 0


@dataclass(eq=False, slots=True)
class _Group:
    """Running instances of one product that share their signals (see the module doc), and where they
    are in the product's work."""

    key: object
    product: _Product
    cursor: int
    """Sequence number of the next bar or quote the group decides on."""
    through: int
    """Rows of the product's buffer its instances' rule state has taken in."""
    members: list[Instance] = field(default_factory=list)
    rows: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    evaluations: list[tuple[Instance, np.ndarray]] = field(default_factory=list)
    """One member per distinct strategy and parameters, and the positions of the members sharing its signal."""
    fills: list[list[float]] = field(default_factory=list)
    """Rule fills of the current bar or quote still to book, and their times (open, close)."""
    fill_times: tuple[float, float] = (0.0, 0.0)
    fill_quote: Quote | None = None
    queued: bool = False
    parked: bool = False
    """Waiting at a closed bar for the other groups to decide on the product's earlier messages."""
    retired: bool = False

    def assign(self, members: list[Instance]) -> None:
        self.members = members
        self.rows = np.array([instance.row for instance in members], dtype=np.int64)
        shared: dict[object, list[int]] = {}
        for position, instance in enumerate(members):
            shared.setdefault(_signal_key(instance), []).append(position)
        self.evaluations = [(members[positions[0]], np.array(positions)) for positions in shared.values()]


_TAPED = "tape"
"""The key of a product's one group while a signal tape gives all its running instances their signals."""


def _signal_key(instance: Instance) -> object:
    """Instances with equal keys compute equal signals on the same bars."""
    return instance.spec.strategy, type(instance.strategy), repr(sorted(instance.params.items()))


class Engine:
    """Strategy instances trading one feed through `broker`; see the module doc.

    `writer` and `account_ids` (account name -> store account id, from `start_trading_run`) record the run;
    `tape` gives replayed instances their signals (see `SignalTape`); `price_increments` is the grid the
    strategies compute on per product (default: the broker's price increment; pass the backtest bars'
    `price_increment` to replay exactly what a backtest of them computed). `observer(product_id, bar)` is
    called after the decisions on each closed bar (`bar` counts the product's bars from 0). `booker` makes the
    `Booker` that executes the rules' fills (a live session's sends them to the exchange). Building an engine
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
        tape: SignalTape | None = None,
        price_increments: Mapping[str, float | None] | None = None,
        observer: Callable[[str, int], None] | None = None,
        snapshot_every: int = DEFAULT_SNAPSHOT_EVERY,
        yield_every: int = 64,
        slice_seconds: float = 0.002,
        compile_progress: Callable[[int, int], None] | None = None,
        booker: Callable[..., Booker] = Booker,
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
        self.booker = booker(
            broker, bar_fills=fill_model == "bar", writer=writer, account_ids=account_ids,
            order_prefix=f"s{session_id}-" if session_id is not None else "",
        )  # fmt: skip
        self._tape = tape
        self._observer = observer
        self._dirty: dict[int, Instance] = {}
        self._flushed_at = wall_clock.perf_counter()
        self._granularity_seconds = self.granularity.seconds
        self._bar_fills = fill_model == "bar"
        self._group_of: dict[int, _Group] = {}
        self._quick: deque[_Group] = deque()
        """Groups whose next step is deciding on a quote (a compiled step on a price), in the order they came."""
        self._deciding: deque[_Group] = deque()
        """Groups whose next step evaluates a strategy on a closed bar, taking turns."""
        self._booking: deque[_Group] = deque()
        """Groups whose next step books a run of fills: the one booking keeps its turn to the end of them."""
        self._ended = False
        self.decided = dict.fromkeys(self._products, 0)
        """Per product, the closed bars and quotes read so far that every instance trading it has decided on."""
        self._wake = asyncio.Event()
        self._latencies: dict[MessageKind, deque[float]] = {
            kind: deque(maxlen=_LATENCY_SAMPLES) for kind in ("bar", "quote")
        }
        self._cpu_latencies: dict[MessageKind, deque[float]] = {
            kind: deque(maxlen=_LATENCY_SAMPLES) for kind in ("bar", "quote")
        }
        self._messages = self._bars = self._instance_bars = 0
        self._run_started: arrival.ReadMoment = (0.0, 0.0)
        """When `run` began: the latency of a message read before it counts from then, not from the warm-up."""
        for product in self._products.values():
            self._regroup(product)

    # The interface.

    def warm_up(self, history: Mapping[str, Bars]) -> None:
        """Give products the bars before the feed starts, so the first signals see a full window. Each
        instance's `last_signal` becomes its signal at the end of them (a strategy that raises there stops
        as it would on a live bar), which also loads the strategies' compiled code before the feed starts."""
        for product_id, bars in history.items():
            product = self._products.get(product_id)
            if product is None or len(bars) == 0:
                continue
            buffer = BarBuffer.from_bars(replace(bars, price_increment=product.buffer.price_increment))
            product.buffer = buffer
            product.mark = float(bars.close[-1])
            for group in product.groups:
                group.through = len(buffer)
            if product.tape is None:
                for group in list(product.groups):
                    if not group.retired:
                        self._evaluate(group, len(buffer))

    async def run(self, events: AsyncIterator[MarketEvent], stop: asyncio.Event | None = None) -> EngineSummary:
        """Trade `events` until they end or `stop` is set; the final state is recorded before returning."""
        started = wall_clock.perf_counter()
        self._run_started = arrival.now()
        self._load_steppers()
        worker = asyncio.create_task(self._worker())
        read = 0
        try:
            async for event in events:
                self._read(event)
                read += 1
                if self._quick or (read % self.yield_every == 0 and (self._deciding or self._booking)):
                    self._wake.set()
                    await asyncio.sleep(0)
                if stop is not None and stop.is_set():
                    break
        finally:
            self._ended = True
            self._wake.set()
            await worker
        self._finish()
        return self.summary(wall_clock.perf_counter() - started)

    def flatten(self, reason: str = "stop", instances: Iterable[Instance] | None = None) -> list[Order]:
        """Close every open position now (or those of `instances`): a market order each, through the broker,
        the ledger and the store like any other, at the book (with the bar fill model, at the last mark). A
        position the book cannot take in full (too thin, stale, gapped) stays open with its rule state; its
        order says why (`trading/close_out.py` tries again on later books). Returns the orders."""
        now = self.market_time
        orders: list[Order] = []
        for instance in self.holding() if instances is None else instances:
            product_id = instance.spec.product_id
            product = self._products[product_id]
            if not instance.account.units(product_id) or (self._bar_fills and not product.mark > 0.0):
                continue  # nothing held, or no price to close at: the position and its last snapshot stand
            order = self.booker.execute(instance, self.closing_side(instance), 0.0, False, product.mark, reason, now,
                                        product.quote)  # fmt: skip
            if order is not None:
                orders.append(order)
            if instance.account.units(product_id):
                continue
            self._follow_ledger(instance, False, None)
            self._save(instance, product, now)
            self.booker.snapshot(instance, self._mark(product_id), now)
        self.booker.flush()
        return orders

    def holding(self) -> list[Instance]:
        """The instances trading now (not retired) whose accounts hold units of their product."""
        return [instance for product in self._products.values() for instance in product.members
                if instance.account.units(product.buffer.product_id)]  # fmt: skip

    @staticmethod
    def closing_side(instance: Instance) -> Side:
        """The side of the order that closes the instance's position."""
        return Side.SELL if instance.account.units(instance.spec.product_id) > 0 else Side.BUY

    def follow(self, event: MarketEvent) -> None:
        """Take in `event` as the market and decide nothing on it: the broker's book, the quotes, the feed's
        health and the market time (after `run`, while the orders of `flatten` wait for a book to take them)."""
        if not isinstance(event, BarClosed):
            self._take_market(event)

    def add_instance(self, spec: InstanceSpec, account_id: int | None = None, history: Bars | None = None) -> Instance:
        """Trade `spec` from the next bar on (a rotation starting a candidate mid-run), recorded under store
        account `account_id`; `history` warms its product's buffer when the engine did not trade it yet."""
        instance = self._open(spec, len(self.instances))
        self.instances.append(instance)
        self._state = np.vstack([self._state, new_state(1, np.array([float(spec.capital)]))])
        self._params = np.vstack([self._params, instance.kernel_params[np.newaxis, :]])
        self._rules.append(rules_from_params(instance.kernel_params))
        self._events = event_buffer(len(self.instances))
        if account_id is not None:
            self.booker.account_ids[spec.account] = account_id
        product = self._products.get(spec.product_id)
        new_product = product is None
        if product is None:
            increment = float(self.broker.grids[spec.product_id].price_increment)
            buffer = BarBuffer(spec.product_id, self.granularity, price_increment=increment)
            product = self._products[spec.product_id] = _Product(buffer, [])
            self.decided[spec.product_id] = 0
        product.members.append(instance)
        self._regroup(product)
        if new_product and history is not None:
            self.warm_up({spec.product_id: history})
        return instance

    def retire(self, instance: Instance) -> None:
        """Stop trading `instance` (a rotation retired it), recording its position state, equity and status
        as the end of a run does; its record stays in `instances` for the status."""
        product = self._products[instance.spec.product_id]
        if instance not in product.members:
            return
        self._save(instance, product, self.market_time)
        self.booker.snapshot(instance, self._mark(instance.spec.product_id), self.market_time)
        if instance.running:
            self.booker.status(instance, AccountStatus.STOPPED)
        self._dirty.pop(instance.row, None)
        product.members.remove(instance)
        self._regroup(product)

    async def drained(self) -> None:
        """Return once every event handed to the engine so far has been decided on (await it from the feed's
        side of `run`, between two events: then instances may be added or retired)."""
        while self._quick or self._deciding or self._booking:
            self._wake.set()
            await asyncio.sleep(0)

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
        ordered = sorted([*self._latencies["bar"], *self._latencies["quote"]])
        by_kind: dict[MessageKind, Latency | None] = {
            kind: Latency.of(samples) for kind, samples in self._latencies.items()
        }
        cpu: dict[MessageKind, Latency | None] = {
            kind: Latency.of(samples) for kind, samples in self._cpu_latencies.items()
        }
        return EngineSummary(
            self.status(), self._bars, self._instance_bars, self._messages, self.booker.orders, self.booker.fills,
            self.booker.rejected, _quantile(ordered, 0.5), _quantile(ordered, 0.99), seconds, dict(self.feed_health),
            by_kind, cpu,
        )  # fmt: skip

    def _load_steppers(self) -> None:
        """Compile (or load from Numba's cache) the rule steps this fill model runs, on no instances, so that
        the first bar or quote does not wait for it."""
        none, signals = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int8)
        if self._bar_fills:
            step_bar(self._state, none, signals, self._params, 0, 0.0, 0.0, 0.0, 0.0, self._events)
        else:
            step_close(self._state, none, signals, self._params, 0, 0.0, self._events)
            step_quote(self._state, none, self._params, 0, 0.0, self._events)

    # The reader: bounded work per message.

    def _read(self, event: MarketEvent) -> None:
        self._messages += 1
        if isinstance(event, BarClosed):
            product = self._products.get(event.product_id)
            if event.granularity == self._granularity_seconds and product is not None:
                self.market_time = max(self.market_time, float(event.end))
                # Appended now, read by each group as the buffer stood after it (`view(end=...)`).
                product.buffer.append(event)
                self._enqueue(product, _Work(event, "bar", 0.0, len(product.buffer) - 1, 0, quote=product.quote))
            return
        product = self._take_market(event)
        if product is not None and product.groups and not self._bar_fills:
            assert isinstance(event, Quote)
            mid = float((event.bid + event.ask) / 2)
            self._enqueue(product, _Work(event, "quote", 0.0, len(product.buffer), 0, mid, quote=event))

    def _take_market(self, event: Trade | Quote | BookUpdate | FeedHealth) -> _Product | None:
        """The market side of reading any event but a closed bar: the feed's health, the market time, the
        broker's book, the product's quote. Returns the product a quote is for (None for other events)."""
        if isinstance(event, FeedHealth):
            self._health(event)
            return None
        self.market_time = max(self.market_time, event.time)
        if not self._bar_fills:
            # The engine places market orders only, which fill on arrival, so no event fills one of them.
            self.broker.on_event(event)
        if not isinstance(event, Quote):
            return None
        product = self._products.get(event.product_id)
        if product is not None:
            product.quote = event
        return product

    def _health(self, event: FeedHealth) -> None:
        self.feed_health[event.connection] = event
        writer = self.booker.writer
        if writer is not None:
            writer.record_feed_event(
                event.kind, {"detail": event.detail}, session_id=self.session_id, connection=event.connection,
                time=market_time(event.time),
            )  # fmt: skip
        if not self._bar_fills:
            self.broker.on_event(event)

    def _enqueue(self, product: _Product, work: _Work) -> None:
        """`work` joins the product's log and each of its groups takes a turn for it."""
        read = arrival.read_moment()
        work.read_at = wall_clock.perf_counter() if read is None else max(read[0], self._run_started[0])
        if not self._bar_fills:  # a replay's CPU per message is its whole run's: only live feeds are sampled
            work.read_cpu = wall_clock.process_time() if read is None else max(read[1], self._run_started[1])
        groups = product.groups
        work.waiting = len(groups)
        product.log.append(work)
        product.next_seq += 1
        if not groups:
            self._complete(product)
            return
        if work.kind == "bar":
            self._bars += 1
        if not self._wake.is_set():
            self._wake.set()
        for group in groups:
            self._queue(group)

    def _queue(self, group: _Group, booking: bool = False) -> None:
        """Give the group a turn if it has work it may do now; one `booking` its fills keeps its turn."""
        if group.queued or group.parked or group.retired:
            return
        product = group.product
        if group.fills:
            (self._booking.appendleft if booking else self._booking.append)(group)
        elif group.cursor < product.next_seq:
            quote = product.log[group.cursor - product.first_seq].kind == "quote"
            (self._quick if quote else self._deciding).append(group)
        else:
            return
        group.queued = True

    # The worker: decisions.

    async def _worker(self) -> None:
        quick, deciding, booking = self._quick, self._deciding, self._booking
        while True:
            if not (quick or deciding or booking):
                if self._ended:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            slice_start = wall_clock.perf_counter()
            while quick or deciding or booking:
                # Every quote that can be decided goes before the next strategy evaluation, and every
                # evaluation before the next run of bookings.
                group = (quick or deciding or booking).popleft()
                group.queued = False
                if group.retired:
                    continue
                self._queue(group, booking=self._step(group))
                if wall_clock.perf_counter() - slice_start > self.slice_seconds:
                    break
            await asyncio.sleep(0)

    def _step(self, group: _Group) -> bool:
        """One bounded piece of the group's work: decide on its next bar or quote, or book a run of fills
        (a quote's at once). True if it booked some."""
        product = group.product
        if not group.fills:
            work = product.log[group.cursor - product.first_seq]
            if work.kind == "bar":
                if group.cursor != product.first_seq:
                    group.parked = True  # until the product's earlier messages are decided by every group
                    return False
                if not self._on_bar(group, work) or group.fills:
                    return False  # its fills wait for the evaluations of the bars that closed with this one
            else:
                self._on_quote(group, work)
        booked = bool(group.fills)
        if booked:
            fills = group.fills
            cut = min(_BOOKINGS_PER_STEP, len(fills))
            while cut < len(fills) and fills[cut][E_ROW] == fills[cut - 1][E_ROW]:
                cut += 1  # an instance's fills of one step are booked together: the ledger is followed after them
            run, group.fills = fills[:cut], fills[cut:]
            self._book(group, run, *group.fill_times)
            if not self._bar_fills:
                self.booker.flush()
            if group.fills:
                return True
        work = product.log[group.cursor - product.first_seq]
        group.cursor += 1
        work.waiting -= 1
        if work.waiting <= 0:
            self._complete(product)
        return booked

    def _on_bar(self, group: _Group, work: _Work) -> bool:
        """The rule step of the group's instances on a closed bar; False if they all failed on it."""
        signals = self._signals(group, work)
        if signals is None:
            return False
        bar = work.message
        assert isinstance(bar, BarClosed)
        self._instance_bars += len(group.rows)
        group.through = work.index + 1
        if self._bar_fills:
            count = step_bar(self._state, group.rows, signals, self._params, work.index, bar.open, bar.high,
                             bar.low, bar.close, self._events)  # fmt: skip
        else:
            count = step_close(self._state, group.rows, signals, self._params, work.index, bar.close, self._events)
        if count:
            group.fills = self._events[:count].tolist()
            group.fill_times = (bar.start, float(bar.end))
            group.fill_quote = work.quote
        return True

    def _on_quote(self, group: _Group, work: _Work) -> None:
        count = step_quote(self._state, group.rows, self._params, work.index, work.mid, self._events)
        if count:
            quote = work.message
            assert isinstance(quote, Quote)
            group.fills = self._events[:count].tolist()
            group.fill_times = (quote.time, quote.time)
            group.fill_quote = quote

    def _complete(self, product: _Product) -> None:
        """Finish the product's oldest messages that every group has decided on."""
        log = product.log
        while log and log[0].waiting <= 0:
            work = log.popleft()
            product.first_seq += 1
            self.decided[product.buffer.product_id] += 1
            if work.kind == "bar":
                self._bar_decided(product, work)
            self._latencies[work.kind].append(wall_clock.perf_counter() - work.read_at)
            if not self._bar_fills:
                self._cpu_latencies[work.kind].append(wall_clock.process_time() - work.read_cpu)
        if log and log[0].kind == "bar":
            for group in product.groups:
                if group.parked and group.cursor == product.first_seq:
                    group.parked = False
                    self._queue(group)

    def _bar_decided(self, product: _Product, work: _Work) -> None:
        bar = work.message
        assert isinstance(bar, BarClosed)
        if bar.close == bar.close:
            product.mark = bar.close
        product.since_snapshot += 1
        if product.since_snapshot >= self.snapshot_every:
            product.since_snapshot = 0
            self._snapshot(product, float(bar.end))
        queued = self.booker.queued
        if queued and (queued >= _FLUSH_ROWS or not self._bar_fills or self._flush_due()):
            self.booker.flush()
            self._flushed_at = wall_clock.perf_counter()
        if self._observer is not None:
            self._observer(bar.product_id, work.index)

    def _signals(self, group: _Group, work: _Work) -> np.ndarray | None:
        """The signals of the group's members on the bar of `work`: the tape's, or each distinct strategy and
        parameters once, on its trailing window as the buffer stood then. A strategy that raises stops the
        instances running it; None when that was all of the group."""
        product, bar = group.product, work.message
        assert isinstance(bar, BarClosed)
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
        return self._evaluate(group, work.index + 1)

    def _evaluate(self, group: _Group, end: int) -> np.ndarray | None:
        """The signals of the group's members at the bar `end - 1` of their product's buffer; see `_signals`."""
        product, members = group.product, group.members
        signals = np.zeros(len(members), dtype=np.int8)
        failed: list[Instance] = []
        for first, positions in group.evaluations:
            window = product.buffer.view(first.lookback, end=end)
            try:
                signal = trailing_signal(first.strategy, window, first.params)
            except Exception as error:  # a user's strategy may raise anything: it stops, the others go on
                failure = describe_failure(first.strategy, error)
                for position in positions.tolist():
                    failed.append(members[position])
                    self._fail(members[position], failure)
                continue
            signals[positions] = signal
            for position in positions.tolist():
                members[position].last_signal = signal
        if not failed:
            return signals
        kept = [position for position, instance in enumerate(members) if instance.running]
        self._regroup(product)
        return None if group.retired else signals[kept]

    def _book(self, group: _Group, fills: list[list[float]], bar_start: float, bar_end: float) -> None:
        """Execute rule fills of the group and record what changed."""
        product = group.product
        # Bar fills record the quote of their bar; the book fill models trade the broker's book as it is now.
        quote = group.fill_quote if self._bar_fills else product.quote
        if quote is not None and not (quote.bid.is_finite() and quote.ask.is_finite()):
            quote = None
        changed: dict[int, Instance] = {}
        cash_before: dict[int, Decimal] = {}  # ledger cash before a row's last entry order, to re-base on its fills
        unfinished: set[int] = set()  # rows whose exit the broker did not complete: a reversal's entry waits too
        for event in fills:
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
                self._set_rule_state(instance, python_source(flat)(int(row[S_PENDING])), float(instance.account.cash))
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

    def _flush_due(self) -> bool:
        """A paced replay's rows reach the store at least every `_FLUSH_SECONDS` of wall time, for the monitors."""
        return wall_clock.perf_counter() - self._flushed_at >= _FLUSH_SECONDS

    def _snapshot(self, product: _Product, time: float) -> None:
        """Equity of each running member at `time` (the end of the bar just decided: the reader's market time
        may be ahead), and the position state of those that traded since the last."""
        mark = self._mark(product.buffer.product_id)
        for instance in product.running:
            self.booker.snapshot(instance, mark, time)
            if self._dirty.pop(instance.row, None) is not None:
                self._save(instance, product, time)

    def _save(self, instance: Instance, product: _Product, now: float) -> None:
        """The position state of `instance`, with the last bar its rule state has taken in."""
        group = self._group_of.get(instance.row)
        last = product.buffer.start_before(group.through if group is not None else None)
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
        self._tape_of(product)
        self._group(product)

    def _tape_of(self, product: _Product) -> None:
        tape, running = self._tape, product.running
        if tape is None or not running:
            return
        found = [tape.signals_of(instance.spec.account) for instance in running]
        columns = [column for column in found if column is not None]
        times = tape.times_of(product.buffer.product_id)
        if times is None or len(columns) < len(running):
            return
        product.tape = np.ascontiguousarray(np.stack(columns, axis=1))
        product.tape_times = times

    def _group(self, product: _Product) -> None:
        """Split the product's running instances into groups (see the module doc). A group that stays keeps
        its place in the product's work; a new one starts where its instances were (or at the next message)."""
        keyed: dict[object, list[Instance]] = {}
        for instance in product.running:
            keyed.setdefault(_TAPED if product.tape is not None else _signal_key(instance), []).append(instance)
        was = {instance.row: group for group in product.groups for instance in group.members}
        old = {group.key: group for group in product.groups}
        groups: list[_Group] = []
        for key, members in keyed.items():
            group = old.pop(key, None)
            if group is None:
                before = [was[instance.row] for instance in members if instance.row in was]
                start = min(before, key=lambda other: other.cursor) if before else None
                group = _Group(key, product, product.next_seq if start is None else start.cursor,
                               len(product.buffer) if start is None else start.through)  # fmt: skip
            group.assign(members)
            groups.append(group)
        for gone in old.values():
            gone.retired = True
            gone.fills = []
        for instance in product.members:
            self._group_of.pop(instance.row, None)
        for group in groups:
            self._group_of.update((instance.row, group) for instance in group.members)
        product.groups = groups
        for offset, work in enumerate(product.log):
            work.waiting = sum(1 for group in groups if group.cursor <= product.first_seq + offset)
        for group in groups:
            self._queue(group)
        self._complete(product)

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


def _quantile(ordered: list[float], q: float) -> float | None:
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

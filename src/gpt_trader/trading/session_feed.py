"""A session on a live feed (the sandbox's WebSocket, or Coinbase): the paper engine of `gpt-trader paper`,
with rotations starting and retiring its instances, and crash resume.

The engine trades closed bars with the bar fill model, the backtest's fills, which is also what each
rotation compares an account with. Its bars come, in order per product, from two places: the feed's own
bars as they close, and the venue's REST candles for every bar the process did not see whole (those before
it connected, the one forming when it connected, and any a gap hid). A rotation at market time T waits
until every product has traded its bars before T, so it sees the same record whatever the feed's timing.

Resume (`session resume ID` after kill -9) re-trades the session from its start: the candles and the
stored rotation decisions give back every instance's state, and `restore.SessionWriter` keeps the record
exact (see `restore`). A graceful stop leaves the accounts as they are, so a resume carries on the same way.

A live session (`live = true` and `--live`: a `guard`) trades the same way, but its engine's orders go to
the exchange through `live_booking.LiveBooker`, after the store has been reconciled with the exchange.
"""

from __future__ import annotations

import asyncio
import time as wall_clock
from collections.abc import AsyncIterator
from datetime import datetime
from decimal import Decimal
from functools import partial
from typing import Any

from gpt_trader.config import load_settings
from gpt_trader.market.bars import Bars
from gpt_trader.market.events import BarClosed, FeedHealth, MarketEvent
from gpt_trader.market.granularity import Granularity
from gpt_trader.store.schema import Account, RunStatus
from gpt_trader.trading.booking import Booker
from gpt_trader.trading.broker import PaperBroker
from gpt_trader.trading.engine import Engine
from gpt_trader.trading.fills import TOUCH
from gpt_trader.trading.instance import InstanceSpec, resolve_strategy
from gpt_trader.trading.live import LiveFeed, feed_endpoints, fetch_venue_grids
from gpt_trader.trading.live_booking import LiveBooker, LiveOrders
from gpt_trader.trading.live_guard import LiveGuard
from gpt_trader.trading.restore import SessionWriter
from gpt_trader.trading.session import Schedule, SessionRunner, killed
from gpt_trader.trading.session_file import Candidate
from gpt_trader.trading.session_replay import SNAPSHOT_SECONDS, market_time

FRESH_BARS = 3
"""A live session sends the orders decided on the last few bars only; older decisions are the re-traded past."""


class _Stopped(Exception):
    """Raised out of the bar stream to end the engine's run without closing its accounts."""


class FeedSessionRunner(SessionRunner):
    """`SessionRunner` for `feed.source = "sandbox"` or `"coinbase"`; see the module. With a `guard` (both
    opt-ins) its orders go to the exchange (`live_booking`), the store reconciled with it first."""

    engine: Engine | None = None
    writer: SessionWriter | None = None
    orders: LiveOrders | None = None

    def __init__(self, *args: Any, guard: LiveGuard | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.guard = guard

    def _run(self) -> RunStatus:
        return asyncio.run(self._trade())

    async def _trade(self) -> RunStatus:
        feed = self.file.feed
        settings = load_settings()
        endpoints = feed_endpoints(feed.venue, settings)
        self.granularity = Granularity.parse(feed.granularity)
        self.products = sorted({candidate.product_id for candidate in self.candidates.values()})
        self.grids = await fetch_venue_grids(endpoints, self.products)
        self.live = LiveFeed(endpoints, self.products, self.granularity, settings=settings)
        await self.live.open()
        try:
            if self.guard is not None:
                self.orders = self._open_orders(self.guard, endpoints.rest_url)
            return await self._trade_on_feed()
        finally:
            if self.orders is not None:
                self.orders.close()
            await self.live.close()

    def _open_orders(self, guard: LiveGuard, rest_url: str) -> LiveOrders:
        """The live broker, reconciled: what the exchange did while no process of the session was running
        (fills, cancels, an order whose answer was lost) is in the store before the first bar is re-traded."""
        limits = self.file.live_limits
        assert limits is not None  # a live session file has them (`SessionFile`)
        orders = LiveOrders.open(guard, self.store, self.session_id, limits.limits(), rest_url,
                                 self.live.feed.venue_clock, FRESH_BARS * self.granularity.seconds)  # fmt: skip
        try:
            orders.reconcile()
        except BaseException:
            orders.close()
            raise
        return orders

    async def _trade_on_feed(self) -> RunStatus:
        schedule = self._feed_schedule()
        self._state = {"start": schedule.start, "market_time": schedule.start}
        self._beat(self._state, force=True)
        rotations = schedule.rotations()
        ids = [account.id for account in self.store.accounts(self.session_id)]
        with SessionWriter(self.store, self.session_id, ids) as writer:
            self.writer = writer
            try:
                # The engine starts with the first rotation that starts a candidate; bars before it trade nobody.
                first = schedule.start
                while rotations and self.engine is None:
                    first = rotations.pop(0)
                    await self._wait_until(first + self.granularity.seconds)
                    await self._rotate_at(schedule, first)
                if self.engine is not None:
                    await self.engine.run(self._bars(schedule, rotations, first))
            except _Stopped:
                if self.engine is not None:
                    self.engine.booker.flush()
                return RunStatus.INTERRUPTED
        return RunStatus.FINISHED

    def _feed_schedule(self) -> Schedule:
        size = self.granularity.seconds
        session = self.store.get_session(self.session_id)
        stored = (session.state or {}).get("start") if session is not None else None
        if stored is not None:
            start = int(stored)
        elif self.file.feed.start is not None:
            start = int(self.file.feed.start.timestamp())
        else:
            start = int(self.live.feed.venue_clock()) // size * size + size
        end = start + int(self.file.duration(market_time(start)).total_seconds())
        rotation = self.file.rotation
        return Schedule(start, end, int(rotation.every_hours * 3600), rotation.at_start)

    async def _wait_until(self, moment: int) -> None:
        """Read the feed until the venue's clock passes `moment` (a session starting now ranks on closed bars)."""
        if self.live.feed.venue_clock() >= moment:
            return
        async for _ in self.live.events():
            self._check_in(moment)
            if self.live.feed.venue_clock() >= moment:
                return

    async def _bars(self, schedule: Schedule, rotations: list[int], first: int) -> AsyncIterator[MarketEvent]:
        """The bars from `first` to the end, each product's in order, with the rotations between them."""
        size = self.granularity.seconds
        connected = int(self.live.feed.venue_clock()) // size * size
        next_start = dict.fromkeys(self.products, first)
        async for event in self.live.events():
            self._check_in(min(next_start.values()))
            if isinstance(event, FeedHealth):
                yield event
                continue
            if not isinstance(event, BarClosed) or event.granularity != size or event.product_id not in next_start:
                continue
            product_id = event.product_id
            if event.start < next_start[product_id]:
                continue  # a late bar the candles gave already
            # A bar that began before this process connected was seen only in part: take the venue's candle.
            upto = event.start + size if event.start <= connected else event.start
            bars = await self._candles(product_id, next_start[product_id], upto)
            if event.start > connected:
                bars.append(event)
            for bar in bars:
                self._check_in(min(next_start.values()))
                if bar.start >= schedule.end:
                    next_start[product_id] = schedule.end
                    break
                while rotations and bar.start >= rotations[0]:
                    rotation = rotations.pop(0)
                    for other, since in next_start.items():
                        for lagging in await self._candles(other, since, rotation):
                            yield lagging
                        next_start[other] = max(since, rotation)
                    await self._rotate_between_bars(schedule, rotation)
                yield bar
                next_start[product_id] = bar.end
            if all(reached >= schedule.end for reached in next_start.values()):
                return

    async def _rotate_between_bars(self, schedule: Schedule, rotation: int) -> None:
        engine, writer = self.engine, self.writer
        assert engine is not None and writer is not None  # created by the first rotation
        await engine.drained()
        engine.booker.flush()
        writer.flush()  # the rotation reads the accounts' record up to now
        await self._rotate_at(schedule, rotation)

    async def _rotate_at(self, schedule: Schedule, rotation: int) -> None:
        """The rotation at market time `rotation`: decided on the candles then, or, taken already before a
        crash, applied again as stored (without fetching what it was decided on). A live session the kill
        switch stopped starts nobody: it stops here."""
        if self.guard is not None and killed(self.store, self.session_id):
            raise _Stopped
        if self.records.rotation_taken(self.session_id, market_time(rotation)):
            self._apply(market_time(rotation), rotation)
        else:
            self._rotate(rotation, await self._history(schedule.start, rotation))

    def _check_in(self, reached: int) -> None:
        """Beat (with the market time every product has reached) and honour a stop request."""
        if wall_clock.monotonic() - self._last_beat >= self.heartbeat_seconds:
            self._state["market_time"] = reached
            self._beat(self._state)
            if self.records.stop_requested(self.session_id):
                self.stop.set()
        if self.stop.is_set():
            raise _Stopped

    async def _candles(self, product_id: str, start: int, end: int) -> list[BarClosed]:
        if end <= start:
            return []
        fetched = await asyncio.to_thread(self.live.candles.fetch, product_id, self.granularity, start, end)
        bars = fetched.slice(start, end)
        size = self.granularity.seconds
        return [
            BarClosed(product_id, size, int(bars.time[i]), float(bars.open[i]), float(bars.high[i]),
                      float(bars.low[i]), float(bars.close[i]), float(bars.volume[i]), backfilled=True)
            for i in range(len(bars))
        ]  # fmt: skip

    async def _history(self, start: int, until: int) -> dict[str, Bars]:
        """What a rotation at `until` ranks on: each product's candles from `history_hours` before the start."""
        since = start - int(self.file.rotation.history_hours * 3600)
        return {
            product_id: await asyncio.to_thread(self.live.candles.fetch, product_id, self.granularity, since, until)
            for product_id in self.products
        }

    def _apply(self, time: datetime, now: int) -> None:
        super()._apply(time, now)
        accounts = {account.name: account for account in self.store.accounts(self.session_id)}
        decisions = [row for row in self.records.rotations(self.session_id) if row.time == time]
        starting = [accounts[row.candidate] for row in decisions if row.decision == "start"]
        retiring = {row.candidate for row in decisions if row.decision == "retire"}
        writer = self.writer
        assert writer is not None
        for account in starting:
            writer.track(account.id)
        engine = self.engine
        if engine is None:
            if starting:
                self.engine = self._new_engine(starting, now)
            return
        for instance in engine.instances:
            if instance.spec.account in retiring:
                engine.retire(instance)
        for account in starting:
            spec = self._spec(self.candidates[account.name])
            engine.add_instance(spec, account.id, self._warm_up(spec, now))

    def _new_engine(self, accounts: list[Account], now: int) -> Engine:
        specs = [self._spec(self.candidates[account.name]) for account in accounts]
        broker = PaperBroker(self.grids, fill_model=TOUCH, stale_after=None)  # the bar model fills at the rules' prices
        booker = Booker if self.orders is None else partial(LiveBooker, live=self.orders)
        engine = Engine(
            specs, granularity=self.granularity, broker=broker, fill_model="bar", writer=self.writer,
            session_id=self.session_id, account_ids={account.name: account.id for account in accounts},
            snapshot_every=max(1, SNAPSHOT_SECONDS // self.granularity.seconds), booker=booker,
        )  # fmt: skip
        history = {}
        for instance in engine.instances:
            product_id = instance.spec.product_id
            wanted = max(i.lookback for i in engine.instances if i.spec.product_id == product_id)
            history[product_id] = self._fetch(product_id, now - wanted * self.granularity.seconds, now)
        engine.warm_up(history)
        return engine

    def _warm_up(self, spec: InstanceSpec, now: int) -> Bars:
        """Bars before `now` for a product the engine starts trading mid-run (ignored for one it trades)."""
        _, _, lookback = resolve_strategy(spec)
        return self._fetch(spec.product_id, now - lookback * self.granularity.seconds, now)

    def _fetch(self, product_id: str, start: int, end: int) -> Bars:
        return self.live.candles.fetch(product_id, self.granularity, start, end).slice(start, end)

    def _spec(self, candidate: Candidate) -> InstanceSpec:
        capital = Decimal(repr(self.file.accounts.capital))
        return InstanceSpec(candidate.strategy, candidate.params, candidate.product_id, candidate.name, capital,
                            self.settings)  # fmt: skip

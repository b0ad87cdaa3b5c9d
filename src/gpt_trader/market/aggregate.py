"""Trades -> closed bars of one granularity, with a clock, a grace period, the backtest's gap policy
and backfill of the bars a feed gap left unknown.

A bucket [start, start + granularity) closes, and its `BarClosed` is delivered, when a trade of a later
bucket arrives or when the clock passes the bucket's end plus `grace` (room for trades that arrive
late; a trade for a closed bucket is dropped and counted in `late_trades`). The clock is injected:
the venue's clock of a live feed (the newest message's time), the replay's market time for a
replay, so a replay runs as fast as the CPU allows; the grace period is in the clock's seconds.

A bar is built from trades only if the feed was whole for its entire bucket. The bucket in which
watching began (unless `since` is its very start) and every bucket from the one forming when the
feed lost data (`FeedHealth` gap, disconnected or stale) up to that of the first event after the
feed was whole again (after the gap itself, or after connected / resynced) are *unseen*: they are
fetched through the injected `backfill` (product, granularity, start, end) -> Bars and delivered
with `backfilled=True`, in order, each bucket at most once. So are the buckets between a history
fetched before the feed opened and the first one the feed watched whole (`known_before`). Without a
backfill, or when it fails, unseen buckets are skipped and listed in `unseen(product)`. `source_backfill`
makes one of any candle source; `market/` knows no venue, and `coinbase/feed.py` provides the REST-backed
one.

A bucket the feed saw whole without a trade is empty, and the backtest's gap policy decides
(`market/gaps.py`): `keep` reports it in `gap_report(product)`, `fill-flat` delivers a flat
zero-volume bar at the previous close flagged `synthetic`, `fail` raises `DataError`. As in
`find_gaps`, only buckets after a product's first bar count.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

import numpy as np

from gpt_trader.errors import DataError, UserError
from gpt_trader.market.bars import Bars, iso_time
from gpt_trader.market.events import BarClosed, FeedHealth, HealthKind, MarketEvent, Trade
from gpt_trader.market.gaps import Gap, GapPolicy, GapReport
from gpt_trader.market.granularity import Granularity
from gpt_trader.market.sources.base import Source

log = logging.getLogger(__name__)

Backfill = Callable[[str, Granularity, int, int], Awaitable[Bars]]
"""Fetch the closed bars of a product whose open time lies in [start, end) (Unix seconds)."""


def source_backfill(source: Source) -> Backfill:
    """A `Backfill` from any candle source (`market/sources`), fetched in a worker thread so the event
    loop, and the feed it reads, go on meanwhile."""

    async def backfill(product_id: str, granularity: Granularity, start: int, end: int) -> Bars:
        log.info("backfilling %s %s bars from %s to %s from %s", product_id, granularity.short, iso_time(start),
                 iso_time(end), source.name)
        return await asyncio.to_thread(source.fetch, product_id, granularity, start, end)

    return backfill


DEFAULT_GRACE = 3.0
"""Seconds a bucket stays open after its end for trades the venue reports late."""

_LOSING = frozenset({HealthKind.DISCONNECTED, HealthKind.STALE})
_RECOVERING = frozenset({HealthKind.CONNECTED, HealthKind.RESYNCED})


@dataclass(frozen=True, slots=True)
class _Segment:
    """A closed run of buckets [start, end): one built bar, an unseen run, or an empty run."""

    product_id: str
    start: int
    end: int
    bar: BarClosed | None = None
    seen: bool = True


class _Forming:
    """One product's bucket under construction, and what it has delivered so far."""

    __slots__ = (
        "blind_until", "close", "gaps", "high", "last_close", "low", "open", "open_time", "trades", "unseen",
        "volume", "whole",
    )  # fmt: skip

    def __init__(self, open_time: int, whole: bool, blind_until: int = 0) -> None:
        self.open_time = open_time
        self.whole = whole
        self.blind_until = blind_until
        """When the bucket is not whole, the buckets before this one are unseen with it (known bars ended
        before the feed began watching)."""
        self.trades = 0
        self.open = self.high = self.low = self.close = self.volume = 0.0
        self.last_close: float | None = None
        self.gaps: list[Gap] = []
        self.unseen: list[Gap] = []

    def add(self, price: float, size: float) -> None:
        if self.trades == 0:
            self.open = self.high = self.low = price
        elif price > self.high:
            self.high = price
        elif price < self.low:
            self.low = price
        self.close = price
        self.volume += size
        self.trades += 1

    def restart(self, open_time: int, whole: bool) -> None:
        self.open_time = open_time
        self.whole = whole
        self.trades = 0
        self.volume = 0.0


class BarAggregator:
    """Closed bars of `granularity` from the trades of any number of products. See the module docstring.

    Feed it every event of a feed in order (`on_event`), and call `on_clock` on messages that carry
    no event (a heartbeat), so bars close on time on a quiet market. `since` is the market time from
    which the trades are complete; by default, the clock's time at the first call. `products` are
    followed from then on, so an outage before a product's first trade is backfilled too; any other
    product is followed from its first trade.
    """

    def __init__(
        self,
        granularity: Granularity | str,
        *,
        products: Iterable[str] = (),
        grace: float = DEFAULT_GRACE,
        gap_policy: GapPolicy | str = GapPolicy.KEEP,
        backfill: Backfill | None = None,
        clock: Callable[[], float] = time.time,
        since: float | None = None,
    ) -> None:
        self.granularity = Granularity.parse(granularity)
        if not grace >= 0.0:
            raise ValueError(f"the grace period must be zero or more seconds, not {grace}")
        self.grace = grace
        self.gap_policy = GapPolicy.parse(gap_policy)
        self.backfill = backfill
        self.clock = clock
        self.late_trades = 0
        """Trades for a bucket that had already closed; dropped."""
        self._products: dict[str, _Forming] = {}
        self._followed = tuple(products)
        self._started = False
        self._whole_since = since
        self._known_before: dict[str, int] = {}
        self._down = False
        self._resuming = False
        self._closed_until = -1

    def _bucket(self, moment: float) -> int:
        seconds = self.granularity.seconds
        return int(moment // seconds) * seconds

    async def on_event(self, event: MarketEvent) -> list[BarClosed]:
        """The bars that `event` (or the clock at its arrival) closed, oldest first per product."""
        if isinstance(event, FeedHealth):
            # Before the first data event nothing is watched yet and nothing can be lost, unless `since`
            # said when watching began. (A venue clock shows no venue time before its first message.)
            if self._whole_since is not None:
                self._start(self._whole_since)
            if self._started:
                self._health(event.kind)
            return []
        now = self.clock()
        segments = self._resume(now) if self._resuming else []
        segments += self._close_by_clock(now)
        if isinstance(event, Trade):
            segments += self._add_trade(event, now)
        return await self._deliver(segments) if segments else []

    async def on_clock(self) -> list[BarClosed]:
        """The bars whose bucket ended more than `grace` seconds before the clock's time."""
        now = self.clock()
        segments = self._resume(now) if self._resuming else []
        segments += self._close_by_clock(now)
        return await self._deliver(segments) if segments else []

    def known_before(self, product_id: str, start: float) -> None:
        """The bars of `product_id` before the bucket of `start` are known (a history fetched before the feed
        opened): the buckets from there until the feed watches one whole are unseen, and backfilled; a trade
        before it is late. Call it before the first event."""
        if self._started:
            raise RuntimeError("known_before() comes before the first event")
        self._known_before[product_id] = self._bucket(start)
        if product_id not in self._followed:
            self._followed += (product_id,)

    def gap_report(self, product_id: str) -> GapReport:
        """The empty buckets of `product_id` so far (under `keep`, or also delivered flat under `fill-flat`)."""
        forming = self._products.get(product_id)
        return GapReport(product_id, self.granularity, tuple(forming.gaps) if forming else ())

    def open_bucket(self, product_id: str) -> int | None:
        """Open time of `product_id`'s first bucket not closed yet (every earlier one is decided); None
        for a product not followed."""
        forming = self._products.get(product_id)
        return None if forming is None else forming.open_time

    def unseen(self, product_id: str) -> tuple[Gap, ...]:
        """The buckets of `product_id` the feed did not see whole and no backfill delivered."""
        forming = self._products.get(product_id)
        return tuple(forming.unseen) if forming else ()

    # -- the synchronous core: which buckets close, and how --------------------------------------

    def _start(self, now: float) -> float:
        """When the feed has been whole since; on the first call, begin following `products`."""
        since = self._whole_since
        if since is None:
            since = self._whole_since = now
        if not self._started:
            self._started = True
            first = self._bucket(since)
            for product_id in self._followed:
                known = self._known_before.get(product_id, first)
                if known < first:
                    forming = _Forming(known, False, blind_until=first)
                else:
                    forming = _Forming(known, since <= known)
                self._products.setdefault(product_id, forming)
        return since

    def _add_trade(self, trade: Trade, now: float) -> list[_Segment]:
        bucket = self._bucket(trade.time)
        forming = self._products.get(trade.product_id)
        if bucket < (self._closed_until if forming is None else forming.open_time):
            self.late_trades += 1
            return []
        if forming is None:
            whole = not self._down and self._start(now) <= bucket
            forming = self._products[trade.product_id] = _Forming(bucket, whole)
        segments = self._close_until(trade.product_id, forming, bucket)
        forming.add(float(trade.price), float(trade.size))
        return segments

    def _close_by_clock(self, now: float) -> list[_Segment]:
        self._start(now)
        limit = self._bucket(now - self.grace)
        if self._down or limit <= self._closed_until:
            return []
        self._closed_until = limit
        segments: list[_Segment] = []
        for product_id, forming in self._products.items():
            segments += self._close_until(product_id, forming, limit)
        return segments

    def _health(self, kind: HealthKind) -> None:
        if kind is HealthKind.GAP or kind in _LOSING:
            self._down = True
            for forming in self._products.values():
                forming.whole = False
        if self._down and (kind is HealthKind.GAP or kind in _RECOVERING):
            # The feed is whole again from its next message on, whose time the clock then shows (a
            # venue clock still shows the last message before the loss).
            self._resuming = True

    def _resume(self, now: float) -> list[_Segment]:
        """Everything before the bucket of `now` is unknown; the bucket of `now` is partial."""
        limit = self._bucket(now)
        segments: list[_Segment] = []
        for product_id, forming in self._products.items():
            segments += self._close_until(product_id, forming, limit)
        self._down = self._resuming = False
        self._whole_since = now
        return segments

    def _close_until(self, product_id: str, forming: _Forming, limit: int) -> list[_Segment]:
        """Close every bucket of `forming` that opens before `limit`, and open the bucket at `limit`."""
        start = forming.open_time
        if start >= limit:
            return []
        seconds = self.granularity.seconds
        end = start + seconds
        if not forming.whole:
            end = max(end, min(forming.blind_until, limit))
            segments = [_Segment(product_id, start, end, seen=False)]
        elif forming.trades:
            bar = BarClosed(
                product_id, seconds, start, forming.open, forming.high, forming.low, forming.close, forming.volume
            )
            segments = [_Segment(product_id, start, end, bar)]
        else:
            segments = [_Segment(product_id, start, end)]
        if end < limit:
            # No trade arrived for the buckets in between: empty, or unknown while the feed is down.
            segments.append(_Segment(product_id, end, limit, seen=not self._down))
        since = self._whole_since
        forming.restart(limit, not self._down and since is not None and since <= limit)
        return segments

    # -- delivery: built bars, backfill of unseen runs, the gap policy for empty runs ------------

    async def _deliver(self, segments: list[_Segment]) -> list[BarClosed]:
        bars: list[BarClosed] = []
        for segment in _merged(segments):
            forming = self._products[segment.product_id]
            if segment.bar is not None:
                produced = [segment.bar]
            elif segment.seen:
                produced = self._empty(forming, segment.product_id, segment.start, segment.end, backfilled=False)
            else:
                produced = await self._backfill(forming, segment.product_id, segment.start, segment.end)
            if produced:
                forming.last_close = produced[-1].close
                bars += produced
        return bars

    async def _backfill(self, forming: _Forming, product_id: str, start: int, end: int) -> list[BarClosed]:
        seconds = self.granularity.seconds
        missing = Gap(start, end, (end - start) // seconds)
        if self.backfill is None:
            _extend(forming.unseen, missing)
            log.info("%s: %s %s bars not seen whole by the feed and no backfill given", product_id, missing,
                     self.granularity.short)
            return []
        try:
            fetched = await self.backfill(product_id, self.granularity, start, end)
        except (UserError, OSError) as error:
            _extend(forming.unseen, missing)
            log.warning("%s: backfill of %s %s bars failed: %s", product_id, missing, self.granularity.short, error)
            return []
        times = fetched.time
        inside = np.flatnonzero((times >= start) & (times < end) & (times % seconds == 0))
        bars: list[BarClosed] = []
        expected = start
        for row in inside[np.unique(times[inside], return_index=True)[1]]:
            opened = int(times[row])
            if opened > expected:
                bars += self._empty(forming, product_id, expected, opened, backfilled=True)
            bars.append(BarClosed(
                product_id, seconds, opened, float(fetched.open[row]), float(fetched.high[row]),
                float(fetched.low[row]), float(fetched.close[row]), float(fetched.volume[row]), backfilled=True,
            ))
            forming.last_close = bars[-1].close
            expected = opened + seconds
        if expected < end:
            bars += self._empty(forming, product_id, expected, end, backfilled=True)
        return bars

    def _empty(self, forming: _Forming, product_id: str, start: int, end: int, *, backfilled: bool) -> list[BarClosed]:
        """Buckets [start, end) without trades, after the gap policy."""
        last_close = forming.last_close
        if last_close is None:
            return []
        seconds = self.granularity.seconds
        _extend(forming.gaps, Gap(start, end, (end - start) // seconds))
        if self.gap_policy is GapPolicy.FAIL:
            raise DataError(
                f"{product_id}: no trade in the {self.granularity.short} bucket(s) from {iso_time(start)} to "
                f"{iso_time(end)}, and the gap policy is `fail`; use `--gaps keep` to keep gaps as gaps or "
                "`--gaps fill-flat` to fill them with flat zero-volume bars"
            )
        if self.gap_policy is GapPolicy.KEEP:
            return []
        return [
            BarClosed(product_id, seconds, opened, last_close, last_close, last_close, last_close, 0.0,
                      backfilled=backfilled, synthetic=True)
            for opened in range(start, end, seconds)
        ]


def _extend(gaps: list[Gap], gap: Gap) -> None:
    """Add `gap` to `gaps`, joining it to the last one if they touch."""
    if gaps and gaps[-1].end == gap.start:
        last = gaps.pop()
        gap = Gap(last.start, gap.end, last.missing_bars + gap.missing_bars)
    gaps.append(gap)


def _merged(segments: list[_Segment]) -> list[_Segment]:
    """Adjacent unseen runs of one product joined, so one backfill call fetches them."""
    merged: list[_Segment] = []
    for segment in segments:
        last = merged[-1] if merged else None
        if (last is not None and not segment.seen and not last.seen and last.product_id == segment.product_id
                and last.end == segment.start):
            merged[-1] = _Segment(segment.product_id, last.start, segment.end, seen=False)
        else:
            merged.append(segment)
    return merged

"""Trades -> closed bars: against bars grouped directly from the same trades, the grace period, late
trades, the gap policy, and backfill after a feed gap."""

from __future__ import annotations

import logging
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpt_trader.errors import DataError
from gpt_trader.market.aggregate import BarAggregator, source_backfill
from gpt_trader.market.bars import Bars
from gpt_trader.market.events import BarClosed, FeedHealth, HealthKind, Trade
from gpt_trader.market.gaps import GapPolicy, apply_gap_policy, find_gaps
from gpt_trader.market.granularity import Granularity
from gpt_trader.market.sources.synthetic import SyntheticSource

MINUTE = Granularity.ONE_MINUTE
T0 = 1_717_200_000  # a minute boundary


class Clock:
    """An injected clock that a test moves by hand."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def trade(at: float, price: float, size: float = 1.0, product: str = "BTC-USD") -> Trade:
    return Trade(product, at, Decimal(repr(price)), Decimal(repr(size)))


def reference_bars(trades: list[Trade], granularity: Granularity = MINUTE) -> Bars:
    """The simple reference: group by floor(time / granularity), in arrival order within a bucket."""
    seconds = granularity.seconds
    groups: dict[int, list[Trade]] = {}
    for item in trades:
        groups.setdefault(int(item.time // seconds) * seconds, []).append(item)
    opens = sorted(groups)
    rows = [[float(t.price) for t in groups[start]] for start in opens]
    return Bars(
        trades[0].product_id,
        granularity,
        np.array(opens, dtype=np.int64),
        np.array([row[0] for row in rows]),
        np.array([max(row) for row in rows]),
        np.array([min(row) for row in rows]),
        np.array([row[-1] for row in rows]),
        np.array([sum(float(t.size) for t in groups[start]) for start in opens]),
    )


def as_bars(delivered: list[BarClosed], product: str = "BTC-USD") -> Bars:
    rows = [bar for bar in delivered if bar.product_id == product]
    return Bars(
        product,
        MINUTE,
        np.array([bar.start for bar in rows], dtype=np.int64),
        np.array([bar.open for bar in rows]),
        np.array([bar.high for bar in rows]),
        np.array([bar.low for bar in rows]),
        np.array([bar.close for bar in rows]),
        np.array([bar.volume for bar in rows]),
        np.array([bar.synthetic for bar in rows], dtype=bool),
    )


def same_bars(left: Bars, right: Bars) -> bool:
    columns = ("time", "open", "high", "low", "close", "volume")
    flags = [None if bars.synthetic is None else bars.synthetic.tolist() for bars in (left, right)]
    return all(np.array_equal(getattr(left, c), getattr(right, c)) for c in columns) and flags[0] == flags[1]


async def run(aggregator: BarAggregator, clock: Clock, events: list[Trade | FeedHealth]) -> list[BarClosed]:
    """Feed `events` with the clock at each one's market time (health events at the clock's current time)."""
    delivered: list[BarClosed] = []
    for event in events:
        if isinstance(event, Trade):
            clock.now = max(clock.now, event.time)
        delivered += await aggregator.on_event(event)
    return delivered


trade_steps = st.lists(
    st.tuples(st.floats(0.0, 200.0), st.integers(1, 10_000), st.integers(1, 500)), min_size=1, max_size=60
)


def trades_from(steps: list[tuple[float, int, int]]) -> list[Trade]:
    at = float(T0)
    trades = []
    for step, cents, size in steps:
        at += step
        trades.append(trade(at, cents / 100, size / 100))
    return trades


@settings(max_examples=60, deadline=None)
@given(steps=trade_steps, policy=st.sampled_from([GapPolicy.KEEP, GapPolicy.FILL_FLAT]))
async def test_bars_equal_those_grouped_directly_from_the_same_trades(
    steps: list[tuple[float, int, int]], policy: GapPolicy
) -> None:
    trades = trades_from(steps)
    clock = Clock(T0)
    aggregator = BarAggregator(MINUTE, gap_policy=policy, clock=clock, since=T0)
    delivered = await run(aggregator, clock, list(trades))
    clock.now = trades[-1].time + 60 + aggregator.grace
    delivered += await aggregator.on_clock()
    expected = reference_bars(trades)
    assert same_bars(as_bars(delivered), apply_gap_policy(expected, policy))
    assert aggregator.gap_report("BTC-USD").gaps == find_gaps(expected).gaps
    assert not any(bar.backfilled for bar in delivered) and aggregator.late_trades == 0


async def test_a_bar_waits_out_its_grace_period_for_late_trades_then_closes_on_the_clock() -> None:
    clock = Clock(T0)
    aggregator = BarAggregator(MINUTE, grace=2.0, clock=clock, since=T0)
    assert await run(aggregator, clock, [trade(T0 + 10, 100.0), trade(T0 + 50, 101.0)]) == []
    clock.now = T0 + 61.5
    assert await aggregator.on_clock() == [], "inside the grace period the bar stays open"
    assert await aggregator.on_event(trade(T0 + 59.9, 99.0)) == [], "a late trade within grace still counts"
    clock.now = T0 + 62.0
    closed = await aggregator.on_clock()
    assert closed == [BarClosed("BTC-USD", 60, T0, 100.0, 101.0, 99.0, 99.0, 3.0)]
    assert await aggregator.on_event(trade(T0 + 59.95, 500.0)) == []
    assert aggregator.late_trades == 1, "a trade for a closed bucket is dropped and counted"
    assert await aggregator.on_clock() == []


async def test_a_trade_of_a_later_bucket_closes_the_bar_at_once_whatever_the_clock() -> None:
    clock = Clock(T0)
    aggregator = BarAggregator(MINUTE, grace=30.0, clock=clock, since=T0)
    await aggregator.on_event(trade(T0 + 1, 10.0))
    closed = await aggregator.on_event(trade(T0 + 60, 11.0))
    assert [bar.start for bar in closed] == [T0] and clock.now == T0


async def test_an_empty_minute_under_fill_flat_is_delivered_on_the_clock_as_a_synthetic_flat_bar() -> None:
    clock = Clock(T0)
    aggregator = BarAggregator(MINUTE, gap_policy="fill-flat", grace=1.0, clock=clock, since=T0)
    await aggregator.on_event(trade(T0 + 5, 10.0))
    clock.now = T0 + 121.0
    closed = await aggregator.on_clock()
    assert closed == [
        BarClosed("BTC-USD", 60, T0, 10.0, 10.0, 10.0, 10.0, 1.0),
        BarClosed("BTC-USD", 60, T0 + 60, 10.0, 10.0, 10.0, 10.0, 0.0, synthetic=True),
    ]


async def test_the_fail_policy_refuses_an_empty_bucket_with_a_clear_message() -> None:
    clock = Clock(T0)
    aggregator = BarAggregator(MINUTE, gap_policy="fail", clock=clock, since=T0)
    await aggregator.on_event(trade(T0 + 5, 10.0))
    with pytest.raises(DataError, match=r"BTC-USD: no trade in the 1m bucket.*--gaps keep"):
        await aggregator.on_event(trade(T0 + 185, 10.0))


class RecordedBackfill:
    """A backfill over fixed bars that records its calls; it returns more than asked, as a venue may."""

    def __init__(self, bars: Bars) -> None:
        self.bars = bars
        self.calls: list[tuple[str, int, int]] = []

    async def __call__(self, product_id: str, granularity: Granularity, start: int, end: int) -> Bars:
        assert granularity is MINUTE
        self.calls.append((product_id, start, end))
        return self.bars.slice(start - 120, end + 120)


def minute_trades(minutes: range, product: str = "BTC-USD") -> list[Trade]:
    """Two trades a minute, prices rising with the minute."""
    return [trade(T0 + 60 * m + s, 100.0 + m + s / 100, 0.5, product) for m in minutes for s in (7, 41)]


async def test_after_a_disconnect_the_missed_bars_are_backfilled_once_flagged_and_in_order() -> None:
    everything = minute_trades(range(10))
    venue = RecordedBackfill(reference_bars(everything))
    clock = Clock(T0)
    aggregator = BarAggregator(MINUTE, backfill=venue, clock=clock, since=T0)
    seen = [t for t in everything if t.time < T0 + 150 or t.time > T0 + 5 * 60 + 30]
    cut = next(i for i, t in enumerate(seen) if t.time > T0 + 150)
    delivered = await run(aggregator, clock, seen[:cut])
    clock.now = T0 + 150
    delivered += await aggregator.on_event(FeedHealth(HealthKind.DISCONNECTED, "test"))
    clock.now = T0 + 5 * 60 + 20
    delivered += await aggregator.on_event(FeedHealth(HealthKind.CONNECTED, "test"))
    delivered += await run(aggregator, clock, seen[cut:])
    clock.now = T0 + 10 * 60 + aggregator.grace
    delivered += await aggregator.on_clock()

    assert [bar.start for bar in delivered] == [T0 + 60 * m for m in range(10)], "every minute exactly once"
    assert [m for m, bar in enumerate(delivered) if bar.backfilled] == [2, 3, 4, 5]
    assert venue.calls == [("BTC-USD", T0 + 120, T0 + 300), ("BTC-USD", T0 + 300, T0 + 360)]
    assert same_bars(as_bars(delivered), reference_bars(everything)), "backfilled bars are the venue's bars"


async def test_a_sequence_gap_backfills_the_bucket_it_fell_in_for_every_product() -> None:
    trades = sorted(minute_trades(range(4)) + minute_trades(range(4), "ETH-USD"), key=lambda t: t.time)
    products = ("BTC-USD", "ETH-USD")
    bars = {product: reference_bars([t for t in trades if t.product_id == product]) for product in products}
    calls: list[tuple[str, int, int]] = []

    async def backfill(product_id: str, granularity: Granularity, start: int, end: int) -> Bars:
        calls.append((product_id, start, end))
        return bars[product_id].slice(start, end)

    clock = Clock(T0)
    aggregator = BarAggregator(MINUTE, backfill=backfill, clock=clock, since=T0)
    before = [t for t in trades if t.time < T0 + 90]
    delivered = await run(aggregator, clock, before)
    delivered += await aggregator.on_event(FeedHealth(HealthKind.GAP, "sequence_num jumped"))
    delivered += await run(aggregator, clock, trades[len(before):])
    clock.now = T0 + 300
    delivered += await aggregator.on_clock()
    assert sorted(calls) == [("BTC-USD", T0 + 60, T0 + 120), ("ETH-USD", T0 + 60, T0 + 120)]
    for product in products:
        mine = [bar for bar in delivered if bar.product_id == product]
        assert [(bar.start, bar.backfilled) for bar in mine] == [(T0 + 60 * m, m == 1) for m in range(4)]
        assert same_bars(as_bars(delivered, product), bars[product])


async def test_a_failing_backfill_leaves_the_bars_unseen_with_a_warning_and_the_feed_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def unreachable(product_id: str, granularity: Granularity, start: int, end: int) -> Bars:
        raise OSError("connection refused")

    clock = Clock(T0)
    aggregator = BarAggregator(MINUTE, backfill=unreachable, clock=clock, since=T0)
    trades = minute_trades(range(4))
    before = [t for t in trades if t.time < T0 + 90]
    delivered = await run(aggregator, clock, before)
    delivered += await aggregator.on_event(FeedHealth(HealthKind.GAP, "lost"))
    with caplog.at_level(logging.WARNING):
        delivered += await run(aggregator, clock, trades[len(before):])
    assert [bar.start for bar in delivered] == [T0, T0 + 120]
    assert [(gap.start, gap.end) for gap in aggregator.unseen("BTC-USD")] == [(T0 + 60, T0 + 120)]
    assert "backfill of" in caplog.text and "connection refused" in caplog.text


async def test_a_gap_revealed_minutes_later_leaves_the_minutes_between_unseen_not_empty() -> None:
    """A venue clock shows the last message before a loss until the message that reveals it: every
    bucket up to that message's is unknown, and its own bucket is partial."""
    everything = minute_trades(range(8))
    venue = RecordedBackfill(reference_bars(everything))
    clock = Clock(T0)
    aggregator = BarAggregator(MINUTE, backfill=venue, clock=clock, since=T0)
    delivered = await run(aggregator, clock, [t for t in everything if t.time < T0 + 90])
    delivered += await aggregator.on_event(FeedHealth(HealthKind.GAP, "sequence_num jumped"))
    delivered += await run(aggregator, clock, [t for t in everything if t.time > T0 + 4 * 60 + 30])
    assert venue.calls == [("BTC-USD", T0 + 60, T0 + 240), ("BTC-USD", T0 + 240, T0 + 300)]
    assert [(bar.start, bar.backfilled) for bar in delivered] == [(T0 + 60 * m, 1 <= m <= 4) for m in range(7)]
    assert aggregator.gap_report("BTC-USD").count == 0, "lost minutes are not empty minutes"


async def test_the_bucket_in_which_watching_began_is_not_built_from_its_partial_trades() -> None:
    clock = Clock(T0 + 30)
    aggregator = BarAggregator(MINUTE, clock=clock)
    delivered = await run(aggregator, clock, [trade(T0 + 31, 5.0), trade(T0 + 61, 6.0), trade(T0 + 121, 7.0)])
    assert [bar.start for bar in delivered] == [T0 + 60]
    assert [(gap.start, gap.end) for gap in aggregator.unseen("BTC-USD")] == [(T0, T0 + 60)]


async def test_bars_after_a_history_known_before_watching_began_are_backfilled_each_once_in_order() -> None:
    """A history fetched before the feed opened ends at minute 2; the feed starts watching in minute 5:
    minutes 2 to 5 (the partial one included) come backfilled, then the feed's own bars."""
    everything = minute_trades(range(9))
    venue = RecordedBackfill(reference_bars(everything))
    clock = Clock(T0 + 5 * 60 + 20)
    aggregator = BarAggregator(MINUTE, backfill=venue, clock=clock)
    aggregator.known_before("BTC-USD", T0 + 120)
    delivered = await run(aggregator, clock, [t for t in everything if t.time >= clock.now])
    clock.now = T0 + 9 * 60 + aggregator.grace
    delivered += await aggregator.on_clock()

    assert [bar.start for bar in delivered] == [T0 + 60 * m for m in range(2, 9)], "every minute exactly once"
    assert [bar.start for bar in delivered if bar.backfilled] == [T0 + 60 * m for m in range(2, 6)]
    assert venue.calls == [("BTC-USD", T0 + 120, T0 + 300), ("BTC-USD", T0 + 300, T0 + 360)]
    assert same_bars(as_bars(delivered), reference_bars(everything).slice(T0 + 120, T0 + 9 * 60))


async def test_a_history_that_reaches_past_the_start_of_watching_makes_earlier_trades_late() -> None:
    clock = Clock(T0 + 30)
    aggregator = BarAggregator(MINUTE, clock=clock)
    aggregator.known_before("BTC-USD", T0 + 60)
    delivered = await run(aggregator, clock, [trade(T0 + 31, 5.0), trade(T0 + 61, 6.0), trade(T0 + 121, 7.0)])
    assert [bar.start for bar in delivered] == [T0 + 60] and aggregator.late_trades == 1
    assert aggregator.unseen("BTC-USD") == ()


async def test_known_before_after_the_first_event_is_refused() -> None:
    clock = Clock(T0)
    aggregator = BarAggregator(MINUTE, clock=clock)
    await run(aggregator, clock, [trade(T0 + 1, 5.0)])
    with pytest.raises(RuntimeError, match="before the first event"):
        aggregator.known_before("BTC-USD", T0)


async def test_health_before_the_first_data_event_neither_starts_the_clock_nor_loses_anything() -> None:
    """A venue clock shows wall time until the venue's first message (a sandbox replays the past)."""
    clock = Clock(T0 + 10**8)
    aggregator = BarAggregator(MINUTE, products=["BTC-USD"], clock=clock)
    assert await aggregator.on_event(FeedHealth(HealthKind.CONNECTED, "test")) == []
    assert await aggregator.on_event(FeedHealth(HealthKind.GAP, "test")) == []
    clock.now = T0 + 30
    delivered = await run(aggregator, clock, [trade(T0 + 30, 5.0), trade(T0 + 61, 6.0), trade(T0 + 121, 7.0)])
    assert [bar.start for bar in delivered] == [T0 + 60] and aggregator.late_trades == 0
    assert aggregator.open_bucket("BTC-USD") == T0 + 120


async def test_a_source_backfill_serves_what_the_source_holds() -> None:
    source = SyntheticSource(seed=3)
    fetched = await source_backfill(source)("ETH-USD", MINUTE, T0, T0 + 600)
    assert same_bars(fetched, source.fetch("ETH-USD", MINUTE, T0, T0 + 600)) and len(fetched) == 10


def test_a_negative_grace_is_refused() -> None:
    with pytest.raises(ValueError, match="grace period"):
        BarAggregator(MINUTE, grace=-1.0)


@settings(max_examples=60, deadline=None)
@given(steps=trade_steps, cut=st.floats(0.0, 1.0), outage=st.floats(0.0, 400.0),
       kind=st.sampled_from([HealthKind.GAP, HealthKind.DISCONNECTED, HealthKind.STALE]))
async def test_whatever_an_outage_hides_the_bars_delivered_are_the_true_bars_each_once(
    steps: list[tuple[float, int, int]], cut: float, outage: float, kind: HealthKind
) -> None:
    trades = trades_from(steps)
    truth = reference_bars(trades)
    venue = RecordedBackfill(truth)
    clock = Clock(T0)
    aggregator = BarAggregator(MINUTE, products=["BTC-USD"], backfill=venue, clock=clock, since=T0)
    lost_from = trades[0].time + cut * (trades[-1].time - trades[0].time)
    delivered = await run(aggregator, clock, [t for t in trades if t.time < lost_from])
    clock.now = max(clock.now, lost_from)
    delivered += await aggregator.on_event(FeedHealth(kind, "test"))
    if kind is not HealthKind.GAP:
        clock.now = lost_from + outage
        delivered += await aggregator.on_event(FeedHealth(HealthKind.CONNECTED, "test"))
    delivered += await run(aggregator, clock, [t for t in trades if t.time >= lost_from + outage])
    clock.now = max(trades[-1].time, lost_from + outage) + 60 + aggregator.grace
    delivered += await aggregator.on_clock()
    assert same_bars(as_bars(delivered), truth)
    closed_until = aggregator.open_bucket("BTC-USD")
    assert closed_until is not None and closed_until >= int(clock.now - aggregator.grace) // 60 * 60
    empty = set(range(truth.start, closed_until, 60)) - set(truth.time.tolist())
    reported = {start for gap in aggregator.gap_report("BTC-USD").gaps for start in range(gap.start, gap.end, 60)}
    assert reported == empty, "every closed minute without a trade after the first bar, even one learnt by backfill"
    assert aggregator.unseen("BTC-USD") == () and aggregator.late_trades == 0

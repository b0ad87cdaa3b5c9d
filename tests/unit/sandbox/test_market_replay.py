"""MarketReplay on a fake clock: market time, the tape it replays, candles, book and statistics."""

from __future__ import annotations

import math
from decimal import Decimal

import numpy as np
import pytest

from gpt_trader.market.bars import Bars
from gpt_trader.market.granularity import Granularity
from gpt_trader.market.resample import resample
from gpt_trader.sandbox.catalog import decimal_text as order_decimal_text
from gpt_trader.sandbox.market import (
    CandleUpdate,
    MarketEvent,
    decimal_text,
    infer_grid,
    rfc3339,
)
from tests.unit.sandbox.conftest import START, replay_of, ticks


def test_market_time_runs_speed_times_faster_than_the_clock_from_the_start(bars: dict[str, Bars]) -> None:
    replay, clock, events = replay_of(bars, speed=120)
    assert replay.market_time == START
    clock.now += 2.5
    replay.step()
    assert replay.market_time == START + 300
    trades = ticks(events)
    assert trades and all(START < t.trade.time <= START + 300 for t in trades)
    assert [t.trade.trade_id for t in trades] == list(range(trades[0].trade.trade_id, trades[-1].trade.trade_id + 1))


def test_the_tape_is_the_same_however_the_clock_is_stepped(bars: dict[str, Bars]) -> None:
    fine, fine_clock, fine_events = replay_of(bars)
    coarse, coarse_clock, coarse_events = replay_of(bars)
    for _ in range(90):
        fine_clock.now += 1 / 3
        fine.step()
    coarse_clock.now += 30
    coarse.step()

    def tape(events: list[MarketEvent]) -> list[tuple[int, Decimal, Decimal, str, float]]:
        return [(t.trade.trade_id, t.trade.price, t.trade.size, t.trade.side, t.trade.time) for t in ticks(events)]

    assert len(tape(fine_events)) > 300
    assert tape(fine_events) == tape(coarse_events)
    assert fine.quote("BTC-USD") == coarse.quote("BTC-USD")
    assert fine.book("BTC-USD") == coarse.book("BTC-USD")


def test_book_updates_applied_to_the_snapshot_rebuild_the_book_and_it_is_never_crossed(bars: dict[str, Bars]) -> None:
    replay, clock, events = replay_of(bars)
    snapshot_bids, snapshot_asks = replay.book("BTC-USD")
    book = {("bid", level.price): level.size for level in snapshot_bids}
    book |= {("offer", level.price): level.size for level in snapshot_asks}
    clock.now += 20
    replay.step()
    for tick in ticks(events):
        for change in tick.book_changes:
            if change.size == 0:
                del book[(change.side, change.price)]
            else:
                book[(change.side, change.price)] = change.size
        best_bid = max(price for side, price in book if side == "bid")
        best_ask = min(price for side, price in book if side == "offer")
        assert best_bid < best_ask
        assert (best_bid, best_ask) == (tick.quote.bid, tick.quote.ask)
        assert book[("bid", best_bid)] == tick.quote.bid_size and book[("offer", best_ask)] == tick.quote.ask_size
        assert tick.quote.last == tick.trade.price and tick.quote.bid <= tick.trade.price <= tick.quote.ask
    bids, asks = replay.book("BTC-USD")
    assert book == {(level.side, level.price): level.size for level in (*bids, *asks)}


def test_five_minute_candles_from_the_trades_equal_the_bars_resampled(bars: dict[str, Bars]) -> None:
    replay, clock, events = replay_of(bars)
    for _ in range(60):
        clock.now += 1
        replay.step()  # 60 market minutes, a candle update after every wall second
    last_of_bucket = {e.candle.start: e.candle for e in events if isinstance(e, CandleUpdate)
                      if e.candle.product_id == "BTC-USD"}
    five = resample(bars["BTC-USD"], Granularity.FIVE_MINUTE)
    closed = [start for start in sorted(last_of_bucket) if start + 300 <= replay.market_time]
    assert len(closed) >= 11
    for start in closed:
        row = int(np.searchsorted(five.time, start))
        candle = last_of_bucket[start]
        assert [float(candle.open), float(candle.high), float(candle.low), float(candle.close)] == [
            five.open[row], five.high[row], five.low[row], five.close[row]
        ]
        assert float(candle.volume) == pytest.approx(five.volume[row], abs=5e-8)


def test_candles_are_the_bars_newest_first_up_to_a_partial_forming_bucket(bars: dict[str, Bars]) -> None:
    replay, clock, _ = replay_of(bars)
    clock.now += 10
    replay.step()
    now = replay.market_time
    source = bars["BTC-USD"]
    table = replay.candles("BTC-USD", 60, START - 3600, START + 3600)
    assert (np.diff(table.start) < 0).all(), "newest first"
    assert table.start[0] == int(now) // 60 * 60, "the forming minute comes first"
    closed = source.slice(START - 3600, int(now) // 60 * 60)
    assert np.array_equal(table.start[1:][::-1], closed.time)
    assert np.array_equal(table.close[1:][::-1], closed.close) and np.array_equal(table.volume[1:][::-1], closed.volume)
    row = int(np.searchsorted(source.time, table.start[0]))
    assert table.open[0] == source.open[row] and table.low[0] >= source.low[row] and table.high[0] <= source.high[row]
    assert 0 < table.volume[0] < source.volume[row]

    hourly = replay.candles("BTC-USD", 3600, START - 86_400, START + 86_400)
    first_hour = -(-(START - 86_400) // 3600) * 3600  # buckets opening at or after the start
    full_hours = resample(source.slice(first_hour, int(now) // 3600 * 3600), Granularity.ONE_HOUR)
    assert np.array_equal(hourly.start[1:][::-1], full_hours.time)
    assert np.array_equal(hourly.high[1:][::-1], full_hours.high)
    with pytest.raises(ValueError, match="multiple of 60 s"):
        replay.candles("BTC-USD", 90, START - 900, START)


def test_a_period_without_bars_has_no_candles_and_no_trades(bars: dict[str, Bars]) -> None:
    source = bars["BTC-USD"]
    keep = (source.time < START + 600) | (source.time >= START + 1800)
    gapped = Bars("BTC-USD", source.granularity, *(getattr(source, c)[keep] for c in
                                                   ("time", "open", "high", "low", "close", "volume")))
    replay, clock, events = replay_of({"BTC-USD": gapped})
    clock.now += 45
    replay.step()
    times = np.array([t.trade.time for t in ticks(events)])
    assert not ((times >= START // 60 * 60 + 660) & (times < START + 1800)).any()
    table = replay.candles("BTC-USD", 60, START, START + 2400)
    assert not ((table.start >= START + 600) & (table.start < START + 1800)).any()
    assert (table.start >= START + 1800).any() and (table.start < START + 600).any()


def test_the_market_stops_at_the_end_of_the_data_keeping_its_last_quote(bars: dict[str, Bars]) -> None:
    short = {"BTC-USD": bars["BTC-USD"].slice(None, START + 120)}
    replay, clock, events = replay_of(short)
    clock.now += 60
    replay.step()
    count, quote = len(ticks(events)), replay.quote("BTC-USD")
    clock.now += 60
    replay.step()
    assert len(ticks(events)) == count and replay.quote("BTC-USD") == quote
    assert quote is not None and float(quote.last) == short["BTC-USD"].close[-1]


def test_day_statistics_cover_the_last_24_hours(bars: dict[str, Bars]) -> None:
    replay, clock, _ = replay_of(bars)
    clock.now += 5
    replay.step()
    stats = replay.stats("BTC-USD")
    assert stats is not None
    now = replay.market_time
    minute = int(now) // 60 * 60
    day = bars["BTC-USD"].slice(math.ceil(now - 86_400), minute)
    forming = replay.candles("BTC-USD", 60, minute, minute + 60)
    assert stats.high_24h == max(day.high.max(), forming.high[0])
    assert stats.low_24h == min(day.low.min(), forming.low[0])
    assert stats.volume_24h == pytest.approx(day.volume.sum() + forming.volume[0], rel=1e-12)
    assert stats.open_24h == day.open[0]
    assert stats.high_52w >= stats.high_24h and stats.low_52w <= stats.low_24h


def test_each_product_keeps_its_own_grid(bars: dict[str, Bars]) -> None:
    replay, clock, events = replay_of(bars)
    clock.now += 3
    replay.step()
    doge = ticks(events, "DOGE-USD")
    assert doge
    for tick in doge:
        assert tick.trade.price % Decimal("0.00001") == 0 and tick.trade.size % Decimal("0.1") == 0


def test_a_failing_subscriber_does_not_stop_the_market(bars: dict[str, Bars]) -> None:
    replay, clock, events = replay_of(bars)

    def broken(event: MarketEvent) -> None:
        raise RuntimeError("boom")

    replay.subscribe(broken)
    clock.now += 2
    assert replay.step() > 0 and ticks(events)


def test_text_forms() -> None:
    assert decimal_text(Decimal("65083.70")) == "65083.7"
    assert decimal_text(Decimal("1E-8")) == "0.00000001"
    assert decimal_text(Decimal("126296.00")) == "126296"
    assert decimal_text(0.1 + 0.2) == "0.30000000000000004"
    # Order and account payloads keep the zeros, as Coinbase's do ("10000.50", "100.00").
    assert order_decimal_text(Decimal("10000.50")) == "10000.50" and order_decimal_text(Decimal("1E-8")) == "0.00000001"
    assert rfc3339(1_786_309_548.25) == "2026-08-09T21:05:48.250000000Z"
    assert rfc3339(1_786_309_548.5, 6) == "2026-08-09T21:05:48.500000Z"
    assert rfc3339(0) == "1970-01-01T00:00:00.000000000Z"


def test_an_unknown_products_grid_is_read_from_its_prices() -> None:
    times = np.arange(3) * 60
    prices = np.array([0.12345, 0.1235, 0.12])
    bars = Bars("X-USD", Granularity.ONE_MINUTE, times, prices, prices, prices, prices, np.ones(3))
    assert infer_grid(bars).price == Decimal("0.00001")

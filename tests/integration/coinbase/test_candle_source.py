"""The `coinbase` candle source against a real Coinbase-shaped HTTP server on loopback."""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Iterator

import numpy as np
import pytest

from gpt_trader.coinbase import candles as coinbase_source
from gpt_trader.coinbase.candles import CoinbaseSource
from gpt_trader.coinbase.errors import CoinbaseError
from gpt_trader.coinbase.rest import CoinbaseRestClient
from gpt_trader.coinbase.retry import RetryPolicy
from gpt_trader.market.bars import Bars
from gpt_trader.market.granularity import Granularity
from tests.support.coinbase_server import CoinbaseCandleServer

MINUTE = 60
T0 = 1_712_188_800  # 2024-04-04 00:00 UTC, on every granularity's grid
FAST = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05)


def minute_bars(product_id: str, count: int, missing: tuple[int, ...] = ()) -> Bars:
    """`count` one-minute buckets from T0 with prices that need their decimals, minus `missing` ones."""
    index = np.setdiff1d(np.arange(count), missing)
    close = 66_000 + np.round(np.sin(index / 7) * 250, 2) + 0.01
    return Bars(
        product_id,
        Granularity.ONE_MINUTE,
        T0 + index * MINUTE,
        close - 1.25,
        close + 3.5,
        close - 4.75,
        close,
        np.round(0.5 + index % 11 * 0.12345678, 8),
    )


def assert_same_bars(actual: Bars, expected: Bars) -> None:
    assert actual.product_id == expected.product_id
    assert actual.granularity is expected.granularity
    np.testing.assert_array_equal(actual.time, expected.time)
    for column in ("open", "high", "low", "close", "volume"):
        np.testing.assert_array_equal(getattr(actual, column), getattr(expected, column), err_msg=column)


@pytest.fixture
def btc() -> Bars:
    return minute_bars("BTC-USD", 1000)


@pytest.fixture
def server(btc: Bars) -> Iterator[CoinbaseCandleServer]:
    with CoinbaseCandleServer({"BTC-USD": btc}, now=T0 + 2000 * MINUTE) as running:
        yield running


def source_for(server: CoinbaseCandleServer, **options: object) -> CoinbaseSource:
    return CoinbaseSource(server.url, clock=server.clock, retry=FAST, **options)  # type: ignore[arg-type]


def test_a_thousand_minutes_take_three_requests_of_at_most_350_buckets(
    server: CoinbaseCandleServer, btc: Bars
) -> None:
    calls: list[tuple[int, int]] = []

    bars = source_for(server).fetch(
        "BTC-USD", Granularity.ONE_MINUTE, T0, T0 + 1000 * MINUTE, progress=lambda d, t: calls.append((d, t))
    )

    assert_same_bars(bars, btc)
    requests = server.candle_requests
    assert len(requests) == 3
    windows = sorted((int(r.params["start"]), int(r.params["end"])) for r in requests)
    assert windows[0][0] == T0 and windows[-1][1] == T0 + 1000 * MINUTE
    assert all(low_end == high_start for (_, low_end), (high_start, _) in itertools.pairwise(windows))
    assert all(end - start <= 350 * MINUTE for start, end in windows)
    assert {r.params["granularity"] for r in requests} == {"ONE_MINUTE"}
    assert calls[0] == (0, 3) and calls[-1] == (3, 3)
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)


async def test_candles_arrive_newest_first_as_strings_and_come_out_oldest_first(
    server: CoinbaseCandleServer, btc: Bars
) -> None:
    async with CoinbaseRestClient(server.url) as client:
        candles = await client.candles("BTC-USD", T0, T0 + 10 * MINUTE, Granularity.ONE_MINUTE)
    assert [c.start for c in candles] == [T0 + i * MINUTE for i in range(9, -1, -1)]
    assert candles[-1].close == btc.close[0] and candles[-1].volume == btc.volume[0]

    bars = source_for(server).fetch("BTC-USD", Granularity.ONE_MINUTE, T0, T0 + 10 * MINUTE)
    assert_same_bars(bars, btc[:10])


def test_gaps_stay_gaps_and_an_unaligned_range_keeps_only_whole_buckets_inside_it() -> None:
    gappy = minute_bars("ETH-USD", 400, missing=(0, 5, 6, 7, 349, 350, 351))
    with CoinbaseCandleServer({"ETH-USD": gappy}, now=T0 + 10_000 * MINUTE) as server:
        bars = source_for(server).fetch("ETH-USD", Granularity.ONE_MINUTE, T0 - 30, T0 + 400 * MINUTE + 1)
    assert_same_bars(bars, gappy)
    assert len(bars) == 393
    assert not np.isin(T0 + np.array([0, 5, 6, 7, 349, 350, 351]) * MINUTE, bars.time).any()


async def test_the_bucket_still_forming_is_dropped(btc: Bars) -> None:
    now = T0 + 500 * MINUTE + 30
    with CoinbaseCandleServer({"BTC-USD": btc}, now=now) as server:
        async with CoinbaseRestClient(server.url) as client:
            served = await client.candles("BTC-USD", T0 + 490 * MINUTE, T0 + 510 * MINUTE, "ONE_MINUTE")
        assert served[0].start == T0 + 500 * MINUTE, "the server sends the forming bucket"
        server.clear_requests()

        bars = await source_for(server).fetch_async("BTC-USD", Granularity.ONE_MINUTE, T0, T0 + 1000 * MINUTE)

        assert_same_bars(bars, btc[:500])
        assert max(int(r.params["end"]) for r in server.candle_requests) <= T0 + 500 * MINUTE


def test_a_range_entirely_in_the_future_makes_no_request(server: CoinbaseCandleServer) -> None:
    bars = source_for(server).fetch("BTC-USD", Granularity.ONE_MINUTE, T0 + 3000 * MINUTE, T0 + 3100 * MINUTE)
    assert len(bars) == 0 and bars.product_id == "BTC-USD"
    assert server.candle_requests == []


def test_429_waits_as_long_as_retry_after_says(server: CoinbaseCandleServer, btc: Bars) -> None:
    server.fail_next(429, count=1, retry_after=1)
    began = time.monotonic()
    bars = source_for(server).fetch("BTC-USD", Granularity.ONE_MINUTE, T0, T0 + 100 * MINUTE)
    waited = time.monotonic() - began

    assert_same_bars(bars, btc[:100])
    assert [r.status for r in server.requests] == [429, 200]
    assert waited >= 0.95


def test_503_is_retried_until_it_passes(server: CoinbaseCandleServer, btc: Bars) -> None:
    server.fail_next(503, count=2)
    bars = source_for(server).fetch("BTC-USD", Granularity.ONE_MINUTE, T0, T0 + 100 * MINUTE)
    assert_same_bars(bars, btc[:100])
    assert [r.status for r in server.requests] == [503, 503, 200]


def test_persistent_500_gives_up_after_the_bounded_attempts(server: CoinbaseCandleServer) -> None:
    server.fail_next(500, count=10)
    with pytest.raises(CoinbaseError) as raised:
        source_for(server).fetch("BTC-USD", Granularity.ONE_MINUTE, T0, T0 + 100 * MINUTE)
    assert raised.value.status == 500 and raised.value.code == "INTERNAL"
    assert "3 attempts" in str(raised.value)
    assert len(server.requests) == FAST.attempts


def test_unknown_product_is_a_404_not_retried(server: CoinbaseCandleServer) -> None:
    with pytest.raises(CoinbaseError) as raised:
        source_for(server).fetch("NOPE-USD", Granularity.ONE_MINUTE, T0, T0 + 100 * MINUTE)
    error = raised.value
    assert (error.status, error.code) == (404, "NOT_FOUND")
    assert "NOPE-USD" in error.message and "NOPE-USD" in str(error)
    assert len(server.requests) == 1


async def test_too_wide_a_window_is_a_400_not_retried(server: CoinbaseCandleServer) -> None:
    async with CoinbaseRestClient(server.url, retry=FAST) as client:
        with pytest.raises(CoinbaseError) as raised:
            await client.candles("BTC-USD", T0, T0 + 351 * MINUTE, Granularity.ONE_MINUTE)
    assert (raised.value.status, raised.value.code) == (400, "INVALID_ARGUMENT")
    assert "350" in raised.value.message
    assert len(server.requests) == 1


async def test_the_public_endpoint_refuses_four_hour_candles(server: CoinbaseCandleServer) -> None:
    async with CoinbaseRestClient(server.url, retry=FAST) as client:
        with pytest.raises(CoinbaseError) as raised:
            await client.candles("BTC-USD", T0, T0 + 10 * 14_400, "FOUR_HOUR")
    assert (raised.value.status, raised.value.code) == (400, "INVALID_ARGUMENT")
    assert server.requests[0].params["granularity"] == "FOUR_HOUR"
    assert len(server.requests) == 1


def test_matic_is_requested_as_pol_but_keeps_its_name(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(coinbase_source, "_renames_announced", set())
    pol = minute_bars("POL-USD", 50)
    with CoinbaseCandleServer({"POL-USD": pol}, now=T0 + 100 * MINUTE) as server:
        source = source_for(server)
        with caplog.at_level(logging.WARNING, logger="gpt_trader"):
            first = source.fetch("MATIC-USD", Granularity.ONE_MINUTE, T0, T0 + 50 * MINUTE)
            source.fetch("MATIC-USD", Granularity.ONE_MINUTE, T0, T0 + 50 * MINUTE)

    assert first.product_id == "MATIC-USD"
    np.testing.assert_array_equal(first.close, pol.close)
    assert {r.path for r in server.candle_requests} == {"/api/v3/brokerage/market/products/POL-USD/candles"}
    warnings = [r for r in caplog.records if "MATIC-USD" in r.getMessage()]
    assert len(warnings) == 1 and "POL-USD" in warnings[0].getMessage()


def test_products_lists_the_spot_ids(btc: Bars) -> None:
    eth = minute_bars("ETH-USD", 10)
    with CoinbaseCandleServer({"BTC-USD": btc, "ETH-USD": eth}, now=T0 + 2000 * MINUTE) as server:
        assert source_for(server).products() == ["BTC-USD", "ETH-USD"]
        assert server.requests[0].params == {"product_type": "SPOT"}


def test_the_rest_url_setting_points_the_source_at_another_server(
    server: CoinbaseCandleServer, btc: Bars, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GPT_TRADER_COINBASE_REST_URL", server.url)
    bars = CoinbaseSource(clock=server.clock).fetch("BTC-USD", Granularity.ONE_MINUTE, T0, T0 + 5 * MINUTE)
    assert_same_bars(bars, btc[:5])
    assert len(server.candle_requests) == 1


async def test_the_sync_fetch_also_works_inside_a_running_event_loop(
    server: CoinbaseCandleServer, btc: Bars
) -> None:
    bars = source_for(server).fetch("BTC-USD", Granularity.ONE_MINUTE, T0, T0 + 5 * MINUTE)
    assert_same_bars(bars, btc[:5])


def test_one_rate_limiter_paces_every_fetch_of_a_source(server: CoinbaseCandleServer) -> None:
    from gpt_trader.coinbase.ratelimit import TokenBucket

    source = source_for(server, limiter=TokenBucket(rate=20, capacity=1))
    began = time.monotonic()
    for _ in range(3):
        source.fetch("BTC-USD", Granularity.ONE_MINUTE, T0, T0 + 1000 * MINUTE)
    elapsed = time.monotonic() - began
    assert len(server.candle_requests) == 9
    assert elapsed >= 8 / 20 - 0.02


def test_one_failed_page_fails_the_fetch_cleanly(
    server: CoinbaseCandleServer, caplog: pytest.LogCaptureFixture
) -> None:
    server.fail_next(403)
    with caplog.at_level(logging.ERROR, logger="asyncio"), pytest.raises(CoinbaseError) as raised:
        source_for(server).fetch("BTC-USD", Granularity.ONE_MINUTE, T0, T0 + 1000 * MINUTE)
    assert (raised.value.status, raised.value.code) == (403, "FORBIDDEN")
    assert not [r for r in caplog.records if r.name == "asyncio"], "no page task is left unawaited"

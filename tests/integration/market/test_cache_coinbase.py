"""CandleCache in front of the real `coinbase` source, talking to a Coinbase-shaped server on loopback."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from gpt_trader.coinbase.candles import CoinbaseSource
from gpt_trader.coinbase.errors import CoinbaseError
from gpt_trader.coinbase.retry import RetryPolicy
from gpt_trader.market.bars import Bars
from gpt_trader.market.cache import CandleCache
from gpt_trader.market.granularity import Granularity
from gpt_trader.market.load import load_bars
from tests.support.coinbase_server import CoinbaseCandleServer

H1 = Granularity.ONE_HOUR
HOUR = 3_600
DAY = 86_400
T0 = 1_712_188_800  # 2024-04-04 00:00 UTC
NOW = T0 + 60 * DAY
FAST = RetryPolicy(attempts=2, base_delay=0.01, max_delay=0.02)
ABSENT = (T0 + 5 * HOUR, T0 + 6 * HOUR)


class RevisableMarket:
    """Hourly candles of any product, without trades at `ABSENT` times.

    Raising `revision` moves every price by that much: the exchange restating its candles, so a test
    can tell which bars the cache fetched again.
    """

    def __init__(self) -> None:
        self.revision = 0

    def fetch(self, product_id: str, granularity: Granularity, start: int, end: int) -> Bars:
        step = granularity.seconds
        times = np.arange(-(-start // step) * step, end, step, dtype=np.int64)
        times = times[~np.isin(times, ABSENT)]
        close = 100.25 + (times // step) % 29 + self.revision
        return Bars(product_id, granularity, times, close - 0.5, close + 1, close - 1, close, close / 64)


@pytest.fixture
def market() -> RevisableMarket:
    return RevisableMarket()


@pytest.fixture
def server(market: RevisableMarket) -> Iterator[CoinbaseCandleServer]:
    with CoinbaseCandleServer(market, now=NOW + 1800, products=["BTC-USD", "ETH-USD"]) as running:
        yield running


@pytest.fixture
def cache(tmp_path: Path, server: CoinbaseCandleServer) -> CandleCache:
    return CandleCache(tmp_path, ttl_seconds=600, clock=server.clock)


@pytest.fixture
def coinbase(server: CoinbaseCandleServer) -> CoinbaseSource:
    return CoinbaseSource(server.url, clock=server.clock, retry=FAST)


def requested(server: CoinbaseCandleServer) -> list[tuple[int, int]]:
    """The [start, end) windows of the candle requests since the last call, oldest first."""
    windows = sorted((int(r.params["start"]), int(r.params["end"])) for r in server.candle_requests)
    server.clear_requests()
    return windows


def same(left: Bars, right: Bars) -> bool:
    return len(left) == len(right) and left.fingerprint() == right.fingerprint()


def test_an_incremental_fetch_asks_only_for_the_missing_range(
    cache: CandleCache, coinbase: CoinbaseSource, server: CoinbaseCandleServer, market: RevisableMarket
) -> None:
    first = cache.get(coinbase, "BTC-USD", H1, T0, T0 + 10 * DAY)
    assert requested(server) == [(T0, T0 + 10 * DAY)]
    assert len(first) == 240 - len(ABSENT)

    cache.get(coinbase, "BTC-USD", H1, T0, T0 + 20 * DAY)
    assert requested(server) == [(T0 + 10 * DAY, T0 + 20 * DAY)]

    widest = cache.get(coinbase, "BTC-USD", H1, T0 - 5 * DAY, T0 + 25 * DAY)
    assert requested(server) == [(T0 - 5 * DAY, T0), (T0 + 20 * DAY, T0 + 25 * DAY)]
    assert same(widest, market.fetch("BTC-USD", H1, T0 - 5 * DAY, T0 + 25 * DAY))

    inside = cache.get(coinbase, "BTC-USD", H1, T0 + 2 * DAY, T0 + 3 * DAY)
    assert requested(server) == []
    assert len(inside) == 24
    folder = cache.path(coinbase.name, "BTC-USD", H1).parent
    assert sorted(path.name for path in folder.iterdir()) == ["BTC-USD.parquet"]


def test_after_the_ttl_only_the_recent_part_is_fetched_again(
    cache: CandleCache, coinbase: CoinbaseSource, server: CoinbaseCandleServer, market: RevisableMarket
) -> None:
    server.now = NOW + 100  # 100 s into the hour that is forming
    window = (NOW - DAY, NOW + DAY)
    cache.get(coinbase, "BTC-USD", H1, *window)
    assert requested(server) == [(NOW - DAY, NOW)]  # the forming hour is not served yet
    market.revision = 1

    server.now += 300  # within the 600 s TTL
    within = cache.get(coinbase, "BTC-USD", H1, *window)
    assert requested(server) == []
    assert within.close[-1] == market.fetch("BTC-USD", H1, NOW - HOUR, NOW).close[0] - 1

    server.now += 400  # 700 s after the fetch
    refreshed = cache.get(coinbase, "BTC-USD", H1, *window)
    assert requested(server) == [(NOW - HOUR, NOW)]  # the hour that had just closed, nothing older
    current = market.fetch("BTC-USD", H1, NOW - DAY, NOW)
    assert refreshed.close[-1] == current.close[-1]
    np.testing.assert_array_equal(refreshed.close[:-1], current.close[:-1] - 1)

    server.now = NOW + HOUR + 100  # the hour that was forming has closed
    later = cache.get(coinbase, "BTC-USD", H1, *window)
    assert requested(server) == [(NOW - HOUR, NOW + HOUR)]
    assert later.time[-1] == NOW


def test_a_truncated_cache_file_is_recovered_by_fetching_again(
    cache: CandleCache,
    coinbase: CoinbaseSource,
    server: CoinbaseCandleServer,
    market: RevisableMarket,
    caplog: pytest.LogCaptureFixture,
) -> None:
    cache.get(coinbase, "BTC-USD", H1, T0, T0 + 10 * DAY)
    path = cache.path(coinbase.name, "BTC-USD", H1)
    path.write_bytes(path.read_bytes()[:-200])
    requested(server)

    with caplog.at_level(logging.WARNING, logger="gpt_trader.market.cache"):
        bars = cache.get(coinbase, "BTC-USD", H1, T0, T0 + 10 * DAY)

    assert any(str(path) in record.getMessage() for record in caplog.records)
    assert requested(server) == [(T0, T0 + 10 * DAY)]
    assert same(bars, market.fetch("BTC-USD", H1, T0, T0 + 10 * DAY))
    assert path.with_name("BTC-USD.parquet.corrupt").exists()
    assert cache.read(coinbase.name, "BTC-USD", H1) is not None


def test_a_failed_fetch_keeps_what_was_cached_and_the_next_one_asks_only_for_the_rest(
    cache: CandleCache, coinbase: CoinbaseSource, server: CoinbaseCandleServer
) -> None:
    cache.get(coinbase, "BTC-USD", H1, T0, T0 + 10 * DAY)
    before = cache.path(coinbase.name, "BTC-USD", H1).read_bytes()
    requested(server)
    server.fail_next(500, count=FAST.attempts)
    with pytest.raises(CoinbaseError):
        cache.get(coinbase, "BTC-USD", H1, T0, T0 + 12 * DAY)
    assert cache.path(coinbase.name, "BTC-USD", H1).read_bytes() == before
    requested(server)

    cache.get(coinbase, "BTC-USD", H1, T0, T0 + 12 * DAY)
    assert requested(server) == [(T0 + 10 * DAY, T0 + 12 * DAY)]


def test_load_bars_fetches_each_product_once_with_progress_then_reads_the_cache(
    cache: CandleCache, coinbase: CoinbaseSource, server: CoinbaseCandleServer
) -> None:
    seen: dict[str, list[tuple[int, int]]] = {}

    def progress(product: str, done: int, total: int) -> None:
        seen.setdefault(product, []).append((done, total))

    span = ("2024-04-04", "2024-05-15T16:00:00Z")  # 1,000 hours: three requests of at most 350
    loaded = load_bars(
        ["btc-usd", "ETH-USD"], "1h", *span, source=coinbase, gaps="fill-flat", progress=progress, cache=cache
    )

    assert list(loaded) == ["BTC-USD", "ETH-USD"]
    assert {product: calls[-1] for product, calls in seen.items()} == {"BTC-USD": (3, 3), "ETH-USD": (3, 3)}
    btc = loaded["BTC-USD"]
    assert len(btc) == 1000 and btc.synthetic is not None
    assert list(btc.time[np.flatnonzero(btc.synthetic)]) == list(ABSENT)
    assert len(requested(server)) == 6

    again = load_bars(["BTC-USD", "ETH-USD"], "1h", *span, source=coinbase, cache=cache)
    assert requested(server) == []
    assert len(again["BTC-USD"]) == 1000 - len(ABSENT)

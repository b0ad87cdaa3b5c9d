"""A source that holds less history than asked: an error naming what it holds, and nothing cached.

The `coinbase` source talks to a Coinbase-shaped server on loopback whose candles begin 16 days after the
start asked for, as a sandbox serving 14 days of history answers a 30-day backtest.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gpt_trader.coinbase.candles import CoinbaseSource
from gpt_trader.coinbase.retry import RetryPolicy
from gpt_trader.errors import DataError
from gpt_trader.market.bars import Bars
from gpt_trader.market.cache import CandleCache
from gpt_trader.market.granularity import Granularity
from gpt_trader.market.load import load_bars
from tests.support.coinbase_server import CoinbaseCandleServer

H1 = Granularity.ONE_HOUR
HOUR = 3_600
DAY = 86_400
T0 = 1_712_188_800  # 2024-04-04 00:00 UTC
NOW = T0 + 30 * DAY
FAST = RetryPolicy(attempts=2, base_delay=0.01, max_delay=0.02)


def hourly(product_id: str, start: int, end: int, missing: tuple[int, ...] = ()) -> Bars:
    times = np.arange(start, end, HOUR, dtype=np.int64)
    times = times[~np.isin(times, missing)]
    close = 100.0 + (times // HOUR) % 17
    return Bars(product_id, H1, times, close - 0.5, close + 1, close - 1, close, close / 8)


def load(server: CoinbaseCandleServer, cache: CandleCache, start: int) -> Bars:
    source = CoinbaseSource(server.url, clock=server.clock, retry=FAST)
    return load_bars("BTC-USD", H1, start, NOW, source=source, cache=cache)["BTC-USD"]


def test_a_short_answer_is_an_error_naming_what_the_source_holds_and_nothing_is_cached(tmp_path: Path) -> None:
    served_from = T0 + 16 * DAY
    cache = CandleCache(tmp_path, clock=lambda: NOW)
    with CoinbaseCandleServer({"BTC-USD": hourly("BTC-USD", served_from, NOW)}, now=NOW) as server:
        with pytest.raises(DataError) as raised:
            load(server, cache, T0)
        assert cache.entries() == [], "a short answer is not remembered as the whole truth about its range"
        from_then_on = load(server, cache, served_from)
    message = str(raised.value)
    assert f"coinbase-127.0.0.1-{server.url.rsplit(':', 1)[1]}" in message
    assert "BTC-USD 1h candles from 2024-04-20T00:00:00Z on" in message and "(2024-04-04T00:00:00Z)" in message
    assert "16.0 days" in message and "--start 2024-04-20" in message
    assert len(from_then_on) == 14 * 24


def test_the_same_range_loads_once_the_source_holds_the_history(tmp_path: Path) -> None:
    cache = CandleCache(tmp_path, clock=lambda: NOW)
    short_history = {"BTC-USD": hourly("BTC-USD", T0 + 16 * DAY, NOW)}
    with CoinbaseCandleServer(short_history, now=NOW) as short, pytest.raises(DataError):
        load(short, cache, T0)
    with CoinbaseCandleServer({"BTC-USD": hourly("BTC-USD", T0, NOW)}, now=NOW) as full:
        bars = load(full, cache, T0)
    assert bars.start == T0 and len(bars) == 30 * 24


def test_a_quiet_first_hours_and_gaps_inside_are_gaps_not_a_short_answer(tmp_path: Path) -> None:
    quiet = (T0, T0 + HOUR, T0 + 2 * HOUR, T0 + 10 * DAY, T0 + 10 * DAY + HOUR)
    cache = CandleCache(tmp_path, clock=lambda: NOW)
    with CoinbaseCandleServer({"BTC-USD": hourly("BTC-USD", T0, NOW, quiet)}, now=NOW) as server:
        bars = load(server, cache, T0)
    assert bars.start == T0 + 3 * HOUR and len(bars) == 30 * 24 - len(quiet)


def test_history_asked_for_before_what_is_cached_is_checked_too(tmp_path: Path) -> None:
    cache = CandleCache(tmp_path, clock=lambda: NOW)
    with CoinbaseCandleServer({"BTC-USD": hourly("BTC-USD", T0 + 16 * DAY, NOW)}, now=NOW) as server:
        cached = load(server, cache, T0 + 20 * DAY)
        with pytest.raises(DataError, match="from 2024-04-20T00:00:00Z on"):
            load(server, cache, T0)
    assert len(cached) == 10 * 24
    assert [entry.covered_start for entry in cache.entries()] == [T0 + 20 * DAY], "the cached range is unchanged"

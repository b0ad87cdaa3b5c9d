"""Candles from Coinbase Advanced Trade's public REST endpoint, paged and merged into Bars.

`market.sources.open_source("coinbase")` opens this source through `open_coinbase_source`, which it finds by
module path: the venue-neutral `market/` package never imports `coinbase/`.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from gpt_trader.coinbase import constants
from gpt_trader.coinbase.parse import Candle
from gpt_trader.coinbase.ratelimit import TokenBucket
from gpt_trader.coinbase.rest import CoinbaseRestClient, run_sync, venue_name
from gpt_trader.coinbase.rest import rest_url as rest_url_in_force
from gpt_trader.coinbase.retry import RetryPolicy
from gpt_trader.market.bars import Bars
from gpt_trader.market.granularity import Granularity
from gpt_trader.market.sources.base import Progress

if TYPE_CHECKING:
    from gpt_trader.config import Settings

log = logging.getLogger(__name__)

_renames_announced: set[str] = set()
_renames_lock = threading.Lock()


class CoinbaseSource:
    """The `coinbase` Source: public candles, no key needed.

    A fetch is split into windows of at most 350 buckets (oldest first), requested concurrently
    as fast as the rate limiter allows (one limiter per source, shared by all its fetches), then
    merged oldest first. The bucket still forming at `clock()` is never returned: it would change
    after being cached. `rest_url` defaults to the `coinbase_rest_url` setting, else production.
    """

    def __init__(
        self,
        rest_url: str | None = None,
        *,
        retry: RetryPolicy | None = None,
        limiter: TokenBucket | None = None,
        max_in_flight: int = 4,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.rest_url = rest_url
        self.url = rest_url_in_force(rest_url)
        """The REST base URL candles are fetched from."""
        self.name = venue_name(self.url)
        """`coinbase`, or `coinbase-HOST-PORT` for another server (a sandbox), so their caches never mix."""
        self.retry = retry
        self.limiter = limiter or TokenBucket(constants.PUBLIC_REQUESTS_PER_SECOND)
        self.max_in_flight = max_in_flight
        self.clock = clock

    def fetch(
        self,
        product_id: str,
        granularity: Granularity,
        start: int,
        end: int,
        progress: Progress | None = None,
    ) -> Bars:
        """Closed bars with open time in [start, end), oldest first; gaps stay gaps.

        `progress(done, total)` counts requests.
        """
        return run_sync(self.fetch_async(product_id, granularity, start, end, progress))

    async def fetch_async(
        self,
        product_id: str,
        granularity: Granularity,
        start: int,
        end: int,
        progress: Progress | None = None,
    ) -> Bars:
        seconds = granularity.seconds
        first = -(-int(start) // seconds) * seconds
        forming = int(self.clock()) // seconds * seconds
        stop = min(int(end), forming)
        windows = candle_windows(first, stop, seconds)
        remote_id = listed_name(product_id)
        pages: list[list[Candle]] = []
        if windows:
            pages = await self._fetch_pages(remote_id, granularity, windows, progress)
        return merge_candles(product_id, granularity, pages, first, stop)

    async def _fetch_pages(
        self,
        remote_id: str,
        granularity: Granularity,
        windows: list[tuple[int, int]],
        progress: Progress | None,
    ) -> list[list[Candle]]:
        done = 0
        if progress:
            progress(0, len(windows))
        in_flight = asyncio.Semaphore(self.max_in_flight)

        async def page(client: CoinbaseRestClient, window: tuple[int, int]) -> list[Candle]:
            nonlocal done
            async with in_flight:
                candles = await client.candles(remote_id, window[0], window[1], granularity)
            done += 1
            if progress:
                progress(done, len(windows))
            return candles

        async with self._client() as client:
            tasks = [asyncio.create_task(page(client, window)) for window in windows]
            try:
                return list(await asyncio.gather(*tasks))
            except BaseException:
                # One failed page fails the fetch: stop the others before the client closes under them.
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                raise

    def products(self) -> list[str]:
        """Ids of the spot products Coinbase lists."""
        return run_sync(self._spot_products())

    async def _spot_products(self) -> list[str]:
        async with self._client() as client:
            return [p.product_id for p in await client.products(product_type=constants.SPOT)]

    def _client(self) -> CoinbaseRestClient:
        return CoinbaseRestClient(self.rest_url, limiter=self.limiter, retry=self.retry)


def open_coinbase_source(settings: Settings) -> CoinbaseSource:
    """The `coinbase` source of `--source coinbase`, at the `coinbase_rest_url` setting (else production)."""
    return CoinbaseSource(rest_url=settings.coinbase_rest_url)


def candle_windows(first: int, stop: int, seconds: int) -> list[tuple[int, int]]:
    """[start, end) windows covering [first, stop), oldest first, each at most 350 buckets long."""
    span = constants.MAX_CANDLES_PER_REQUEST * seconds
    return [(low, min(low + span, stop)) for low in range(first, stop, span)]


def merge_candles(
    product_id: str, granularity: Granularity, pages: list[list[Candle]], first: int, stop: int
) -> Bars:
    """One product's pages of candles (any order, overlaps allowed) as Bars in [first, stop), oldest first."""
    candles = [candle for page in pages for candle in page]
    times = np.array([c.start for c in candles], dtype=np.int64)
    values = np.array([(c.open, c.high, c.low, c.close, c.volume) for c in candles], dtype=np.float64)
    inside = (times >= first) & (times < stop)
    # np.unique sorts ascending and keeps one candle per open time.
    times, keep = np.unique(times[inside], return_index=True)
    open_, high, low, close, volume = values.reshape(-1, 5)[inside][keep].T
    return Bars(product_id, granularity, times, open_, high, low, close, volume)


def listed_name(product_id: str) -> str:
    """The id Coinbase lists `product_id` under (MATIC-USD is POL-USD), saying so once per process."""
    renamed = constants.RENAMED_PRODUCTS.get(product_id)
    if renamed is None:
        return product_id
    with _renames_lock:
        first_time = product_id not in _renames_announced
        _renames_announced.add(product_id)
    if first_time:
        log.warning(
            "Coinbase no longer lists %s; requesting %s instead (the same market under its new name). "
            "The bars keep the name %s.",
            product_id,
            renamed,
            product_id,
        )
    return renamed


"""An async client of Coinbase Advanced Trade REST: paced, retried, typed.

Every request goes through `CoinbaseRestClient.request`, which paces it with a token bucket,
signs it with the optional `auth` hook (authenticated endpoints plug in there), retries what is
safe to retry and turns failures into `CoinbaseError` or `CoinbaseUnavailable`::

    async with CoinbaseRestClient() as client:
        candles = await client.candles("BTC-USD", start, end, Granularity.ONE_HOUR)

Synchronous callers wrap a coroutine in `run_sync`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from collections.abc import Callable, Coroutine, Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import quote

import httpx

from gpt_trader.coinbase import constants
from gpt_trader.coinbase.errors import CoinbaseError, CoinbaseUnavailable
from gpt_trader.coinbase.parse import (
    Candle,
    Product,
    ProductBook,
    ServerTime,
    Ticker,
    decode_candles,
    decode_json,
    parse_product,
    parse_product_book,
    parse_products,
    parse_server_time,
    parse_ticker,
)
from gpt_trader.coinbase.ratelimit import TokenBucket
from gpt_trader.coinbase.retry import RetryPolicy, retry_after_seconds, should_retry
from gpt_trader.config import load_settings
from gpt_trader.market.granularity import Granularity

log = logging.getLogger(__name__)

T = TypeVar("T")

AuthHook = Callable[[str, str, str], Mapping[str, str]]
"""auth(method, host_with_port, path) -> headers; called once per attempt (a fresh JWT each time).
`path` is the full URL path without the query string, e.g. `/api/v3/brokerage/accounts`."""

Params = Mapping[str, str | int | Sequence[str] | None]


def rest_url(configured: str | None = None) -> str:
    """The REST base URL in force: `configured`, else the `coinbase_rest_url` setting, else production."""
    if configured:
        return configured
    return load_settings().coinbase_rest_url or constants.REST_URL


def api_root(base_url: str) -> str:
    """`base_url` with the `/api/v3/brokerage` prefix, whether or not it was given with it."""
    root = base_url.rstrip("/")
    return root if root.endswith(constants.API_PREFIX) else root + constants.API_PREFIX


def granularity_name(granularity: Granularity | str) -> str:
    """Coinbase's enum name for a granularity (`ONE_HOUR`); a name given as text passes through."""
    if isinstance(granularity, str):
        if granularity not in constants.GRANULARITY_SECONDS:
            raise ValueError(f"Coinbase has no granularity {granularity!r}")
        return granularity
    for name, seconds in constants.GRANULARITY_SECONDS.items():
        if seconds == granularity.seconds:
            return name
    raise ValueError(f"Coinbase has no granularity of {granularity.seconds} seconds")


class CoinbaseRestClient:
    """Coinbase REST over one pooled HTTP connection set. Use as `async with`, or call `aclose()`.

    `base_url` defaults to the configured `coinbase_rest_url`, else production; it may be given
    with or without the `/api/v3/brokerage` prefix. `limiter` paces requests (default: the
    public limit, per client); `retry` bounds the retries.
    """

    def __init__(
        self,
        base_url: str | None = None,
        *,
        auth: AuthHook | None = None,
        limiter: TokenBucket | None = None,
        retry: RetryPolicy | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.root = api_root(rest_url(base_url))
        url = httpx.URL(self.root)
        self.host = url.netloc.decode("ascii")
        self.auth = auth
        self.limiter = limiter or TokenBucket(constants.PUBLIC_REQUESTS_PER_SECOND)
        self.retry = retry or RetryPolicy()
        self.timeout = timeout
        self._http = httpx.AsyncClient(timeout=timeout, headers={"Accept": "application/json"})

    async def __aenter__(self) -> CoinbaseRestClient:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def request(
        self,
        method: str,
        path: str,
        params: Params | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> bytes:
        """The body of a successful answer to `method path` (a path below `/api/v3/brokerage`).

        Retries 429 (after its `Retry-After` when given), and for GETs also 5xx and network
        failures, with exponential backoff; other errors are raised at once.
        """
        url = self.root + path
        url_path = httpx.URL(url).path
        query = {key: value for key, value in (params or {}).items() if value is not None}
        idempotent = method.upper() == "GET"
        description = f"{method} {url_path}"
        attempt = 0
        while True:
            attempt += 1
            last = attempt >= self.retry.attempts
            await self.limiter.acquire()
            headers = dict(self.auth(method, self.host, url_path)) if self.auth else None
            try:
                response = await self._http.request(method, url, params=query, json=body, headers=headers)
            except httpx.TransportError as error:
                reason = _describe(error, self.timeout)
                if last or not idempotent:
                    tries = f" ({attempt} attempts)" if attempt > 1 else ""
                    raise CoinbaseUnavailable(self.root, reason + tries) from None
                delay = self.retry.backoff(attempt)
                log.info("%s failed (%s); retry %d in %.1f s", description, reason, attempt, delay)
                await asyncio.sleep(delay)
                continue
            if response.is_success:
                return response.content
            failure = CoinbaseError.from_response(
                response.status_code, response.reason_phrase, response.text, request=description
            )
            if not should_retry(response.status_code, idempotent):
                raise failure
            if last:
                raise failure.with_note(f"gave up after {attempt} attempts")
            await self._pause_before_retry(failure, response.headers.get("Retry-After"), attempt)

    async def _pause_before_retry(
        self, failure: CoinbaseError, retry_after: str | None, attempt: int
    ) -> None:
        asked = retry_after_seconds(retry_after)
        if asked is not None and asked > self.retry.max_retry_after:
            raise failure.with_note(f"Coinbase asks to wait {asked:g} s before trying again")
        delay = asked if asked is not None else self.retry.backoff(attempt)
        log.info("%s answered %d; retry %d in %.1f s", failure.request, failure.status, attempt, delay)
        if failure.status == 429:
            # A rate limit applies to every request of this client, not only to the refused one.
            self.limiter.hold(delay)
        else:
            await asyncio.sleep(delay)

    async def get_json(self, path: str, what: str, params: Params | None = None) -> dict[str, Any]:
        return decode_json(await self.request("GET", path, params), what)

    # -- public market endpoints -----------------------------------------------------------------

    async def server_time(self) -> ServerTime:
        return parse_server_time(await self.get_json(constants.TIME_PATH, "server time"))

    async def products(
        self,
        *,
        product_type: str | None = None,
        product_ids: Sequence[str] | None = None,
        limit: int | None = None,
        offset: int | None = None,
        get_all_products: bool | None = None,
    ) -> list[Product]:
        """Listed products; with no `limit`, one answer holds them all."""
        params: Params = {
            "product_type": product_type,
            "product_ids": list(product_ids) if product_ids is not None else None,
            "limit": limit,
            "offset": offset,
            "get_all_products": None if get_all_products is None else str(get_all_products).lower(),
        }
        return parse_products(await self.get_json(constants.PUBLIC_PRODUCTS_PATH, "products list", params))

    async def product(self, product_id: str) -> Product:
        path = constants.PUBLIC_PRODUCT_PATH.format(product_id=_segment(product_id))
        return parse_product(await self.get_json(path, f"product {product_id}"))

    async def candles(
        self, product_id: str, start: int, end: int, granularity: Granularity | str
    ) -> list[Candle]:
        """Candles with open time in the window (at most 350 buckets), as sent: newest first, gaps absent."""
        path = constants.PUBLIC_CANDLES_PATH.format(product_id=_segment(product_id))
        params: Params = {
            "start": str(int(start)),
            "end": str(int(end)),
            "granularity": granularity_name(granularity),
        }
        return decode_candles(await self.request("GET", path, params))

    async def ticker(self, product_id: str, limit: int) -> Ticker:
        """The last `limit` trades (newest first) and the best bid and ask."""
        path = constants.PUBLIC_TICKER_PATH.format(product_id=_segment(product_id))
        return parse_ticker(await self.get_json(path, f"ticker of {product_id}", {"limit": str(limit)}))

    async def product_book(self, product_id: str, limit: int | None = None) -> ProductBook:
        params: Params = {"product_id": product_id, "limit": None if limit is None else str(limit)}
        document = await self.get_json(constants.PUBLIC_PRODUCT_BOOK_PATH, f"book of {product_id}", params)
        return parse_product_book(document)


def run_sync(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run `coroutine` to completion from synchronous code, even inside a running event loop.

    Inside a loop (a notebook, an async test) it runs on a fresh loop in a worker thread, since
    a loop cannot block on itself.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def _segment(product_id: str) -> str:
    return quote(product_id, safe="")


def _describe(error: httpx.TransportError, timeout: float) -> str:
    if isinstance(error, httpx.TimeoutException):
        return f"no answer within {timeout:g} s"
    return str(error) or type(error).__name__

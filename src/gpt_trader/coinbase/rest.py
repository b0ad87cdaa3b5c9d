"""An async client of Coinbase Advanced Trade REST: paced, retried, typed.

Every request goes through `CoinbaseRestClient.request`, which paces it with a token bucket,
signs it with the optional `auth` hook (authenticated endpoints plug in there), retries what is
safe to retry and turns failures into `CoinbaseError` or `CoinbaseUnavailable`::

    async with CoinbaseRestClient() as client:
        candles = await client.candles("BTC-USD", start, end, Granularity.ONE_HOUR)

    async with CoinbaseRestClient(auth=auth_hook(load_key())) as client:
        order = await client.limit_order_gtc(str(uuid4()), "BTC-USD", "BUY", Decimal("0.001"), Decimal("50000"))

Synchronous callers wrap a coroutine in `run_sync`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import re
import ssl
from collections.abc import Callable, Coroutine, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import quote

import httpx

from gpt_trader.coinbase import constants
from gpt_trader.coinbase.auth import MISSING_KEY_HELP
from gpt_trader.coinbase.errors import CoinbaseError, CoinbaseUnavailable, MalformedResponse
from gpt_trader.coinbase.orders import (
    Account,
    AccountsPage,
    CancelResult,
    CreatedOrder,
    FillsPage,
    Order,
    OrderNotPlaced,
    OrderOutcomeUnknown,
    OrderPreview,
    OrdersPage,
    TransactionSummary,
    limit_gtc_configuration,
    market_configuration,
    parse_account,
    parse_accounts,
    parse_cancel_results,
    parse_created_order,
    parse_fills,
    parse_order,
    parse_order_preview,
    parse_orders,
    parse_transaction_summary,
)
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
from gpt_trader.errors import ConfigError, UserError
from gpt_trader.market.granularity import Granularity

log = logging.getLogger(__name__)

T = TypeVar("T")

AuthHook = Callable[[str, str, str], Mapping[str, str]]
"""auth(method, host_with_port, path) -> headers; called once per attempt (a fresh JWT each time).
`path` is the full URL path without the query string, e.g. `/api/v3/brokerage/accounts`."""

Params = Mapping[str, str | int | Sequence[str] | None]


_LOOKUP_PAGES = 10
_LOOKUP_PAGE_SIZE = 100


def rest_url(configured: str | None = None) -> str:
    """The REST base URL in force: `configured`, else the `coinbase_rest_url` setting, else production."""
    if configured:
        return configured
    return load_settings().coinbase_rest_url or constants.REST_URL


def venue_name(base_url: str) -> str:
    """`coinbase` for Coinbase itself, else `coinbase-HOST-PORT` (a sandbox, say): keeps their data apart."""
    host = httpx.URL(base_url).netloc.decode("ascii")
    if host == httpx.URL(constants.REST_URL).netloc.decode("ascii"):
        return "coinbase"
    return "coinbase-" + re.sub(r"[^A-Za-z0-9.]+", "-", host).strip("-")


def api_root(base_url: str) -> str:
    """`base_url` with the `/api/v3/brokerage` prefix, whether or not it was given with it."""
    root = base_url.rstrip("/")
    return root if root.endswith(constants.API_PREFIX) else root + constants.API_PREFIX


def granularity_name(granularity: Granularity | str) -> str:
    """Coinbase's enum name for a granularity (`ONE_HOUR`); a name given as text passes through."""
    if isinstance(granularity, Granularity):
        return granularity.name
    if granularity not in Granularity.__members__ and granularity not in constants.AUTHENTICATED_ONLY_GRANULARITIES:
        raise ValueError(f"Coinbase has no granularity {granularity!r}")
    return granularity


class CoinbaseRestClient:
    """Coinbase REST over one pooled HTTP connection set. Use as `async with`, or call `aclose()`.

    `base_url` defaults to the configured `coinbase_rest_url`, else production; it may be given
    with or without the `/api/v3/brokerage` prefix. `limiter` paces public requests (default: the
    public limit, per client) and `private_limiter` authenticated ones (default: the per-key limit);
    `retry` bounds the retries. Account and order endpoints need `auth` (see `coinbase.auth`).
    """

    def __init__(
        self,
        base_url: str | None = None,
        *,
        auth: AuthHook | None = None,
        limiter: TokenBucket | None = None,
        private_limiter: TokenBucket | None = None,
        retry: RetryPolicy | None = None,
        timeout: float = 10.0,
        verify: ssl.SSLContext | str | bool = True,
    ) -> None:
        """`verify` is httpx's: True (the system's CAs), a CA bundle path (a sandbox's certificate), or a context."""
        self.root = api_root(rest_url(base_url))
        url = httpx.URL(self.root)
        self.host = url.netloc.decode("ascii")
        self.auth = auth
        self.limiter = limiter or TokenBucket(constants.PUBLIC_REQUESTS_PER_SECOND)
        self.private_limiter = private_limiter or TokenBucket(constants.PRIVATE_REQUESTS_PER_SECOND)
        self.retry = retry or RetryPolicy()
        self.timeout = timeout
        if isinstance(verify, str):
            verify = ssl.create_default_context(cafile=verify)
        self._http = httpx.AsyncClient(timeout=timeout, headers={"Accept": "application/json"}, verify=verify)

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
        *,
        private: bool = False,
        idempotent: bool | None = None,
    ) -> bytes:
        """The body of a successful answer to `method path` (a path below `/api/v3/brokerage`).

        Retries 429 (after its `Retry-After` when given), and for idempotent requests (GETs, unless
        `idempotent` says otherwise) also 5xx and network failures, with exponential backoff; other
        errors are raised at once. `private` paces the request with the per-key limiter.
        """
        url = self.root + path
        url_path = httpx.URL(url).path
        query = {key: value for key, value in (params or {}).items() if value is not None}
        if idempotent is None:
            idempotent = method.upper() == "GET"
        limiter = self.private_limiter if private else self.limiter
        description = f"{method} {url_path}"
        attempt = 0
        while True:
            attempt += 1
            last = attempt >= self.retry.attempts
            await limiter.acquire()
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
            await self._pause_before_retry(failure, response.headers.get("Retry-After"), attempt, limiter)

    async def _pause_before_retry(
        self, failure: CoinbaseError, retry_after: str | None, attempt: int, limiter: TokenBucket
    ) -> None:
        asked = retry_after_seconds(retry_after)
        if asked is not None and asked > self.retry.max_retry_after:
            raise failure.with_note(f"Coinbase asks to wait {asked:g} s before trying again")
        delay = asked if asked is not None else self.retry.backoff(attempt)
        log.info("%s answered %d; retry %d in %.1f s", failure.request, failure.status, attempt, delay)
        if failure.status == 429:
            # A rate limit applies to every request paced by this limiter, not only to the refused one.
            limiter.hold(delay)
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
            "product_ids": _listed(product_ids),
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

    # -- authenticated endpoints -----------------------------------------------------------------

    async def accounts(
        self, limit: int | None = None, cursor: str | None = None, retail_portfolio_id: str | None = None
    ) -> AccountsPage:
        """One page of the key's accounts (one per currency)."""
        params: Params = {"limit": limit, "cursor": cursor or None, "retail_portfolio_id": retail_portfolio_id}
        return parse_accounts(await self._private_get(constants.ACCOUNTS_PATH, "accounts list", params))

    async def all_accounts(self, page_size: int | None = None) -> list[Account]:
        """Every account, following the cursor page by page."""
        accounts: list[Account] = []
        cursor: str | None = None
        while True:
            page = await self.accounts(limit=page_size, cursor=cursor)
            accounts.extend(page.accounts)
            if not page.has_next or not page.cursor:
                return accounts
            if page.cursor == cursor:
                raise MalformedResponse("accounts list", f"has_next is true but the cursor {cursor!r} did not move")
            cursor = page.cursor

    async def account(self, account_uuid: str) -> Account:
        path = constants.ACCOUNT_PATH.format(account_uuid=_segment(account_uuid))
        return parse_account(await self._private_get(path, f"account {account_uuid}"))

    async def create_order(
        self,
        client_order_id: str,
        product_id: str,
        side: str,
        order_configuration: Mapping[str, Mapping[str, Any]],
        *,
        self_trade_prevention_id: str | None = None,
        retail_portfolio_id: str | None = None,
    ) -> CreatedOrder:
        """Place an order; `OrderRejected` when Coinbase refuses it.

        The POST is sent once. When it fails without a verdict (a 5xx, no answer), the order may have
        landed, so it is looked up by `client_order_id` instead of sent again: the order is returned
        if found, `OrderNotPlaced` raised if Coinbase does not list it, `OrderOutcomeUnknown` if the
        lookup fails too.
        """
        self._require_key()
        body: dict[str, Any] = {
            "client_order_id": client_order_id,
            "product_id": product_id,
            "side": _side(side),
            "order_configuration": order_configuration,
        }
        if self_trade_prevention_id is not None:
            body["self_trade_prevention_id"] = self_trade_prevention_id
        if retail_portfolio_id is not None:
            body["retail_portfolio_id"] = retail_portfolio_id
        try:
            answer = await self.request("POST", constants.CREATE_ORDER_PATH, body=body, private=True)
        except CoinbaseError as failure:
            if failure.status < 500:
                raise
            return await self._recover_created_order(client_order_id, product_id, body["side"], failure)
        except CoinbaseUnavailable as failure:
            return await self._recover_created_order(client_order_id, product_id, body["side"], failure)
        return parse_created_order(decode_json(answer, "create order response"), client_order_id)

    async def market_order(
        self,
        client_order_id: str,
        product_id: str,
        side: str,
        *,
        quote_size: Decimal | None = None,
        base_size: Decimal | None = None,
    ) -> CreatedOrder:
        """A market order (IOC) spending `quote_size` quote currency or trading `base_size` base currency."""
        configuration = market_configuration(quote_size=quote_size, base_size=base_size)
        return await self.create_order(client_order_id, product_id, side, configuration)

    async def limit_order_gtc(
        self,
        client_order_id: str,
        product_id: str,
        side: str,
        base_size: Decimal,
        limit_price: Decimal,
        *,
        post_only: bool = False,
    ) -> CreatedOrder:
        """A limit order that rests until filled or cancelled; `post_only` refuses to take liquidity."""
        configuration = limit_gtc_configuration(base_size, limit_price, post_only=post_only)
        return await self.create_order(client_order_id, product_id, side, configuration)

    async def preview_order(
        self, product_id: str, side: str, order_configuration: Mapping[str, Mapping[str, Any]]
    ) -> OrderPreview:
        """What an order would cost and why it would fail, without placing it."""
        self._require_key()
        body = {"product_id": product_id, "side": _side(side), "order_configuration": order_configuration}
        answer = await self.request("POST", constants.PREVIEW_ORDER_PATH, body=body, private=True, idempotent=True)
        return parse_order_preview(decode_json(answer, "order preview"))

    async def cancel_orders(self, order_ids: Sequence[str]) -> list[CancelResult]:
        """Cancel orders; each result says whether that order was cancelled. Retried like a GET, since
        cancelling twice is harmless."""
        self._require_key()
        body = {"order_ids": list(order_ids)}
        answer = await self.request("POST", constants.CANCEL_ORDERS_PATH, body=body, private=True, idempotent=True)
        return parse_cancel_results(decode_json(answer, "cancel orders response"))

    async def get_order(self, order_id: str) -> Order:
        path = constants.ORDER_PATH.format(order_id=_segment(order_id))
        return parse_order(await self._private_get(path, f"order {order_id}"))

    async def list_orders(
        self,
        *,
        order_ids: Sequence[str] | None = None,
        product_ids: Sequence[str] | None = None,
        order_status: Sequence[str] | None = None,
        order_side: str | None = None,
        start_date: datetime | None = None,
        end_date: datetime | None = None,
        limit: int | None = None,
        cursor: str | None = None,
        sort_by: str | None = None,
    ) -> OrdersPage:
        """One page of orders matching every filter given; pass `cursor` back for the next while `has_next`."""
        params: Params = {
            "order_ids": _listed(order_ids),
            "product_ids": _listed(product_ids),
            "order_status": _listed(order_status),
            "order_side": None if order_side is None else _side(order_side),
            "start_date": _rfc3339(start_date),
            "end_date": _rfc3339(end_date),
            "limit": limit,
            "cursor": cursor or None,
            "sort_by": sort_by,
        }
        return parse_orders(await self._private_get(constants.LIST_ORDERS_PATH, "orders list", params))

    async def find_order(
        self, client_order_id: str, product_id: str, side: str | None = None, max_pages: int = _LOOKUP_PAGES
    ) -> Order | None:
        """The order of `product_id` (and `side`, if given) with this `client_order_id`, or None.

        The list endpoint cannot filter on a client order id, so this reads the product's orders newest
        first, where an order just sent is, and never by a time window: the exchange stamps orders with its
        own clock, which may be skewed from ours or (a sandbox replaying the past) years away from it.
        Raises `OrderOutcomeUnknown` when more than `max_pages` pages would have to be read.
        """
        cursor: str | None = None
        for _ in range(max_pages):
            page = await self.list_orders(
                product_ids=[product_id], order_side=side, limit=_LOOKUP_PAGE_SIZE, cursor=cursor
            )
            for order in page.orders:
                if order.client_order_id == client_order_id:
                    return order
            if not page.has_next or not page.cursor or page.cursor == cursor:
                return None
            cursor = page.cursor
        raise OrderOutcomeUnknown(client_order_id, f"more than {max_pages} pages of {product_id} orders to search")

    async def list_fills(
        self,
        *,
        order_ids: Sequence[str] | None = None,
        trade_ids: Sequence[str] | None = None,
        product_ids: Sequence[str] | None = None,
        start_sequence_timestamp: datetime | None = None,
        end_sequence_timestamp: datetime | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> FillsPage:
        """One page of fills; pass `cursor` back for the next until it comes back empty."""
        params: Params = {
            "order_ids": _listed(order_ids),
            "trade_ids": _listed(trade_ids),
            "product_ids": _listed(product_ids),
            "start_sequence_timestamp": _rfc3339(start_sequence_timestamp),
            "end_sequence_timestamp": _rfc3339(end_sequence_timestamp),
            "limit": limit,
            "cursor": cursor or None,
        }
        return parse_fills(await self._private_get(constants.LIST_FILLS_PATH, "fills list", params))

    async def transaction_summary(self, product_type: str | None = None) -> TransactionSummary:
        """The 30-day volume, fees, and the fee tier with the maker and taker rates it earns."""
        params: Params = {"product_type": product_type}
        document = await self._private_get(constants.TRANSACTION_SUMMARY_PATH, "transaction summary", params)
        return parse_transaction_summary(document)

    def _require_key(self) -> None:
        if self.auth is None:
            raise ConfigError(MISSING_KEY_HELP)

    async def _private_get(self, path: str, what: str, params: Params | None = None) -> dict[str, Any]:
        self._require_key()
        return decode_json(await self.request("GET", path, params, private=True), what)

    async def _recover_created_order(
        self, client_order_id: str, product_id: str, side: str, failure: UserError
    ) -> CreatedOrder:
        log.warning("placing order %s failed without a verdict (%s); looking it up", client_order_id, failure)
        try:
            order = await self.find_order(client_order_id, product_id, side)
        except (CoinbaseError, CoinbaseUnavailable, MalformedResponse) as lookup_failure:
            raise OrderOutcomeUnknown(client_order_id, f"{failure}; the lookup failed too: {lookup_failure}") from None
        if order is None:
            raise OrderNotPlaced(client_order_id, product_id, failure)
        log.info("order %s landed despite the failure, as %s", client_order_id, order.order_id)
        return CreatedOrder(order.order_id, order.product_id, order.side, client_order_id, order.order_configuration)


def _side(side: str) -> str:
    upper = side.upper()
    if upper not in constants.ORDER_SIDES:
        raise ValueError(f"side must be BUY or SELL, got {side!r}")
    return upper


def _listed(values: Sequence[str] | None) -> list[str] | None:
    return None if values is None else list(values)


def _rfc3339(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        raise ValueError(f"give times with a time zone (UTC), got {moment}")
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


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

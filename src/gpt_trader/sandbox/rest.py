"""The sandbox's public market endpoints and their authenticated twins, as Coinbase answers them.

Written from the facts page (section 4), not from the client: every decimal a JSON string, candles
newest first and at most 350 a request, buckets without trades absent, the forming bucket partial,
errors as `{"error", "message", "error_details"}`. Everything reads `request.app.state.replay`
(the market) and `request.app.state.catalog` (the products); a product is listed when the catalogue
knows it and the replay has data for it. Times are market times (the replay's clock).

The authenticated twins (`/products`, `/products/{id}`, `/products/{id}/candles`, `/products/{id}/ticker`,
`/product_book`) and `/best_bid_ask` need `Authorization: Bearer <JWT>` checked by `request.app.state.keys`;
any failure is a plain-text 401 `Unauthorized`, as Coinbase sends it. A twin answers exactly as its public
route, so both paths share one handler; only the candles differ (the authenticated one adds FOUR_HOUR).
"""

from __future__ import annotations

import logging
import math
import re
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.exceptions import HTTPException

from gpt_trader.sandbox.catalog import ProductSpec
from gpt_trader.sandbox.exchange.model import strict_decimal
from gpt_trader.sandbox.keys import AuthError
from gpt_trader.sandbox.market import BookChange, CandleTable, MarketReplay, Quote, decimal_text, rfc3339
from gpt_trader.sandbox.ratelimit import Throttle, connection_of, retry_after, too_many_message

log = logging.getLogger(__name__)

API_PREFIX = "/api/v3/brokerage"
MAX_CANDLES = 350
PUBLIC_GRANULARITIES = {
    "ONE_MINUTE": 60,
    "FIVE_MINUTE": 300,
    "FIFTEEN_MINUTE": 900,
    "THIRTY_MINUTE": 1800,
    "ONE_HOUR": 3600,
    "TWO_HOUR": 7200,
    "SIX_HOUR": 21600,
    "ONE_DAY": 86400,
}
"""Our own copy of the candle granularities (the facts page); FOUR_HOUR is for the authenticated endpoint."""
AUTHENTICATED_GRANULARITIES = {**PUBLIC_GRANULARITIES, "FOUR_HOUR": 14400}
MAX_AGGREGATION = 1_000_000_000
_WHOLE_NUMBER = re.compile(r"-?[0-9]{1,15}")

router = APIRouter(prefix=API_PREFIX)


class ApiError(Exception):
    """An error answered with Coinbase's JSON error body (and `headers`, such as `Retry-After`)."""

    def __init__(
        self, status: int, code: str, message: str, details: str | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.details = message if details is None else details
        self.headers = headers or {}


class Unauthorized(Exception):
    """Answered as Coinbase does: 401 with the plain-text body `Unauthorized`."""


def error_response(
    status: int, code: str, message: str, details: str | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    body = {"error": code, "message": message, "error_details": message if details is None else details}
    return JSONResponse(body, status_code=status, headers=headers)


_STATUS_CODES = {400: "INVALID_ARGUMENT", 401: "UNAUTHORIZED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND"}


def install_error_handlers(app: FastAPI) -> None:
    """Make every error of `app` (unknown routes, bad parameters, ApiError) take Coinbase's shape."""

    async def api_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, ApiError)
        return error_response(error.status, error.code, error.message, error.details, error.headers)

    async def unauthorized(request: Request, error: Exception) -> Response:
        return PlainTextResponse("Unauthorized", status_code=401)

    async def http_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, HTTPException)
        code = _STATUS_CODES.get(error.status_code, "UNKNOWN" if error.status_code < 500 else "INTERNAL")
        return error_response(error.status_code, code, f"{error.detail}: {request.method} {request.url.path}")

    async def invalid(request: Request, error: Exception) -> Response:
        assert isinstance(error, RequestValidationError)
        problems = "; ".join(f"{'.'.join(map(str, e['loc'][1:]))}: {e['msg']}" for e in error.errors())
        return error_response(400, "INVALID_ARGUMENT", problems or "invalid request")

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(Unauthorized, unauthorized)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, invalid)


async def require_key(request: Request) -> str:
    """The key name of a request carrying a valid REST JWT for its method, host and path, within the
    key's rate limit. A refused token counts against its connection (`app.state.throttle`, if any)."""
    keys = getattr(request.app.state, "keys", None)
    throttle: Throttle | None = getattr(request.app.state, "throttle", None)
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    try:
        if keys is None or scheme.lower() != "bearer" or not token:
            raise AuthError("no bearer token")
        key_name: str = keys.verify_rest(token.strip(), request.method, request.headers.get("host", ""),
                                         request.url.path)
    except AuthError as error:
        log.info("refused %s %s: %s", request.method, request.url.path, error.reason)
        if throttle is not None:
            throttle.refused(connection_of(request.scope))
        raise Unauthorized from None
    wait = 0.0 if throttle is None else throttle.key(key_name)
    if wait > 0:
        assert throttle is not None and throttle.limits.private_per_second is not None
        message = too_many_message("private", throttle.limits.private_per_second)
        raise ApiError(429, "RESOURCE_EXHAUSTED", message, headers={"Retry-After": retry_after(wait)})
    return key_name


Authenticated = Depends(require_key)


# -- time ------------------------------------------------------------------------------------------


@router.get("/time")
async def server_time(request: Request) -> dict[str, str]:
    now = _replay(request).market_time
    return {"iso": rfc3339(now, 3), "epochSeconds": str(int(now)), "epochMillis": str(int(now * 1000))}


# -- products --------------------------------------------------------------------------------------


@router.get("/market/products")
@router.get("/products", dependencies=[Authenticated])
async def products(
    request: Request,
    limit: int | None = None,
    offset: int = 0,
    product_type: str | None = None,
    product_ids: Annotated[list[str] | None, Query()] = None,
    get_all_products: bool | None = None,
) -> dict[str, Any]:
    # `get_all_products` is only validated: the sandbox always lists every product it has.
    if offset < 0 or (limit is not None and limit < 0):
        raise ApiError(400, "INVALID_ARGUMENT", "limit and offset must not be negative")
    listed = _listed_products(request)
    if product_ids:
        wanted = set(product_ids)
        listed = [spec for spec in listed if spec.product_id in wanted]
    if product_type:
        listed = [spec for spec in listed if spec.product_type == product_type.upper()]
    end = len(listed) if not limit else offset + limit
    page = listed[offset:end]
    has_next = end < len(listed)
    pagination = {
        "prev_cursor": str(max(0, offset - len(page))) if offset else "",
        "next_cursor": str(end) if has_next else "",
        "has_next": has_next,
        "has_prev": offset > 0,
    }
    return {
        "products": [_product_payload(request, spec) for spec in page],
        "num_products": len(listed),
        "pagination": pagination,
    }


@router.get("/market/products/{product_id}")
@router.get("/products/{product_id}", dependencies=[Authenticated])
async def product(request: Request, product_id: str) -> dict[str, Any]:
    return _product_payload(request, _listed(request, product_id))


def _product_payload(request: Request, spec: ProductSpec) -> dict[str, Any]:
    replay = _replay(request)
    quote = replay.quote(spec.product_id)
    stats = replay.stats(spec.product_id)
    change = volume = None
    if quote is not None and stats is not None:
        change = _decimal((float(quote.last) / stats.open_24h - 1) * 100) if stats.open_24h else None
        volume = _decimal(stats.volume_24h)
    return spec.to_payload(
        price=None if quote is None else quote.last, volume_24h=volume, price_percentage_change_24h=change
    )


# -- candles ---------------------------------------------------------------------------------------


@router.get("/market/products/{product_id}/candles")
async def public_candles(
    request: Request,
    product_id: str,
    granularity: str | None = None,
    start: str | None = None,
    end: str | None = None,
    limit: str | None = None,
) -> dict[str, Any]:
    return _candles(request, product_id, PUBLIC_GRANULARITIES, granularity, start, end, limit)


@router.get("/products/{product_id}/candles", dependencies=[Authenticated])
async def candles(
    request: Request,
    product_id: str,
    granularity: str | None = None,
    start: str | None = None,
    end: str | None = None,
    limit: str | None = None,
) -> dict[str, Any]:
    return _candles(request, product_id, AUTHENTICATED_GRANULARITIES, granularity, start, end, limit)


def _candles(
    request: Request,
    product_id: str,
    granularities: dict[str, int],
    granularity: str | None,
    start: str | None,
    end: str | None,
    limit: str | None,
) -> dict[str, Any]:
    spec = _listed(request, product_id)
    if granularity not in granularities:
        raise ApiError(
            400,
            "INVALID_ARGUMENT",
            f"granularity {granularity!r} is not supported; use one of {', '.join(granularities)}",
        )
    seconds = granularities[granularity]
    replay = _replay(request)
    count = _integer("limit", limit, MAX_CANDLES)
    if not 0 < count <= MAX_CANDLES:
        raise ApiError(400, "INVALID_ARGUMENT", f"limit must be between 1 and {MAX_CANDLES}, got {count}")
    last = _integer("end", end, math.floor(replay.market_time) + 1)
    first = _integer("start", start, last - count * seconds)
    if first >= last:
        raise ApiError(400, "INVALID_ARGUMENT", f"start ({first}) must be before end ({last})")
    buckets = math.ceil((last - first) / seconds)
    if buckets > MAX_CANDLES:
        raise ApiError(
            400,
            "INVALID_ARGUMENT",
            f"requested {buckets} candles; at most {MAX_CANDLES} per request (narrow start and end)",
        )
    try:
        table = replay.candles(spec.product_id, seconds, first, last)
    except ValueError as error:
        raise ApiError(400, "INVALID_ARGUMENT", str(error)) from None
    return {"candles": _candle_rows(table, count)}


def _candle_rows(table: CandleTable, count: int) -> list[dict[str, str]]:
    return [
        {
            "start": str(int(table.start[i])),
            "low": decimal_text(float(table.low[i])),
            "high": decimal_text(float(table.high[i])),
            "open": decimal_text(float(table.open[i])),
            "close": decimal_text(float(table.close[i])),
            "volume": decimal_text(float(table.volume[i])),
        }
        for i in range(min(count, len(table.start)))
    ]


# -- ticker, book, best bid and ask ----------------------------------------------------------------


@router.get("/market/products/{product_id}/ticker")
@router.get("/products/{product_id}/ticker", dependencies=[Authenticated])
async def ticker(
    request: Request, product_id: str, limit: str | None = None, start: str | None = None, end: str | None = None
) -> dict[str, Any]:
    spec = _listed(request, product_id)
    if limit is None or limit == "":
        raise ApiError(400, "INVALID_ARGUMENT", "limit is required: the number of recent trades to return")
    count = _integer("limit", limit, 0)
    if count < 1:
        raise ApiError(400, "INVALID_ARGUMENT", f"limit must be at least 1, got {count}")
    replay = _replay(request)
    trades = replay.recent_trades(spec.product_id, count)
    low, high = _integer("start", start, 0), _integer("end", end, 2**62)
    quote = replay.quote(spec.product_id)
    return {
        "trades": [
            {
                "trade_id": str(trade.trade_id),
                "product_id": trade.product_id,
                "price": decimal_text(trade.price),
                "size": decimal_text(trade.size),
                "time": rfc3339(trade.time, 6),
                "side": trade.side,
                "bid": "",
                "ask": "",
                "exchange": "coinbase",
            }
            for trade in trades
            if low <= trade.time <= high
        ],
        "best_bid": "" if quote is None else decimal_text(quote.bid),
        "best_ask": "" if quote is None else decimal_text(quote.ask),
    }


@router.get("/market/product_book")
@router.get("/product_book", dependencies=[Authenticated])
async def product_book(
    request: Request,
    product_id: str | None = None,
    limit: str | None = None,
    aggregation_price_increment: str | None = None,
) -> dict[str, Any]:
    if not product_id:
        raise ApiError(400, "INVALID_ARGUMENT", "product_id is required")
    spec = _listed(request, product_id)
    replay = _replay(request)
    depth = _integer("limit", limit, 0)
    if depth < 0:
        raise ApiError(400, "INVALID_ARGUMENT", f"limit must be 0 (the whole book) or more, got {depth}")
    bids, asks = replay.book(spec.product_id)
    if aggregation_price_increment:
        step = _aggregation_step(aggregation_price_increment, spec)
        bids, asks = _aggregated(bids, step, down=True), _aggregated(asks, step, down=False)
    quote = replay.quote(spec.product_id)
    shown = depth or None
    body: dict[str, Any] = {"pricebook": _pricebook(spec.product_id, bids[:shown], asks[:shown], quote)}
    if quote is None:
        return body | {"last": "", "mid_market": "", "spread_bps": "", "spread_absolute": ""}
    mid = (quote.bid + quote.ask) / 2
    spread = quote.ask - quote.bid
    return body | {
        "last": decimal_text(quote.last),
        "mid_market": decimal_text(mid),
        "spread_bps": decimal_text(spread / mid * 10_000),
        "spread_absolute": decimal_text(spread),
    }


@router.get("/best_bid_ask", dependencies=[Authenticated])
async def best_bid_ask(
    request: Request, product_ids: Annotated[list[str] | None, Query()] = None
) -> dict[str, Any]:
    replay = _replay(request)
    specs = [_listed(request, p) for p in product_ids] if product_ids else _listed_products(request)
    pricebooks = []
    for spec in specs:
        bids, asks = replay.book(spec.product_id, depth=1)
        pricebooks.append(_pricebook(spec.product_id, bids, asks, replay.quote(spec.product_id)))
    return {"pricebooks": pricebooks}


def _pricebook(product_id: str, bids: list[BookChange], asks: list[BookChange], quote: Quote | None) -> dict[str, Any]:
    def levels(side: list[BookChange]) -> list[dict[str, str]]:
        return [{"price": decimal_text(level.price), "size": decimal_text(level.size)} for level in side]

    when = "" if quote is None else rfc3339(quote.time, 6)
    return {"product_id": product_id, "bids": levels(bids), "asks": levels(asks), "time": when}


def _aggregated(levels: list[BookChange], step: Decimal, down: bool) -> list[BookChange]:
    """Levels merged onto multiples of `step`: bids rounded down, asks up (so the book stays uncrossed)."""
    merged: dict[Decimal, Decimal] = {}
    for level in levels:
        buckets = level.price / step
        whole = buckets.to_integral_value(rounding=ROUND_FLOOR if down else ROUND_CEILING)
        price = whole * step
        merged[price] = merged.get(price, Decimal(0)) + level.size
    side = levels[0].side if levels else "bid"
    return [BookChange(side, price, size) for price, size in merged.items()]


# -- helpers ---------------------------------------------------------------------------------------


def _replay(request: Request) -> MarketReplay:
    replay: MarketReplay = request.app.state.replay
    return replay


def _listed_products(request: Request) -> list[ProductSpec]:
    replay_products = set(_replay(request).products())
    return [spec for spec in request.app.state.catalog if spec.product_id in replay_products]


def _listed(request: Request, product_id: str) -> ProductSpec:
    spec: ProductSpec | None = request.app.state.catalog.find(product_id)
    if spec is None or spec.product_id not in _replay(request).products():
        raise ApiError(404, "NOT_FOUND", f"ProductID {product_id} could not be found")
    return spec


def _integer(name: str, text: str | None, default: int) -> int:
    """A query parameter's whole number: ASCII digits, at most 15 of them (Unix seconds fit with room)."""
    if text is None or text == "":
        return default
    if not _WHOLE_NUMBER.fullmatch(text):
        raise ApiError(
            400, "INVALID_ARGUMENT", f"{name} must be a whole number of at most 15 digits, got {text[:40]!r}"
        )
    return int(text)


def _aggregation_step(text: str, spec: ProductSpec) -> Decimal:
    """The price step to merge book levels onto: from the product's price increment to MAX_AGGREGATION."""
    step = strict_decimal(text)
    if step is None or not spec.price_increment <= step <= MAX_AGGREGATION:
        raise ApiError(
            400,
            "INVALID_ARGUMENT",
            f"aggregation_price_increment must be a decimal from {spec.product_id}'s price increment "
            f"{decimal_text(spec.price_increment)} to {MAX_AGGREGATION}, got {text[:40]!r}",
        )
    return step


def _decimal(value: float) -> Decimal:
    return Decimal(decimal_text(round(value, 12)))

"""The sandbox's public market endpoints over real HTTP: shapes, candles, errors, rate limits, our own client."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import httpx
import numpy as np
import pytest

from gpt_trader.coinbase.candles import CoinbaseSource
from gpt_trader.coinbase.rest import CoinbaseRestClient
from gpt_trader.market.granularity import Granularity
from gpt_trader.sandbox.ratelimit import RateLimits
from tests.integration.sandbox.conftest import START, RunningSandbox, StartSandbox

API = "/api/v3/brokerage"


def get(sandbox: RunningSandbox, path: str, **params: Any) -> httpx.Response:
    return httpx.get(sandbox.url + API + path, params=params, timeout=10)


def is_decimal_text(value: object) -> bool:
    return isinstance(value, str) and Decimal(value).is_finite() and "E" not in value


def test_products_are_listed_with_every_decimal_a_string(sandbox: RunningSandbox) -> None:
    answer = get(sandbox, "/market/products")
    assert answer.status_code == 200
    body = answer.json()
    assert [p["product_id"] for p in body["products"]] == ["BTC-USD", "ETH-USD"]
    assert body["num_products"] == 2
    assert body["pagination"] == {"prev_cursor": "", "next_cursor": "", "has_next": False, "has_prev": False}
    btc = body["products"][0]
    for field in ("price", "volume_24h", "price_percentage_change_24h", "base_increment", "price_increment",
                  "quote_min_size", "base_max_size"):
        assert is_decimal_text(btc[field]), field
    assert (btc["base_increment"], btc["price_increment"], btc["status"]) == ("0.00000001", "0.01", "online")
    assert btc["trading_disabled"] is False
    quote = sandbox.replay.quote("BTC-USD")
    assert quote is not None and abs(Decimal(btc["price"]) - quote.last) < quote.last * Decimal("0.01")


def test_products_filter_by_repeated_ids_and_page_by_offset(sandbox: RunningSandbox) -> None:
    only_eth = httpx.get(
        sandbox.url + API + "/market/products?product_ids=ETH-USD&product_ids=DOGE-USD", timeout=10
    ).json()
    assert [p["product_id"] for p in only_eth["products"]] == ["ETH-USD"]
    first = get(sandbox, "/market/products", limit=1).json()
    second = get(sandbox, "/market/products", limit=1, offset=1).json()
    assert [p["product_id"] for p in first["products"] + second["products"]] == ["BTC-USD", "ETH-USD"]
    assert first["pagination"]["has_next"] is True and second["pagination"]["has_prev"] is True
    assert get(sandbox, "/market/products", product_type="FUTURE").json()["products"] == []


def test_one_product_and_an_unknown_one(sandbox: RunningSandbox) -> None:
    assert get(sandbox, "/market/products/ETH-USD").json()["product_id"] == "ETH-USD"
    missing = get(sandbox, "/market/products/DOGE-USD")  # in the catalogue, but not replayed here
    assert missing.status_code == 404
    assert missing.json() == {
        "error": "NOT_FOUND",
        "message": "ProductID DOGE-USD could not be found",
        "error_details": "ProductID DOGE-USD could not be found",
    }
    unknown_route = get(sandbox, "/market/nothing")
    assert unknown_route.status_code == 404 and unknown_route.json()["error"] == "NOT_FOUND"


def test_candles_are_the_bars_newest_first_as_strings_with_the_forming_one_partial(sandbox: RunningSandbox) -> None:
    now = int(sandbox.replay.market_time)
    answer = get(sandbox, "/market/products/BTC-USD/candles", granularity="ONE_MINUTE",
                 start=str(now - 300 * 60), end=str(now + 60))
    assert answer.status_code == 200
    candles = answer.json()["candles"]
    assert all(set(c) == {"start", "low", "high", "open", "close", "volume"} for c in candles)
    assert all(isinstance(value, str) for c in candles for value in c.values())
    starts = [int(c["start"]) for c in candles]
    assert starts == sorted(starts, reverse=True) and len(starts) >= 300
    bars = sandbox.bars["BTC-USD"]
    for candle in candles[2:]:  # closed minutes: exactly the bars
        row = int(np.searchsorted(bars.time, int(candle["start"])))
        assert [float(candle[k]) for k in ("open", "high", "low", "close", "volume")] == [
            bars.open[row], bars.high[row], bars.low[row], bars.close[row], bars.volume[row]
        ]
    newest = candles[0]
    row = int(np.searchsorted(bars.time, int(newest["start"])))
    assert int(newest["start"]) <= sandbox.replay.market_time < int(newest["start"]) + 60
    assert float(newest["volume"]) <= bars.volume[row] and float(newest["open"]) == bars.open[row]


def test_candles_are_capped_at_350_and_checked(sandbox: RunningSandbox) -> None:
    path = "/market/products/BTC-USD/candles"
    too_many = get(sandbox, path, granularity="ONE_MINUTE", start=str(START - 351 * 60), end=str(START))
    assert too_many.status_code == 400
    assert too_many.json()["error"] == "INVALID_ARGUMENT" and "350" in too_many.json()["message"]
    exactly = get(sandbox, path, granularity="ONE_MINUTE", start=str(START - 350 * 60), end=str(START))
    assert exactly.status_code == 200 and len(exactly.json()["candles"]) == 350
    limited = get(sandbox, path, granularity="ONE_MINUTE", start=str(START - 350 * 60), end=str(START), limit="10")
    assert [c["start"] for c in limited.json()["candles"]] == [c["start"] for c in exactly.json()["candles"][:10]]
    assert get(sandbox, path, granularity="ONE_MINUTE", limit="351").status_code == 400
    for refused in ("UNKNOWN_GRANULARITY", "FOUR_HOUR", "1m", None):
        answer = get(sandbox, path, **({} if refused is None else {"granularity": refused}))
        assert answer.status_code == 400 and answer.json()["error"] == "INVALID_ARGUMENT", refused
    bad_start = get(sandbox, path, granularity="ONE_HOUR", start="yesterday")
    assert bad_start.status_code == 400 and "start" in bad_start.json()["message"]


def test_coarser_candles_are_built_from_the_bars_and_empty_periods_are_absent(
    start_sandbox: StartSandbox, sandbox_bars: dict
) -> None:
    bars = sandbox_bars["BTC-USD"]
    hole_hour = START // 3600 * 3600 - 7200
    hole = (bars.time >= hole_hour) & (bars.time < hole_hour + 3600)  # an hour without trades
    gapped = type(bars)(bars.product_id, bars.granularity, *(getattr(bars, c)[~hole] for c in
                                                             ("time", "open", "high", "low", "close", "volume")))
    running = start_sandbox(bars={"BTC-USD": gapped})
    hours = get(running, "/market/products/BTC-USD/candles", granularity="ONE_HOUR",
                start=str(START - 12 * 3600), end=str(START)).json()["candles"]
    starts = [int(c["start"]) for c in hours]
    assert hole_hour not in starts and hole_hour - 3600 in starts and hole_hour + 3600 in starts
    full = next(c for c in hours if int(c["start"]) == hole_hour - 3600)
    inside = gapped.slice(hole_hour - 3600, hole_hour)
    assert float(full["high"]) == inside.high.max() and float(full["open"]) == inside.open[0]
    assert float(full["volume"]) == pytest.approx(inside.volume.sum(), rel=1e-12)


def test_our_client_reads_back_exactly_the_bars_the_sandbox_serves(sandbox: RunningSandbox) -> None:
    """CoinbaseSource pages a day of 1-minute candles in windows of 350, in parallel, and merges them."""
    source = CoinbaseSource(rest_url=sandbox.url, clock=lambda: sandbox.replay.market_time)
    fetched = source.fetch("BTC-USD", Granularity.ONE_MINUTE, START - 86_400, START)
    expected = sandbox.bars["BTC-USD"].slice(START - 86_400, START // 60 * 60)
    assert len(fetched) == len(expected) == 1439
    for column in ("time", "open", "high", "low", "close", "volume"):
        assert np.array_equal(getattr(fetched, column), getattr(expected, column)), column


async def test_our_client_reads_products_ticker_and_book(sandbox: RunningSandbox) -> None:
    async with CoinbaseRestClient(sandbox.url) as client:
        products = await client.products(product_ids=["BTC-USD"])
        ticker = await client.ticker("ETH-USD", 5)
        book = await client.product_book("ETH-USD", limit=3)
        server_time = await client.server_time()
    assert [p.product_id for p in products] == ["BTC-USD"] and products[0].price_increment == Decimal("0.01")
    assert ticker.best_bid is not None and ticker.best_ask is not None and ticker.best_bid < ticker.best_ask
    assert 1 <= len(ticker.trades) <= 5
    assert book.bids[0].price < book.asks[0].price and len(book.bids) == len(book.asks) == 3
    assert abs(server_time.epoch_seconds - sandbox.replay.market_time) < 120, "the sandbox tells market time"


def test_ticker_lists_recent_trades_newest_first_and_needs_a_limit(sandbox: RunningSandbox) -> None:
    time.sleep(0.3)
    body = get(sandbox, "/market/products/BTC-USD/ticker", limit="20").json()
    times = [trade["time"] for trade in body["trades"]]
    assert len(times) == 20 and times == sorted(times, reverse=True)
    trade = body["trades"][0]
    assert set(trade) == {"trade_id", "product_id", "price", "size", "time", "side", "bid", "ask", "exchange"}
    assert trade["side"] in ("BUY", "SELL") and is_decimal_text(trade["size"])
    assert Decimal(body["best_bid"]) < Decimal(body["best_ask"])
    missing = get(sandbox, "/market/products/BTC-USD/ticker")
    assert missing.status_code == 400 and "limit" in missing.json()["message"]


def test_the_product_book_is_uncrossed_with_its_spread(sandbox: RunningSandbox) -> None:
    body = get(sandbox, "/market/product_book", product_id="BTC-USD", limit="5").json()
    bids = [Decimal(level["price"]) for level in body["pricebook"]["bids"]]
    asks = [Decimal(level["price"]) for level in body["pricebook"]["asks"]]
    assert len(bids) == len(asks) == 5
    assert bids == sorted(bids, reverse=True) and asks == sorted(asks) and bids[0] < asks[0]
    assert Decimal(body["spread_absolute"]) == asks[0] - bids[0]
    assert Decimal(body["mid_market"]) == (asks[0] + bids[0]) / 2
    coarse = get(sandbox, "/market/product_book", product_id="BTC-USD", aggregation_price_increment="10").json()
    coarse_bids = [Decimal(level["price"]) for level in coarse["pricebook"]["bids"]]
    coarse_asks = [Decimal(level["price"]) for level in coarse["pricebook"]["asks"]]
    assert all(price % 10 == 0 for price in coarse_bids + coarse_asks) and coarse_bids[0] < coarse_asks[0]
    assert get(sandbox, "/market/product_book").status_code == 400


def test_a_get_with_a_json_body_is_answered_as_without_one(sandbox: RunningSandbox) -> None:
    answer = httpx.request(
        "GET", sandbox.url + API + "/market/products/BTC-USD", content=b"{}",
        headers={"Content-Type": "application/json"}, timeout=10,
    )
    assert answer.status_code == 200 and answer.json()["product_id"] == "BTC-USD"


def test_public_requests_over_the_limit_get_429_with_retry_after(start_sandbox: StartSandbox) -> None:
    limited = start_sandbox(rate_limits=RateLimits(public_per_second=3, private_per_second=None))
    with httpx.Client(base_url=limited.url + API, timeout=10) as client:
        answers = [client.get("/time") for _ in range(8)]
        refused = [a for a in answers if a.status_code == 429]
        assert [a.status_code for a in answers[:3]] == [200] * 3 and refused
        assert int(refused[0].headers["Retry-After"]) >= 1
        assert refused[0].json()["error"] == "RESOURCE_EXHAUSTED"
        time.sleep(1.1)
        assert client.get("/time").status_code == 200, "the bucket refills"


def test_a_forwarded_for_header_does_not_escape_the_public_limit(start_sandbox: StartSandbox) -> None:
    limited = start_sandbox(rate_limits=RateLimits(public_per_second=3, private_per_second=None))
    with httpx.Client(base_url=limited.url + API, timeout=10) as client:
        statuses = [client.get("/time", headers={"X-Forwarded-For": f"10.0.{n // 256}.{n % 256}"}).status_code
                    for n in range(12)]
    assert 429 in statuses, "the limit is on the peer the socket sees, not on a header the client writes"

"""The REST client's request path against a real loopback server: auth hook, retries, unreachable hosts."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import numpy as np
import pytest

from gpt_trader.coinbase.candles import CoinbaseSource
from gpt_trader.coinbase.errors import CoinbaseError, CoinbaseUnavailable
from gpt_trader.coinbase.rest import CoinbaseRestClient
from gpt_trader.coinbase.retry import RetryPolicy
from gpt_trader.market.bars import Bars
from gpt_trader.market.granularity import Granularity
from tests.support.coinbase_server import CoinbaseCandleServer
from tests.support.loopback_http import free_port

NOW = 1_712_192_400
FAST = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05)


@pytest.fixture
def server() -> Iterator[CoinbaseCandleServer]:
    hours = NOW - 3600 * np.arange(24, 0, -1)
    closes = np.linspace(65_000.5, 66_181.6, 24)
    bars = Bars("BTC-USD", Granularity.ONE_HOUR, hours, closes, closes + 1, closes - 1, closes, np.ones(24))
    with CoinbaseCandleServer({"BTC-USD": bars}, now=NOW) as running:
        yield running


async def test_the_auth_hook_signs_every_attempt_with_host_port_and_full_path(
    server: CoinbaseCandleServer,
) -> None:
    seen: list[tuple[str, str, str]] = []

    def auth(method: str, host: str, path: str) -> dict[str, str]:
        seen.append((method, host, path))
        return {"Authorization": f"Bearer token-{len(seen)}"}

    server.fail_next(503)
    async with CoinbaseRestClient(server.url, auth=auth, retry=FAST) as client:
        product = await client.product("BTC-USD")

    host = server.url.removeprefix("http://")
    assert seen == [("GET", host, "/api/v3/brokerage/market/products/BTC-USD")] * 2
    assert [r.headers["authorization"] for r in server.requests] == ["Bearer token-1", "Bearer token-2"]
    assert product.product_id == "BTC-USD" and product.price == Decimal("66181.6")


async def test_a_base_url_given_with_the_api_prefix_is_not_prefixed_twice(
    server: CoinbaseCandleServer,
) -> None:
    async with CoinbaseRestClient(server.url + "/api/v3/brokerage/") as client:
        time = await client.server_time()
    assert time.epoch_seconds == NOW and time.epoch_millis == NOW * 1000
    assert time.iso.timestamp() == NOW
    assert server.requests[0].path == "/api/v3/brokerage/time"


async def test_products_can_be_filtered_by_repeated_ids(server: CoinbaseCandleServer) -> None:
    async with CoinbaseRestClient(server.url) as client:
        products = await client.products(product_ids=["BTC-USD", "DOGE-USD"])
    assert [p.product_id for p in products] == ["BTC-USD"]
    assert server.requests[0].query["product_ids"] == ["BTC-USD", "DOGE-USD"]
    assert products[0].volume_24h is None, "an empty string is an absent value"


async def test_a_post_is_not_retried_after_a_5xx_but_is_after_a_429(server: CoinbaseCandleServer) -> None:
    async with CoinbaseRestClient(server.url, retry=FAST) as client:
        server.fail_next(503)
        with pytest.raises(CoinbaseError) as first:
            await client.request("POST", "/orders", body={"client_order_id": "x"})
        assert first.value.status == 503
        assert len(server.requests) == 1

        server.fail_next(429, retry_after=0)
        with pytest.raises(CoinbaseError) as second:
            await client.request("POST", "/orders", body={"client_order_id": "x"})
    assert second.value.status == 404, "after the 429 the POST went through (to a route this server lacks)"
    assert [r.status for r in server.requests] == [503, 429, 404]


async def test_a_retry_after_longer_than_the_policy_allows_is_raised_at_once(
    server: CoinbaseCandleServer,
) -> None:
    server.fail_next(429, retry_after=3600)
    async with CoinbaseRestClient(server.url, retry=FAST) as client:
        with pytest.raises(CoinbaseError) as raised:
            await client.server_time()
    assert raised.value.status == 429 and "3600 s" in str(raised.value)
    assert len(server.requests) == 1


def test_connection_refused_names_the_url_and_the_offline_sources() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    source = CoinbaseSource(url, retry=RetryPolicy(attempts=2, base_delay=0.01))
    with pytest.raises(CoinbaseUnavailable) as raised:
        source.fetch("BTC-USD", Granularity.ONE_HOUR, NOW - 86_400, NOW)
    message = str(raised.value)
    assert url in message
    for hint in ("--source synthetic", "--source file:PATH", "gpt-trader data import"):
        assert hint in message

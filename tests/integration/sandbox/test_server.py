"""The assembled server: TLS, sources chosen by configuration, and the errors a user can act on."""

from __future__ import annotations

import json
import socket
import ssl
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
import websockets

from gpt_trader.coinbase.auth import CdpKey
from gpt_trader.config import Credentials
from gpt_trader.errors import DataError, UserError
from gpt_trader.sandbox.faults import FaultSchedule
from gpt_trader.sandbox.keys import KeyStore
from gpt_trader.sandbox.ratelimit import RateLimits
from gpt_trader.sandbox.server import BackgroundServer, SandboxConfig, bind, build_app, load_market
from gpt_trader.sandbox.tls import ensure_certificate
from tests.integration.sandbox.conftest import RunningSandbox, StartSandbox

API = "/api/v3/brokerage"


async def test_https_and_wss_are_served_with_a_certificate_clients_can_trust(
    start_sandbox: StartSandbox, tmp_path: Path
) -> None:
    cert, key = ensure_certificate(tmp_path / "sandbox-cert.pem")
    running = start_sandbox(tls_files=(cert, key))
    assert running.url.startswith("https://127.0.0.1:") and running.ws_url.startswith("wss://")
    trusted = ssl.create_default_context(cafile=str(cert))
    trusted.verify_flags |= ssl.VERIFY_X509_STRICT  # as newer Pythons do by default
    async with httpx.AsyncClient(verify=trusted, timeout=10) as client:
        products = (await client.get(running.url + API + "/market/products")).json()
        with pytest.raises(httpx.ConnectError):
            await client.get(running.url.replace("127.0.0.1", "127.0.0.2") + API + "/time")
    assert [p["product_id"] for p in products["products"]] == ["BTC-USD", "ETH-USD"]
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(running.url + API + "/time", timeout=10)  # not trusted without the file
    localhost = running.ws_url.replace("127.0.0.1", "localhost")
    async with websockets.connect(localhost, ssl=trusted, open_timeout=5) as connection:
        await connection.send(json.dumps({"type": "subscribe", "channel": "heartbeats"}))
        first = json.loads(await connection.recv())
    assert first["channel"] == "subscriptions"


def two_product_file(tmp_path: Path, times: np.ndarray) -> Path:
    close = 100 + np.round(np.sin(np.arange(len(times)) / 9), 2)
    rows = [
        {"time": int(t), "product_id": product, "open": c, "high": c + 0.05, "low": c - 0.05, "close": c, "volume": 3}
        for product in ("LTC-USD", "SOL-USD")
        for t, c in zip(times, close, strict=True)
    ]
    path = tmp_path / "two.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_a_file_source_replays_the_files_products_from_its_first_bar(tmp_path: Path) -> None:
    times = 1_704_067_200 + 60 * np.arange(180)
    path = two_product_file(tmp_path, times)
    config = SandboxConfig(state_dir=tmp_path / "state", source=f"file:{path}", speed=1)
    bars, start = load_market(config)
    assert sorted(bars) == ["LTC-USD", "SOL-USD"] and start == times[0] and len(bars["SOL-USD"]) == 180
    app = build_app(config)
    with BackgroundServer(app) as server:
        listed = httpx.get(server.url + API + "/market/products", timeout=10).json()["products"]
        candles = httpx.get(server.url + API + "/market/products/SOL-USD/candles",
                            params={"granularity": "ONE_MINUTE"}, timeout=10).json()["candles"]
    assert sorted(p["product_id"] for p in listed) == ["LTC-USD", "SOL-USD"]
    assert [c["start"] for c in candles] == [str(times[0])], "only the forming first minute exists yet"
    assert app.state.keys is not None and app.state.exchange is not None


def test_a_start_after_the_files_last_bar_is_refused(tmp_path: Path) -> None:
    path = two_product_file(tmp_path, 1_704_067_200 + 60 * np.arange(10))
    late = SandboxConfig(state_dir=tmp_path, source=f"file:{path}", start=1_704_067_200 + 600)
    with pytest.raises(UserError, match="the market data ends at 2024-01-01 00:10:00 UTC; choose a --start before"):
        build_app(late)


def test_the_synthetic_market_starts_now_unless_told(tmp_path: Path) -> None:
    config = SandboxConfig(state_dir=tmp_path, products=("ETH-USD",), days=0.1, history_days=0.1)
    before = int(time.time())
    bars, start = load_market(config)
    assert before - 60 <= start <= time.time()
    assert bars["ETH-USD"].start <= start - 0.09 * 86_400 and bars["ETH-USD"].end >= start + 0.09 * 86_400
    fixed = SandboxConfig(state_dir=tmp_path, source="synthetic:3", products=("ETH-USD",), start=1_704_067_200,
                          days=0.01, history_days=0)
    assert load_market(fixed)[1] == 1_704_067_200


@pytest.mark.parametrize(
    ("config", "error", "complaint"),
    [
        (dict(source="exchange:binance"), UserError, "unknown --source"),
        (dict(source="synthetic", products=("BTC-EUR",)), DataError, "no product 'BTC-EUR'"),
        (dict(source="cache"), UserError, "needs the products"),
        (dict(source="file:/nowhere/bars.csv"), DataError, "no such file"),
    ],
)
def test_a_bad_configuration_says_what_to_change(tmp_path: Path, config: dict, error: type, complaint: str) -> None:
    with pytest.raises(error, match=complaint):
        build_app(SandboxConfig(state_dir=tmp_path, **{"days": 0.01, "history_days": 0, **config}))


def test_a_product_the_catalogue_lacks_is_refused(tmp_path: Path) -> None:
    catalog = tmp_path / "products.json"
    catalog.write_text(json.dumps({"products": [{
        "product_id": "ETH-USD", "base_currency_id": "ETH", "quote_currency_id": "USD", "base_increment": "0.0001",
        "quote_increment": "0.01", "price_increment": "0.01", "base_min_size": "0.0001", "base_max_size": "1000",
        "quote_min_size": "1", "quote_max_size": "1000000",
    }]}))
    config = SandboxConfig(state_dir=tmp_path, products=("BTC-USD", "ETH-USD"), catalog_file=catalog, days=0.01,
                           history_days=0, faults=FaultSchedule.parse("gap=5"))
    with pytest.raises(UserError, match="the product catalogue has no BTC-USD"):
        build_app(config)


def test_a_taken_port_is_a_clear_error() -> None:
    listener = bind("127.0.0.1", 0)
    try:
        with pytest.raises(UserError, match=r"cannot listen on 127\.0\.0\.1:\d+ .*choose another --port"):
            bind("127.0.0.1", listener.getsockname()[1])
    finally:
        listener.close()


def test_a_restart_with_the_same_state_dir_keeps_balances_orders_fills_and_the_market_clock(tmp_path: Path) -> None:
    config = SandboxConfig(state_dir=tmp_path / "state", products=("BTC-USD",), days=0.05, history_days=0.05,
                           speed=60, rate_limits=RateLimits.off())
    created = KeyStore(config.state_dir).create_key()
    key = CdpKey.from_credentials(Credentials(created.key_name, created.private_key_pem))

    def call(server: BackgroundServer, method: str, path: str, body: Any = None, **params: Any) -> Any:
        host = server.url.removeprefix("http://")
        token = key.rest_jwt(method, host, API + path)
        answer = httpx.request(method, server.url + API + path, json=body, params=params, timeout=10,
                               headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 200, answer.text
        return answer.json()

    with BackgroundServer(build_app(config)) as first:
        bid = Decimal(httpx.get(first.url + API + "/market/product_book", params={"product_id": "BTC-USD", "limit": 1},
                                timeout=10).json()["pricebook"]["bids"][0]["price"])
        half_bid = str((bid / 2).quantize(Decimal("0.01")))
        resting = call(first, "POST", "/orders", {
            "client_order_id": "rest-1", "product_id": "BTC-USD", "side": "BUY",
            "order_configuration": {"limit_limit_gtc": {"base_size": "0.01", "limit_price": half_bid}},
        })["order_id"]
        market = call(first, "POST", "/orders", {
            "client_order_id": "market-1", "product_id": "BTC-USD", "side": "BUY",
            "order_configuration": {"market_market_ioc": {"quote_size": "100.00"}},
        })["order_id"]
        accounts_before = call(first, "GET", "/accounts")["accounts"]
        fills_before = call(first, "GET", "/orders/historical/fills")["fills"]
        stopped_at = int(httpx.get(first.url + API + "/time", timeout=10).json()["epochSeconds"])

    with BackgroundServer(build_app(config)) as second:
        assert int(httpx.get(second.url + API + "/time", timeout=10).json()["epochSeconds"]) >= stopped_at, (
            "the market clock carries on from where it stopped"
        )
        assert call(second, "GET", "/accounts")["accounts"] == accounts_before
        assert call(second, "GET", "/orders/historical/fills")["fills"] == fills_before
        orders = call(second, "GET", "/orders/historical/batch")["orders"]
        assert [(o["order_id"], o["status"]) for o in orders] == [(market, "FILLED"), (resting, "OPEN")]
        again = call(second, "POST", "/orders", {
            "client_order_id": "rest-1", "product_id": "BTC-USD", "side": "BUY",
            "order_configuration": {"limit_limit_gtc": {"base_size": "0.01", "limit_price": half_bid}},
        })
        assert again["order_id"] == resting, "client_order_id idempotency survives the restart"
        cancelled = call(second, "POST", "/orders/batch_cancel", {"order_ids": [resting]})["results"][0]
        assert cancelled["success"] is True
        usd = next(a for a in call(second, "GET", "/accounts")["accounts"] if a["currency"] == "USD")
        assert Decimal(usd["hold"]["value"]) == 0


def test_a_state_file_that_cannot_be_read_is_named_with_the_way_out(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / "exchange.json").write_text("{not json")
    config = SandboxConfig(state_dir=state, products=("BTC-USD",), days=0.01, history_days=0)
    with pytest.raises(UserError) as refused:
        build_app(config)
    assert str(state / "exchange.json") in str(refused.value) and "delete it" in str(refused.value)


@pytest.mark.parametrize("header_bytes", [200_000, 2_000_000], ids=["200kB", "2MB"])
def test_oversized_headers_get_coinbases_400_not_a_reset(sandbox: RunningSandbox, header_bytes: int) -> None:
    with socket.create_connection(("127.0.0.1", sandbox.server.port), timeout=10) as raw:
        raw.sendall(b"GET /api/v3/brokerage/time HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        line = b"X-Padding: " + b"a" * 989 + b"\r\n"
        for _ in range(header_bytes // len(line)):
            raw.sendall(line)
        raw.sendall(b"\r\n")
        answer = b""
        while chunk := raw.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 "), head
    error = json.loads(body)
    assert error["error"] == "INVALID_ARGUMENT" and "headers" in error["message"]

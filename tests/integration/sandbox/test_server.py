"""The assembled server: TLS, sources chosen by configuration, and the errors a user can act on."""

from __future__ import annotations

import json
import ssl
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
import websockets

from gpt_trader.errors import DataError, UserError
from gpt_trader.sandbox.faults import FaultSchedule
from gpt_trader.sandbox.server import BackgroundServer, SandboxConfig, bind, build_app, load_market
from gpt_trader.sandbox.tls import ensure_certificate
from tests.integration.sandbox.conftest import StartSandbox

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

"""Coinbase's official SDK, as an independent client, against the sandbox — and our client beside it.

The SDK (coinbase-advanced-py 1.8.4) runs from its own virtual environment, `.venv-sdk/` in the clone,
made on first use: it pins `websockets<14`, older than GPT-Trader's. It reaches the sandbox over HTTPS
and WSS, trusting the certificate `sandbox serve --tls --cert-out` wrote, with a key made by
`sandbox keys create`. What the SDK reads must equal what our own client reads.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import venv
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from gpt_trader.coinbase.auth import CdpKey, auth_hook
from gpt_trader.coinbase.orders import Order
from gpt_trader.coinbase.rest import CoinbaseRestClient, run_sync
from gpt_trader.config import read_key_file
from gpt_trader.market.granularity import Granularity

ROOT = Path(__file__).resolve().parents[2]
SDK_VENV = ROOT / ".venv-sdk"
SDK_REQUIREMENT = "coinbase-advanced-py==1.8.4"
SDK_SCRIPT = Path(__file__).with_name("sdk_session.py")
PRODUCT = "BTC-USD"


def _venv_python(root: Path) -> Path:
    return root / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


@pytest.fixture(scope="session")
def sdk_python() -> Path:
    python = _venv_python(SDK_VENV)
    stamp = SDK_VENV / ".installed"
    if not (python.exists() and stamp.exists() and stamp.read_text() == SDK_REQUIREMENT):
        venv.create(SDK_VENV, with_pip=True, clear=True)
        installed = subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", SDK_REQUIREMENT], capture_output=True, text=True
        )
        if installed.returncode != 0:
            pytest.skip(f"could not install {SDK_REQUIREMENT} into {SDK_VENV.name}/: {installed.stderr[-300:]}")
        stamp.write_text(SDK_REQUIREMENT)
    return python


def _gpt_trader(*args: str) -> list[str]:
    return [sys.executable, "-m", "gpt_trader", *args]


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    state = tmp_path_factory.mktemp("sandbox")
    certificate = state / "cert.pem"
    server = subprocess.Popen(
        _gpt_trader(
            "sandbox", "serve", "--port", "0", "--source", "synthetic:5", "--products", "BTC-USD,ETH-USD",
            "--speed", "60", "--tls", "--cert-out", str(certificate), "--state-dir", str(state), "--no-rate-limits",
        ),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    assert server.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any("WebSocket:" in line for line in lines):
        line = server.stdout.readline()
        if not line:
            break
        lines.append(line)
    urls = dict(re.findall(r"(REST|WebSocket):\s+(\S+)", "".join(lines)))
    if "WebSocket" not in urls:
        server.kill()
        pytest.fail("the sandbox did not start:\n" + "".join(lines) + (server.stdout.read() or ""))
    key_file = state / "key.json"
    created = subprocess.run(
        _gpt_trader("sandbox", "keys", "create", "--out", str(key_file), "--state-dir", str(state)),
        capture_output=True, text=True,
    )
    assert created.returncode == 0, created.stderr
    yield {"rest": urls["REST"], "ws": urls["WebSocket"], "cert": str(certificate), "key": str(key_file)}
    server.terminate()
    server.wait(timeout=20)


def test_the_official_sdk_and_our_client_read_the_same_sandbox(sdk_python: Path, sandbox: dict[str, str]) -> None:
    host_port = sandbox["rest"].removeprefix("https://")
    end = int(time.time()) // 60 * 60 - 3 * 3600  # closed history, well before the replay's start
    start = end - 120 * 60
    ran = subprocess.run(
        [str(sdk_python), str(SDK_SCRIPT), host_port, sandbox["ws"], sandbox["key"], PRODUCT, str(start), str(end)],
        capture_output=True, text=True, timeout=180,
        env={**os.environ, "REQUESTS_CA_BUNDLE": sandbox["cert"]},
    )
    assert ran.returncode == 0, ran.stderr[-3000:]
    sdk = json.loads(ran.stdout)

    key = CdpKey.from_credentials(read_key_file(Path(sandbox["key"])))
    market_id = sdk["market_buy"]["success_response"]["order_id"]
    limit_id = sdk["limit_buy"]["success_response"]["order_id"]

    async def ours() -> tuple[list[str], list[tuple[int, float, float, float, float, float]], list[Order]]:
        async with CoinbaseRestClient(sandbox["rest"], auth=auth_hook(key), verify=sandbox["cert"]) as client:
            products = sorted(product.product_id for product in await client.products())
            candles = await client.candles(PRODUCT, start, end, Granularity.ONE_MINUTE)
            orders = [await client.get_order(market_id), await client.get_order(limit_id)]
        return products, [(c.start, c.open, c.high, c.low, c.close, c.volume) for c in candles], orders

    products, candles, (market_order, limit_order) = run_sync(ours())
    assert sdk["products"] == products and PRODUCT in products
    sdk_candles = sorted(
        (int(c["start"]), float(c["open"]), float(c["high"]), float(c["low"]), float(c["close"]), float(c["volume"]))
        for c in sdk["candles"]
    )
    assert len(sdk_candles) == 120
    assert sdk_candles == sorted(candles)
    assert sorted(sdk["public_candles"], key=lambda c: c["start"]) == sorted(sdk["candles"], key=lambda c: c["start"])

    assert sdk["market_buy"]["success"] is True
    assert sdk["market_order"]["status"] == "FILLED"
    assert float(sdk["market_order"]["total_fees"]) > 0
    assert sdk["limit_buy"]["success"] is True
    assert sdk["limit_order_before"]["status"] == "OPEN"
    assert sdk["cancel"][0]["success"] is True
    assert sdk["limit_order_after"]["status"] == "CANCELLED"

    for read_by_sdk, read_by_us in ((sdk["market_order"], market_order), (sdk["limit_order_after"], limit_order)):
        assert read_by_us.status == read_by_sdk["status"]
        assert read_by_us.client_order_id == read_by_sdk["client_order_id"]
        for money in ("filled_size", "average_filled_price", "total_fees"):
            assert getattr(read_by_us, money) == Decimal(read_by_sdk[money]), money

    channels = [message["channel"] for message in sdk["ws_messages"]]
    assert "subscriptions" in channels and "ticker" in channels
    numbers = [message["sequence_num"] for message in sdk["ws_messages"]]
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)

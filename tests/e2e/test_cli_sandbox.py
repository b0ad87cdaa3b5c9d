"""`gpt-trader sandbox ...` end to end: the real command in a subprocess, stopped as a user would stop it."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect

from gpt_trader.config import load_settings
from gpt_trader.store import open_store

SERVE = ("sandbox", "serve", "--port", "0", "--products", "BTC-USD,ETH-USD", "--days", "0.05", "--history-days", "0.05")


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "gpt_trader", *args]


class Running:
    """A started `sandbox serve`: its process, its printed lines so far, and its URLs."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.rest_url = self._url_after("REST:")
        self.ws_url = self._url_after("WebSocket:")

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def _url_after(self, label: str) -> str:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=1)
            except queue.Empty:
                continue
            if line is None:
                break
            self.lines.append(line)
            if line.strip().startswith(label):
                return line.split(label, 1)[1].strip()
        raise AssertionError(f"no {label} line; printed so far: {self.lines}")

    def stop(self, sig: signal.Signals) -> tuple[int, str, str]:
        self.process.send_signal(sig)
        self.process.wait(timeout=30)
        while (line := self._queue.get(timeout=5)) is not None:  # stdout is the reader thread's alone
            self.lines.append(line)
        assert self.process.stderr is not None
        return self.process.returncode, "\n".join(self.lines), self.process.stderr.read()


def environment() -> dict[str, str]:
    """The test's environment (its own data, cache and config folders), with a wide, plain console."""
    return {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}


@contextmanager
def serve(*extra: str, flags: tuple[str, ...] = SERVE) -> Iterator[Running]:
    """`gpt-trader` with `flags` (a small, short sandbox by default) and `extra`, killed if still running."""
    process = subprocess.Popen(
        command(*flags, *extra), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment()
    )
    try:
        yield Running(process)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.parametrize(("sig", "said"), [(signal.SIGINT, "Ctrl-C"), (signal.SIGTERM, "SIGTERM")])
def test_serve_prints_its_urls_serves_and_stops_cleanly(tmp_path: Path, sig: signal.Signals, said: str) -> None:
    with serve("--state-dir", str(tmp_path)) as running:
        assert running.rest_url.startswith("http://127.0.0.1:") and running.ws_url.startswith("ws://127.0.0.1:")
        products = httpx.get(running.rest_url + "/api/v3/brokerage/market/products", timeout=10).json()
        assert [p["product_id"] for p in products["products"]] == ["BTC-USD", "ETH-USD"]
        with connect(running.ws_url, open_timeout=10) as connection:  # a client still connected at the stop
            connection.send(json.dumps({"type": "subscribe", "channel": "heartbeats"}))
            assert json.loads(connection.recv(timeout=10))["channel"] == "subscriptions"
            status, printed, stderr = running.stop(sig)
    assert status == 0, stderr
    assert printed.splitlines()[-1] == f"sandbox stopped ({said})"
    assert "Traceback" not in stderr


def test_serve_with_tls_writes_the_certificate_clients_trust(tmp_path: Path) -> None:
    cert = tmp_path / "cert.pem"
    with serve("--state-dir", str(tmp_path), "--tls", "--cert-out", str(cert), "--faults", "gap=30") as running:
        assert running.rest_url.startswith("https://") and running.ws_url.startswith("wss://")
        trusted = ssl.create_default_context(cafile=str(cert))
        answer = httpx.get(running.rest_url + "/api/v3/brokerage/time", verify=trusted, timeout=10)
        status, printed, _ = running.stop(signal.SIGTERM)
    assert answer.status_code == 200 and status == 0
    assert f"certificate: {cert}" in printed and "gap every 30 s" in printed


def test_keys_create_writes_a_key_file_and_never_prints_the_private_key(tmp_path: Path) -> None:
    out = tmp_path / "my_key.json"
    created = subprocess.run(
        command("sandbox", "keys", "create", "--out", str(out), "--state-dir", str(tmp_path / "state")),
        capture_output=True, text=True, timeout=60,
    )
    assert created.returncode == 0, created.stderr
    key = json.loads(out.read_text())
    assert key["name"].startswith("organizations/") and "BEGIN EC PRIVATE KEY" in key["privateKey"]
    assert f"created sandbox key …{key['name'][-6:]} (ES256)" in created.stdout
    assert f"key file: {out}" in created.stdout
    assert key["name"] not in created.stdout and "PRIVATE KEY" not in created.stdout + created.stderr
    registered = json.loads((tmp_path / "state" / "keys.json").read_text())["keys"]
    assert list(registered) == [key["name"]]
    again = subprocess.run(
        command("sandbox", "keys", "create", "--out", str(out), "--state-dir", str(tmp_path / "state")),
        capture_output=True, text=True, timeout=60,
    )
    assert again.returncode == 2 and "already exists" in again.stderr


@pytest.mark.parametrize(
    ("flags", "complaint"),
    [
        (("--faults", "explode=5"), "unknown fault 'explode'"),
        (("--source", "nowhere"), "unknown --source"),
        (("--cert-out", "x.pem"), "add --tls"),
    ],
)
def test_serve_refuses_bad_flags_with_a_message(tmp_path: Path, flags: tuple[str, ...], complaint: str) -> None:
    refused = subprocess.run(
        command(*SERVE, "--state-dir", str(tmp_path), *flags), capture_output=True, text=True, timeout=60
    )
    assert refused.returncode == 2 and complaint in refused.stderr and "Traceback" not in refused.stderr


RAW_LOG_LINE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2},\d{3} [A-Z]+ gpt_trader")


def test_the_readme_sandbox_example_backtests_the_quick_set_against_the_sandbox(tmp_path: Path) -> None:
    """README: `sandbox serve`, the two exports, `backtest --quick`: every product served, no log noise."""
    readme_serve = ("sandbox", "serve", "--port", "0")
    with serve("--state-dir", str(tmp_path / "state"), flags=readme_serve) as running:
        market = running.rest_url + "/api/v3/brokerage/market/products"
        listed = [p["product_id"] for p in httpx.get(market, timeout=10).json()["products"]]
        by_old_name = httpx.get(market + "/MATIC-USD", timeout=10).json()
        pointed = {
            **environment(),
            "GPT_TRADER_COINBASE_REST_URL": running.rest_url,
            "GPT_TRADER_COINBASE_WS_URL": running.ws_url,
        }
        quick = subprocess.run(
            command("backtest", "--quick"), capture_output=True, text=True, timeout=600, env=pointed
        )
        status, _, served_stderr = running.stop(signal.SIGTERM)
    assert "POL-USD" in listed and "MATIC-USD" not in listed, "listed as Coinbase lists it"
    assert by_old_name["product_id"] == "POL-USD", "the old name is accepted and answers with the listed product"
    assert quick.returncode == 0, quick.stderr
    assert "25 backtests (5 strategies × 5 products" in quick.stdout
    said = (quick.stdout + quick.stderr).splitlines()
    assert [line for line in said if RAW_LOG_LINE.match(line) or "Traceback" in line] == []
    assert status == 0 and "Traceback" not in served_stderr
    run_id = int(quick.stdout.rsplit("Recorded as run ", 1)[1].split(".")[0])
    with open_store(load_settings().database) as store:
        recorded = store.get_run(run_id)
    assert recorded is not None and recorded.config["source_url"] == running.rest_url


def test_a_backtest_asking_more_history_than_the_sandbox_serves_is_refused_saying_why(tmp_path: Path) -> None:
    short = ("sandbox", "serve", "--port", "0", "--products", "BTC-USD", "--history-days", "2", "--days", "0.05")
    with serve("--state-dir", str(tmp_path / "state"), flags=short) as running:
        pointed = {**environment(), "GPT_TRADER_COINBASE_REST_URL": running.rest_url}
        asked = subprocess.run(
            command("backtest", "-s", "momentum", "-p", "BTC-USD", "-g", "1h", "--days", "5"),
            capture_output=True, text=True, timeout=300, env=pointed,
        )
        running.stop(signal.SIGTERM)
    assert asked.returncode == 2, asked.stdout + asked.stderr
    assert "BTC-USD 1h candles from" in asked.stderr and "less history than asked" in asked.stderr
    assert "Traceback" not in asked.stderr and "Recorded as run" not in asked.stdout


def test_a_file_of_matic_usd_candles_is_replayed_as_pol_usd(tmp_path: Path) -> None:
    """Older data names the market MATIC-USD; the sandbox serves its history under the listed name."""
    start = 1_722_470_400  # 2024-08-01 00:00 UTC
    rows = ["time,product_id,open,high,low,close,volume"]
    rows += [f"{start + 60 * minute},MATIC-USD,0.5,0.5012,0.4991,0.5003,1200" for minute in range(120)]
    candles = tmp_path / "matic.csv"
    candles.write_text("\n".join(rows) + "\n")
    flags = ("sandbox", "serve", "--port", "0", "--source", f"file:{candles}", "--start", str(start + 3600))
    with serve("--state-dir", str(tmp_path / "state"), flags=flags) as running:
        market = running.rest_url + "/api/v3/brokerage/market/products"
        listed = [p["product_id"] for p in httpx.get(market, timeout=10).json()["products"]]
        candles_of = httpx.get(
            market + "/POL-USD/candles",
            params={"start": str(start), "end": str(start + 3600), "granularity": "ONE_MINUTE"},
            timeout=10,
        ).json()["candles"]
        status, _, stderr = running.stop(signal.SIGTERM)
    assert listed == ["POL-USD"]
    assert len(candles_of) == 60 and candles_of[-1]["open"] == "0.5"
    assert status == 0 and "Traceback" not in stderr

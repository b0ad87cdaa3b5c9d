"""`gpt-trader data ...` end to end: the real command in a subprocess, on the isolated XDG folders."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gpt_trader.config import load_settings
from gpt_trader.market.bars import Bars
from gpt_trader.market.cache import CandleCache
from gpt_trader.market.granularity import Granularity

BENCH_PRODUCTS = ("BTC-USD", "ETH-USD", "SOL-USD", "LINK-USD", "MATIC-USD")


def data(*args: str) -> subprocess.CompletedProcess[str]:
    """Run `python -m gpt_trader data ARGS` with this test's XDG folders (set by the autouse fixture)."""
    environment = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "gpt_trader", "data", *args],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
    )


def test_the_benchmark_file_imports_as_five_clean_products(shared_dir: Path) -> None:
    imported = data("import", str(shared_dir / "bench" / "ohlcv_1m.parquet"))
    assert imported.returncode == 0, imported.stderr
    for product in BENCH_PRODUCTS:
        assert any(product in line and "43,200" in line for line in imported.stdout.splitlines())

    verified = data("verify")
    assert verified.returncode == 0, verified.stdout
    assert [line for line in verified.stdout.splitlines() if line.endswith(": clean")] == [
        f"local {product} 1m: clean" for product in sorted(BENCH_PRODUCTS)
    ]

    listed = data("list").stdout
    rows = [line for line in listed.splitlines() if "local" in line]
    assert len(rows) == 5
    assert all("2024-01-01 00:00" in row and "2024-01-30 23:59" in row and "43,200" in row for row in rows)

    shown = data("show", "eth-usd", "--tail", "2")
    assert shown.returncode == 0, shown.stderr
    assert "local ETH-USD 1m: 43,200 bars" in shown.stdout
    assert "2024-01-30 23:58" in shown.stdout and "2024-01-30 23:59" in shown.stdout
    assert "2024-01-30 23:57" not in shown.stdout


def test_a_file_with_bad_rows_is_refused_naming_each_of_them(tmp_path: Path) -> None:
    bad = tmp_path / "btc-usd_1m.csv"
    bad.write_text(
        "time,open,high,low,close,volume\n"
        "2024-01-01T00:00:00Z,100,101,99,100.5,3\n"
        "2024-01-01T00:01:00Z,100.5,101,99,,3\n"
        "2024-01-01T00:02:00Z,100,101,99,100.5,3\n"
        "2024-01-01T00:03:00Z,100,98,99,100.5,3\n"
    )
    refused = data("import", str(bad))
    assert refused.returncode == 2
    assert "was not imported" in refused.stderr
    assert "BTC-USD: row 1 (2024-01-01T00:01:00Z) close is NaN" in refused.stderr
    assert "BTC-USD: row 3 (2024-01-01T00:03:00Z) high 98.0 is below low 99.0" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert "nothing cached" in data("list").stdout


def test_verify_fails_on_a_bad_cached_entry_and_names_the_row() -> None:
    times = 1_704_067_200 + 3600 * np.arange(4)
    close = np.array([10.0, 10.5, -1.0, 10.0])
    flat = np.full(4, 10.0)
    bars = Bars("BTC-USD", Granularity.ONE_HOUR, times, flat, flat + 1, np.minimum(close, 9), close, flat)
    CandleCache(load_settings().cache_dir).put("local", bars)

    verified = data("verify", "BTC-USD")
    assert verified.returncode == 1
    assert "local BTC-USD 1h: 1 problem(s)" in verified.stdout
    assert "row 2 (2024-01-01T02:00:00Z) low -1.0 is not positive, close -1.0" in verified.stdout


def test_fetch_from_the_synthetic_market_then_list_and_verify_it() -> None:
    span = ["--start", "2024-01-01", "--end", "2024-01-03"]
    fetched = data("fetch", "BTC-USD", "ETH-USD", "--source", "synthetic:3", "-g", "1h", *span)
    assert fetched.returncode == 0, fetched.stderr
    lines = fetched.stdout.splitlines()
    for product in ("BTC-USD", "ETH-USD"):
        assert any(product in line and " 48 " in line and "none" in line for line in lines)

    listed = data("list").stdout
    assert sum("synthetic-3" in line and " 1h " in line for line in listed.splitlines()) == 2
    verified = data("verify", "--source", "synthetic:3")
    assert verified.returncode == 0 and "all 2 entries clean" in verified.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ("fetch BTC-USD --source binance", "unknown source 'binance'; use one of: coinbase"),
        ("fetch BTC-USD -g 7m", "unknown granularity '7m'; choose one of"),
        ("fetch BTC-USD --days 2 --start 2024-01-01", "give --days or --start, not both"),
        ("fetch BTC-USD --start yesterday", "--start 'yesterday' is not a time"),
        ("fetch BTC-USD --days 0", "--days"),
        ("import missing.csv", "missing.csv: no such file"),
        ("show BTC-USD", "no cached BTC-USD candles match"),
        ("fetch BTC-USD --source synthetic --days 1 --cache-dir /dev/null", "cannot write to the candle cache"),
    ],
)
def test_a_mistake_gets_a_clear_error_and_no_traceback(args: str, message: str) -> None:
    failed = data(*args.split())
    assert failed.returncode == 2
    assert message in failed.stderr
    assert "Traceback" not in failed.stderr


def test_fetch_without_coinbase_suggests_what_fetch_can_do() -> None:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there now: the connection is refused at once
    run = subprocess.run(
        [sys.executable, "-m", "gpt_trader", "data", "fetch", "BTC-USD", "--days", "1"],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "GPT_TRADER_COINBASE_REST_URL": f"http://127.0.0.1:{port}"},
    )
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert "Coinbase could not be reached" in run.stderr
    assert "--source file:PATH" not in run.stderr
    assert "data fetch BTC-USD --source synthetic" in run.stderr and "gpt-trader data import PATH" in run.stderr

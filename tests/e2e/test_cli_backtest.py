"""`gpt-trader backtest` end to end: the real command in a subprocess, offline, on the isolated XDG folders."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from gpt_trader.config import load_settings
from gpt_trader.store import open_store

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "rsi_strategy.py"


def gpt_trader(*args: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "gpt_trader", *args], capture_output=True, text=True, env=environment, timeout=300
    )


def test_the_quick_run_prints_summary_and_top_writes_files_and_records_the_run(tmp_path: Path) -> None:
    json_path, csv_path = tmp_path / "out.json", tmp_path / "out.csv"
    run = gpt_trader(
        "backtest", "--quick", "--source", "synthetic:3", "--top", "3", "--json", str(json_path), "--csv", str(csv_path)
    )
    assert run.returncode == 0, run.stderr
    out = run.stdout
    assert "25 backtests (5 strategies × 5 products, 15m candles)" in out
    for strategy in ("momentum", "mean_reversion", "breakout", "ma_crossover", "volatility"):
        assert f"│ {strategy} " in out
    assert "Top 3 by sharpe" in out
    document = json.loads(json_path.read_text())
    assert len(document["results"]) == 25
    assert {row["product_id"] for row in document["results"]} == {
        "BTC-USD", "ETH-USD", "SOL-USD", "LINK-USD", "POL-USD"
    }
    table = pd.read_csv(csv_path)
    assert len(table) == 25 and "sharpe" in table.columns
    run_id = int(out.rsplit("Recorded as run ", 1)[1].split(".")[0])
    with open_store(load_settings().database) as store:
        stored = store.backtest_frame(run_id)
        recorded = store.get_run(run_id)
    assert recorded is not None and recorded.status.value == "finished" and recorded.trials == 5
    assert sorted(stored["final_equity"]) == pytest.approx(sorted(table["final_equity"]))


def test_a_parameter_sweep_and_a_users_strategy_file() -> None:
    run = gpt_trader(
        "backtest", "-s", f"ma_crossover,{EXAMPLE}", "-p", "ETH-USD", "--source", "synthetic", "--days", "10",
        "--param", "ma_crossover.fast=5:15:5", "--param", "slow=20,40", "--no-record", "--top", "2",
    )
    assert run.returncode == 0, run.stderr
    assert "7 backtests (2 strategies × 1 product," in run.stdout  # 3 × 2 crossovers + the file's default
    assert "Recorded" not in run.stdout


def test_imported_candles_feed_the_backtest(shared_dir: Path) -> None:
    imported = gpt_trader("data", "import", str(shared_dir / "bench" / "ohlcv_1m.parquet"))
    assert imported.returncode == 0, imported.stderr
    bench_products = "BTC-USD,ETH-USD,SOL-USD,LINK-USD,MATIC-USD"  # the file names POL-USD by its old name
    run = gpt_trader("backtest", "--quick", "-p", bench_products, "--source", "local", "--fill", "close", "--no-record")
    assert run.returncode == 0, run.stderr
    assert "25 backtests (5 strategies × 5 products, 15m candles)" in run.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-s", "momentun"], "Did you mean 'momentum'?"),
        (["-p", "DOGE-EUR"], "DOGE-EUR"),
        (["--param", "speed=3"], "no strategy of this run has a parameter 'speed'"),
        (["--param", "momentum.speed=3"], "strategy 'momentum' has no parameter 'speed'"),
        (["--days", "-1"], "--days -1: give a number of days above 0"),
        (["--csv", "missing-folder/results.csv"], "cannot write missing-folder/results.csv: "),
        (["-s", "ma_crossover", "--param", "fast=40:20"], "stop 20 is below start 40"),
        (["-s", "ma_crossover", "--param", "fast=50", "--param", "slow=10"], "no valid parameter combination"),
        (["-g", "7m"], "unknown granularity '7m'"),
        (["--fill", "tomorrow"], "fill must be one of next_open, close"),
        (["--fee", "-0.1"], "fee_rate must be >= 0"),
        (["--start", "yesterday"], "is not a time"),
        (["--source", "ftp:x"], "ftp:x"),
        (["--sort", "luck"], "--sort 'luck': choose one of"),
    ],
)
def test_bad_input_gets_a_clear_error_and_no_traceback(args: list[str], message: str) -> None:
    run = gpt_trader("backtest", "--source", "synthetic", "--days", "2", "--no-record", *args)
    assert run.returncode == 2, run.stdout
    assert message in run.stderr
    assert "Traceback" not in run.stderr

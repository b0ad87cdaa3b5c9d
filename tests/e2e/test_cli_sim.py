"""`gpt-trader sim` end to end: the real command in a subprocess, offline, recording into the isolated database."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from gpt_trader.config import load_settings
from gpt_trader.store import open_store
from gpt_trader.store.schema import AccountStatus
from tests.support.cli import gpt_trader


def test_accounts_trade_replayed_candles_and_the_run_is_recorded(tmp_path: Path) -> None:
    json_path, csv_path = tmp_path / "sim.json", tmp_path / "sim.csv"
    run = gpt_trader(
        "sim", "--accounts", "2", "-s", "ma_crossover,breakout", "--symbols", "BTC-USD,ETH-USD", "--days", "3",
        "-g", "15m", "--source", "synthetic:5", "--speed", "max", "--param", "ma_crossover.fast=4",
        "--stop-loss", "0.02", "--json", str(json_path), "--csv", str(csv_path),
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "8 accounts" in run.stdout
    for column in ("return", "trades", "fees", "win rate", "max drawdown"):
        assert column in run.stdout
    document = json.loads(json_path.read_text())
    rows = document["instances"]
    assert len(rows) == 8
    assert {row["product_id"] for row in rows} == {"BTC-USD", "ETH-USD"}
    assert all(row["params"]["fast"] == 4 for row in rows if row["strategy"] == "ma_crossover")
    assert sum(row["trades"] for row in rows) > 0
    table = pd.read_csv(csv_path)
    assert list(table["account"]) == [row["account"] for row in rows]
    with open_store(load_settings().database) as store:
        recorded = store.get_run(document["run_id"])
        assert recorded is not None and recorded.kind == "simulation" and recorded.status == "finished"
        assert recorded.config["accounts"] == 8 and recorded.code_version
        accounts = store.accounts(document["session_id"])
        assert len(accounts) == 8
        for account in accounts:
            row = next(row for row in rows if row["account"] == account.name)
            assert account.status is AccountStatus.STOPPED
            assert float(store.equity_curve(account.id)[-1].equity) == pytest.approx(row["final_equity"], abs=0.005)
            assert len(store.round_trips(account.id)) == row["closed_trades"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-s", "nope"], "unknown strategy 'nope'"),
        (["--symbols", "NOPE-USD"], "unknown product 'NOPE-USD'"),
        (["--capital", "0"], "--capital 0: each account needs a positive starting cash"),
        (["--capital", "-5"], "--capital -5: each account needs a positive starting cash"),
        (["--speed", "fast"], "--speed 'fast': give a positive multiple"),
    ],
)
def test_bad_input_is_one_clear_line(args: list[str], message: str) -> None:
    run = gpt_trader("sim", "--source", "synthetic", "--days", "1", *args)
    assert run.returncode == 2
    assert message in run.stderr
    assert "Traceback" not in run.stderr


def test_a_product_the_source_does_not_carry(tmp_path: Path) -> None:
    path = tmp_path / "btc.csv"
    times = pd.date_range("2024-01-01", periods=48, freq="h", tz="UTC")
    frame = pd.DataFrame({"time": times, "open": 100.0, "high": 101.0, "low": 99.0, "close": 100.5, "volume": 1.0})
    frame.to_csv(path, index=False)
    run = gpt_trader("sim", "--source", f"file:{path}:BTC-USD", "--symbols", "ETH-USD", "-g", "1h", "--days", "1")
    assert run.returncode == 2
    assert "ETH-USD" in run.stderr and "Traceback" not in run.stderr

"""`gpt-trader backtest` end to end: the real command in a subprocess, offline, on the isolated XDG folders."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gpt_trader.config import load_settings
from gpt_trader.store import open_store
from tests.support.cli import gpt_trader

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "rsi_strategy.py"


def first_words(out: str) -> set[str]:
    """The first cell of every table row (and the first word of every other line)."""
    return {line.split()[0] for line in out.splitlines() if line.strip()}


RAISING_STRATEGY = """\
import numpy as np
from gpt_trader.strategies import Strategy


class Boom(Strategy):
    name = "boom"

    def lookback(self, params):
        return 1

    def signals(self, bars, params, cache=None):
        raise RuntimeError("boom")
"""


def test_the_quick_run_prints_summary_and_top_writes_files_and_records_the_run(tmp_path: Path) -> None:
    json_path, csv_path = tmp_path / "out.json", tmp_path / "out.csv"
    run = gpt_trader(
        "backtest", "--quick", "--source", "synthetic:3", "--top", "3", "--json", str(json_path), "--csv", str(csv_path)
    )
    assert run.returncode == 0, run.stderr
    out = run.stdout
    assert "25 backtests (5 strategies × 5 products, 15m candles)" in out
    assert "kernels compiled or loaded from cache in " in out
    for strategy in ("momentum", "mean_reversion", "breakout", "ma_crossover", "volatility"):
        assert strategy in first_words(out)
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
    assert recorded is not None and recorded.status.value == "finished" and recorded.trials == 25
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
        (["--csv", "missing-folder/results.csv"], "--csv missing-folder/results.csv: the folder missing-folder does"),
        (["-s", "ma_crossover", "--param", "fast=40:20"], "stop 20 is below start 40"),
        (["-s", "ma_crossover", "--param", "fast=50", "--param", "slow=10"], "no valid parameter combination"),
        (["-g", "7m"], "unknown granularity '7m'"),
        (["--fill", "tomorrow"], "fill must be one of next_open, close"),
        (["--fee", "-0.1"], "fee_rate must be >= 0"),
        (["--start", "yesterday"], "is not a time"),
        (["--source", "ftp:x"], "ftp:x"),
        (["--sort", "luck"], "--sort 'luck': choose one of"),
        (["--cash", "0"], "--cash must be a positive amount; got 0.0"),
    ],
)
def test_bad_input_gets_a_clear_error_and_no_traceback(args: list[str], message: str) -> None:
    run = gpt_trader("backtest", "--source", "synthetic", "--days", "2", "--no-record", *args)
    assert run.returncode == 2, run.stdout
    assert message in run.stderr
    assert "Traceback" not in run.stderr


def test_a_strategy_that_raises_is_one_error_and_the_others_results_are_kept(tmp_path: Path) -> None:
    strategy_file = tmp_path / "boom.py"
    strategy_file.write_text(RAISING_STRATEGY)
    json_path = tmp_path / "out.json"
    run = gpt_trader(
        "backtest", "-s", f"momentum,{strategy_file}", "--source", "synthetic", "--days", "5", "--json", str(json_path)
    )
    assert run.returncode == 2, run.stderr
    assert "Traceback" not in run.stderr
    assert f"strategy boom ({strategy_file}:12) failed: RuntimeError: boom" in run.stderr
    assert "momentum" in first_words(run.stdout) and "boom" not in first_words(run.stdout)
    assert {row["strategy"] for row in json.loads(json_path.read_text())["results"]} == {"momentum"}
    run_id = int(run.stdout.rsplit("Recorded as run ", 1)[1].split(".")[0])
    with open_store(load_settings().database) as store:
        assert set(store.backtest_frame(run_id)["strategy"]) == {"momentum"}


def test_a_sweep_says_how_many_combinations_it_skipped_and_why() -> None:
    run = gpt_trader(
        "backtest", "-s", "ma_crossover", "--source", "synthetic", "--days", "5", "--no-record",
        "--param", "fast=10:30:10", "--param", "slow=20:40:10",
    )
    assert run.returncode == 0, run.stderr
    assert "6 backtests" in run.stdout
    assert (
        "ma_crossover: 3 of 9 combinations skipped, refused by the strategy (first: ma_crossover needs "
        "fast < slow, got fast=20 and slow=20)"
    ) in run.stdout


def test_output_paths_and_the_database_are_checked_before_any_work(tmp_path: Path) -> None:
    run = gpt_trader("backtest", "--source", "synthetic", "--days", "2", "--csv", str(tmp_path / "no" / "x.csv"))
    assert run.returncode == 2
    assert f"--csv {tmp_path / 'no' / 'x.csv'}: the folder {tmp_path / 'no'} does not exist" in run.stderr
    assert "backtests" not in run.stdout
    with open_store(load_settings().database) as store:
        assert store.list_runs() == []
    blocked = tmp_path / "file-not-folder"
    blocked.write_text("")
    database = gpt_trader(
        "backtest", "--source", "synthetic", "--days", "2", env={"GPT_TRADER_DATA_DIR": str(blocked / "data")}
    )
    assert database.returncode == 2 and "Traceback" not in database.stderr
    assert "backtests" not in database.stdout


def test_a_parameter_of_a_strategy_not_in_the_run_says_so() -> None:
    run = gpt_trader("backtest", "-s", "ma_crossover", "--source", "synthetic", "--days", "2", "--no-record",
                     "--param", "breakout.window=10")
    assert run.returncode == 2
    assert "--param breakout.window=10: breakout is not in this run (-s ma_crossover)" in run.stderr


def test_every_run_says_what_it_tested(tmp_path: Path) -> None:
    json_path, csv_path = tmp_path / "out.json", tmp_path / "out.csv"
    run = gpt_trader(
        "backtest", "-s", "momentum", "-p", "BTC-USD", "--source", "synthetic:3", "--start", "2024-01-01",
        "--end", "2024-01-03", "-g", "1h", "--fee", "0.004", "--spread-bps", "2", "--cash", "500", "--no-record",
        "--json", str(json_path), "--csv", str(csv_path),
    )
    assert run.returncode == 0, run.stderr
    header = run.stdout.splitlines()[0]
    assert header == (
        "Data: synthetic:3, 2024-01-01 00:00 → 2024-01-03 00:00 UTC, 48 1h bars. "
        "Costs: fee 0.40% per fill, fill next_open, half-spread 2 bps, slippage 0 bps, starting cash 500.00."
    )
    assert "b&h (buy and hold): all-in at the first fill, sold at the last close" in run.stdout
    document = json.loads(json_path.read_text())
    assert document["data"] == {
        "source": "synthetic:3", "granularity": "1h",
        "products": {"BTC-USD": {"start": "2024-01-01T00:00:00Z", "end": "2024-01-03T00:00:00Z", "bars": 48}},
    }
    assert document["settings"]["fee_rate"] == 0.004 and document["settings"]["half_spread_bps"] == 2
    table = pd.read_csv(csv_path)
    assert list(table[["start", "end", "bars", "fee_rate", "fill"]].iloc[0]) == [
        "2024-01-01T00:00:00Z", "2024-01-03T00:00:00Z", 48, 0.004, "next_open"
    ]
    row = document["results"][0]
    assert row["buy_and_hold_return"] is not None
    assert document["settings"]["initial_cash"] == 500
    assert row["final_equity"] == pytest.approx(500 * (1 + row["total_return"]))


def test_a_file_source_names_the_product_of_an_unnamed_file(tmp_path: Path) -> None:
    candles = tmp_path / "candles.csv"
    hours = pd.date_range("2024-01-01", periods=96, freq="h", tz="UTC")
    prices = 100 + np.sin(np.arange(96) / 5)
    pd.DataFrame({"time": hours, "open": prices, "high": prices + 1, "low": prices - 1, "close": prices,
                  "volume": 1.0}).to_csv(candles, index=False)
    unnamed = gpt_trader("backtest", "--source", f"file:{candles}", "--no-record")
    assert unnamed.returncode == 2 and "Traceback" not in unnamed.stderr
    assert f"name it in the source, e.g. --source file:{candles}:BTC-USD" in unnamed.stderr
    named = gpt_trader("backtest", "-s", "momentum", "-g", "1h", "--source", f"file:{candles}:ETH-USD", "--no-record")
    assert named.returncode == 0, named.stderr
    assert "ETH-USD" in named.stdout.split() and "96 1h bars" in named.stdout


def test_on_a_terminal_the_kernels_get_a_progress_bar_that_says_they_compile_once() -> None:
    """A terminal sees what the first, compiling run is doing; a pipe (every other test here) sees no bars."""
    controller, terminal = os.openpty()
    with subprocess.Popen(
        [sys.executable, "-m", "gpt_trader", "backtest", "--source", "synthetic", "--days", "2", "--no-record"],
        stdin=subprocess.DEVNULL, stdout=terminal, stderr=terminal,
        env={**os.environ, "COLUMNS": "120", "TERM": "xterm"},
    ) as process:
        os.close(terminal)
        shown = b""
        while chunk := _read(controller):
            shown += chunk
        assert process.wait(timeout=300) == 0, shown.decode(errors="replace")
    os.close(controller)
    assert "kernels (compiled on first use, then loaded from cache)" in shown.decode(errors="replace")


def _read(controller: int) -> bytes:
    try:
        return os.read(controller, 65536)
    except OSError:  # the terminal's other end closed: the command has exited
        return b""


# What the quick screen has no use for, each a visible share of its start, and why it does without.
NOT_ON_THE_QUICK_PATH = (
    # A third of a second: results are printed and recorded from columns; `SweepResult.table` builds the
    # DataFrame only when asked, and pyarrow's conversions of the cached candles would import it too.
    "pandas",
    # Fifty milliseconds, with the asyncio it imports, for nine settings: `config` reads them itself.
    "pydantic_settings",
    # A tenth of a second, for Typer to convert option values that need no converting (`cli.app.PlainOption`).
    "pydantic",
    # Once the database exists, recording goes through sqlite3 (`store.sqlite_runs`); the SQLAlchemy store
    # (and Alembic's migrations, which the first run uses to create the database) serves other commands.
    "sqlalchemy",
    # A sweep's winners are judged by `backtest.judging`; walk-forward and regimes belong to `optimize`.
    "gpt_trader.backtest.optimize",
)


def test_the_quick_screen_imports_nothing_it_has_no_use_for() -> None:
    probe = (
        "import runpy, sys\n"
        "sys.argv = ['gpt-trader', 'backtest', '--quick', '--source', 'synthetic:5']\n"
        "try:\n"
        "    runpy.run_module('gpt_trader', run_name='__main__')\n"
        "except SystemExit as end:\n"
        "    assert not end.code, end.code\n"
        f"print('imported:', sorted(set({NOT_ON_THE_QUICK_PATH!r}) & set(sys.modules)))\n"
    )
    environment = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    for attempt, expected in (
        ("fetching and caching the candles, creating the database", "imported: ['sqlalchemy']"),
        ("reading them from the cache, recording into the database", "imported: []"),
    ):
        run = subprocess.run(
            [sys.executable, "-c", probe], capture_output=True, text=True, env=environment, timeout=300
        )
        assert run.returncode == 0, run.stderr
        assert "Recorded as run" in run.stdout, attempt
        assert run.stdout.rstrip().splitlines()[-1] == expected, attempt

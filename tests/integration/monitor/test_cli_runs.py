"""`gpt-trader runs list|show|compare`: the real command in a subprocess, against a store a test filled."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from gpt_trader.config import load_settings
from gpt_trader.store import open_store
from tests.support.monitor_records import Planted, plant


def gpt_trader(*args: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "gpt_trader", *args], capture_output=True, text=True, env=environment, timeout=120
    )


@pytest.fixture
def planted() -> Planted:
    with open_store(load_settings().database) as store:
        return plant(store)


def test_list_filters_and_prints_json(planted: Planted) -> None:
    listed = gpt_trader("runs", "list", "--strategy", "momentum", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert [row["id"] for row in rows] == [planted.paper_run, planted.sweep_run]
    assert rows[1]["results"] == 9
    table = gpt_trader("runs", "list", "--kind", "sweep", "--source", "coinbase")
    assert table.returncode == 0, table.stderr
    assert "momentum sweep" in table.stdout and "ma_crossover × BTC-USD" not in table.stdout


def test_show_prints_the_record_results_and_trades(planted: Planted) -> None:
    sweep = gpt_trader("runs", "show", str(planted.sweep_run), "--top", "2", "--sort", "total_return")
    assert sweep.returncode == 0, sweep.stderr
    assert "Top 2 of 9 by total_return" in sweep.stdout
    assert "lookback=30 threshold=3" in sweep.stdout and "+90.00%" in sweep.stdout
    assert "By market regime" in sweep.stdout
    assert "trending, high volatility" in sweep.stdout and "+8.10%" in sweep.stdout and "2.25" in sweep.stdout
    regimes = json.loads(gpt_trader("runs", "show", str(planted.sweep_run), "--json").stdout)["regimes"]
    assert [(r["regime"], r["bars"], r["share"]) for r in regimes] == [
        ("trending, high volatility", 100, 0.25),
        ("ranging, low volatility", 300, 0.75),
    ]
    paper = gpt_trader("runs", "show", str(planted.paper_run), "--json")
    document = json.loads(paper.stdout)
    assert {account["name"]: account["equity"] for account in document["accounts"]} == {"a": "10040", "b": "9960"}
    assert sum(len(trips) for trips in document["round_trips"].values()) == 2
    assert document["regimes"] == []
    assert "By market regime" not in gpt_trader("runs", "show", str(planted.paper_run)).stdout


def test_compare_lines_up_kinds_and_says_which_have_no_runs(planted: Planted) -> None:
    shown = gpt_trader("runs", "compare", "ma_crossover")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.count("no runs yet") == 2  # simulation and live
    assert "BTC-USD" in shown.stdout and "-11.60%" in shown.stdout  # paper +0.40% minus backtest +12.00%
    document = json.loads(gpt_trader("runs", "compare", "momentum", "--json").stdout)
    (gap,) = document["gaps"]
    assert gap["gap"] == pytest.approx(-0.004 - sum(days * t / 100 for days in (10, 20, 30) for t in (1, 2, 3)) / 9)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("runs", "list", "--kind", "bogus"), "--kind 'bogus' is not a run kind"),
        (("runs", "list", "--since", "2026-02-01", "--until", "2026-01-01"), "--until (2026-01-01 00:00) must come"),
        (("runs", "list", "--until", "soon"), "--until 'soon' is not a time"),
        (("runs", "show", "999"), "there is no run 999"),
        (("runs", "show", "1", "--sort", "params"), "--sort 'params' is not a metric"),
        (("runs", "compare", "nothing_like_it"), "no runs of strategy 'nothing_like_it'"),
    ],
)
def test_mistakes_get_a_clear_error_not_a_traceback(planted: Planted, args: tuple[str, ...], message: str) -> None:
    answer = gpt_trader(*args)
    assert answer.returncode == 2
    assert message in answer.stderr and "Traceback" not in answer.stderr

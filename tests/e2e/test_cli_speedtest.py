"""`gpt-trader speedtest` end to end: the four methods measured on a sandbox it starts on loopback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gpt_trader.cli.speedtest import _print_table
from tests.support.cli import gpt_trader


@pytest.mark.slow
def test_quick_speedtest_measures_every_method_on_the_same_work(
    isolated_dirs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    done = gpt_trader("speedtest", "--quick", "--json")
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    report = json.loads(done.stdout)
    workload = report["workload"]
    strategies, products, bars = workload["strategies"], workload["products"], workload["bars"]
    assert strategies == ["momentum", "mean_reversion", "breakout", "ma_crossover", "volatility"]
    methods = {row["method"]: row for row in report["methods"]}
    assert list(methods) == ["sequential", "parallel", "sim", "backtest"]
    baseline = methods["sequential"]["wall_s"]
    for row in methods.values():
        assert row["wall_s"] > 0 and row["cpu_s"] > 0 and row["peak_rss_mb"] > 0
        assert row["speedup"] == pytest.approx(baseline / row["wall_s"])
        assert row["cpu_percent"] == pytest.approx(100 * row["cpu_s"] / row["wall_s"])
        assert row["instances"] == len(strategies) * len(products), row
    # The paper runs stop once every product has closed the asked bars: the same work, one run per strategy
    # one after another, or one run for all.
    assert methods["sequential"]["runs"] == len(strategies) and methods["parallel"]["runs"] == 1
    for paper in (methods["sequential"], methods["parallel"]):
        assert paper["bars_per_product"] == bars
        assert paper["instance_bars"] == len(strategies) * len(products) * bars
        assert paper["replay_speed"] == workload["replay_speed"] and paper["effective_speed"] > 0
    # sim and backtest read the same span as candles: the warm-up history and the bars after it.
    for replayed in (methods["sim"], methods["backtest"]):
        assert replayed["bars_per_product"] == workload["warm_up_bars"] + bars
        assert replayed["instance_bars"] == len(strategies) * len(products) * (workload["warm_up_bars"] + bars)
    assert not list(isolated_dirs.rglob("gpt-trader.db")), "the runs go to throwaway databases, not the user's"

    _print_table(report)
    table = capsys.readouterr().out
    for row in methods.values():
        # The figures of a row stay on one line at 80 columns; the method's name may wrap below them.
        line = next(line for line in table.splitlines() if line.split()[:1] == row["label"].split()[:1])
        assert f"{row['wall_s']:.2f} s" in line and f"{row['speedup']:.1f}x" in line, (line, table)
        assert f"{row['peak_rss_mb']:.0f} MB" in line and f"{row['instance_bars']:,}" in line
        assert max(map(len, table.splitlines()[:12])) <= 80, table
    assert f"warm-up of {workload['warm_up_bars']} history bars" in table


@pytest.mark.parametrize(
    ("flags", "said"),
    [
        (("--bars", "0"), "--bars 0: give the bars each strategy trades"),
        (("--speed", "0"), "--speed 0: give the sandbox's replay speed"),
        (("--symbols", "BTC-USD,NOPE-USD"), "the synthetic market has no NOPE-USD"),
        (("--symbols", " , "), "--symbols is empty"),
    ],
)
def test_bad_flags_are_named_before_anything_starts(isolated_dirs: Path, flags: tuple[str, ...], said: str) -> None:
    done = gpt_trader("speedtest", "--quick", *flags)
    assert done.returncode == 2
    assert said in done.stderr and "Traceback" not in done.stderr

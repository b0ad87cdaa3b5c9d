"""`gpt-trader backtest --report PATH`: the report of the run the command just recorded, end to end."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support.cli import gpt_trader

SMALL_SWEEP = ("--source", "synthetic:5", "-s", "ma_crossover", "--param", "fast=5,10", "--param", "slow=20,30")
SMALL_SWEEP += ("--days", "10", "-g", "1h")


@pytest.mark.slow
def test_the_report_is_the_one_report_writes_for_the_recorded_run(tmp_path: Path) -> None:
    out = tmp_path / "backtest.html"
    made = gpt_trader("backtest", *SMALL_SWEEP, "--report", str(out))
    assert made.returncode == 0, made.stderr
    run_id = re.search(r"Recorded as run (\d+)\.", made.stdout)
    assert run_id, made.stdout
    assert f"Wrote the report of run {run_id.group(1)} to {out}." in made.stdout
    page = out.read_text(encoding="utf-8")
    assert f"Run {run_id.group(1)}: ma_crossover × BTC-USD" in page
    assert "Sweep: sharpe over slow" in page and "the data fingerprint matches" in page
    again = tmp_path / "again.html"
    assert gpt_trader("report", run_id.group(1), "--out", str(again)).returncode == 0
    assert again.read_text(encoding="utf-8") == page


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--no-record",), "--report reports the run as recorded in the database; drop --no-record"),
        ((), "the folder"),
    ],
)
def test_a_report_that_cannot_be_made_fails_before_the_work(
    tmp_path: Path, extra: tuple[str, ...], message: str
) -> None:
    target = tmp_path / ("report.html" if extra else "missing/report.html")
    answer = gpt_trader("backtest", *SMALL_SWEEP, *extra, "--report", str(target))
    assert answer.returncode == 2, answer.stdout
    assert message in answer.stderr and "Traceback" not in answer.stderr
    assert "Recorded as run" not in answer.stdout and not target.exists()

"""`gpt-trader report`: the real command on a recorded sweep and a planted paper run."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from gpt_trader.backtest.regimes import record_regimes
from gpt_trader.monitor.pngs import HEIGHT, WIDTH
from gpt_trader.store import Store
from gpt_trader.store.views import StoreViews
from tests.support.monitor_records import Planted


def gpt_trader(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gpt_trader", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "NO_COLOR": "1"},
    )


def assert_real_chart(path: Path) -> None:
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size == (WIDTH, HEIGHT)
        low, high = image.convert("L").getextrema()
        assert high - low > 100, f"{path.name} is blank"


def test_a_sweep_report_is_self_contained_with_every_chart(filled_store: Store, tmp_path: Path) -> None:
    out, pngs = tmp_path / "report.html", tmp_path / "charts"
    best, other = StoreViews.of(filled_store).results(1)[:2]
    record_regimes(filled_store, 1, [regime_row(best, "ranging, high volatility", 0.0421), regime_row(other, "x", 0.5)])
    made = gpt_trader("report", "1", "--out", str(out), "--png", str(pngs))
    assert made.returncode == 0, made.stderr
    page = out.read_text()
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=\"(https?:)?//", page)  # nothing fetched
    assert "plotly.js v" in page  # inlined
    for heading in (
        "Equity",
        "Drawdown",
        "Trades on the price",
        "Monthly returns",
        "Sweep: sharpe over slow",
        "Metrics",
        "buy_and_hold_return",
        "docs/metrics.md",
    ):
        assert heading in page, heading
    assert "the data fingerprint matches" in page
    regimes = page[page.index("<h2>By market regime</h2>") :]
    regimes = regimes[: regimes.index("</table>")]
    assert "ranging, high volatility" in regimes and "+4.21%" in regimes and "40%" in regimes
    assert "+50.00%" not in regimes  # another result's breakdown: the report shows its own result's
    names = sorted(path.name for path in pngs.iterdir())
    assert names == ["drawdown.png", "equity.png", "heatmap.png", "monthly_returns.png", "trades.png"]
    for path in pngs.iterdir():
        assert_real_chart(path)


def regime_row(result: dict[str, Any], regime: str, total_return: float) -> dict[str, Any]:
    keys = ("strategy", "product_id", "params")
    return {
        **{k: result[k] for k in keys},
        "regime": regime,
        "bars": 40,
        "share": 0.4,
        "total_return": total_return,
        "sharpe": 1.5,
    }


def test_a_paper_run_reports_its_accounts(planted: Planted, tmp_path: Path) -> None:
    out = tmp_path / "paper.html"
    made = gpt_trader("report", str(planted.paper_run), "--out", str(out), "--png", str(tmp_path / "png"))
    assert made.returncode == 0, made.stderr
    page = out.read_text()
    assert "a (ma_crossover, BTC-USD)" in page and "b (momentum, ETH-USD)" in page
    assert "Trades (2)" in page
    assert "By market regime" not in page
    assert sorted(p.name for p in (tmp_path / "png").iterdir()) == ["drawdown.png", "equity.png", "monthly_returns.png"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("report", "999"), "there is no run 999"),
        (("report", "1", "--result", "999"), "run 1 has no result 999"),
        (("report", "PAPER", "--result", "1"), "has no backtest results"),
        (("report", "1", "--out", "/proc/forbidden/report.html"), "cannot write the report"),
    ],
)
def test_mistakes_are_named(planted: Planted, args: tuple[str, ...], message: str) -> None:
    answer = gpt_trader(*(str(planted.paper_run) if arg == "PAPER" else arg for arg in args))
    assert answer.returncode == 2, answer.stderr
    assert message in answer.stderr and "Traceback" not in answer.stderr

"""`gpt-trader demo` end to end, offline: the quick backtest, then its three best strategies paper-trading
on the sandbox it starts on a free loopback port, both runs in the database."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

from tests.support.cli import gpt_trader


def test_the_demo_backtests_then_paper_trades_the_top_three_on_its_own_sandbox(isolated_dirs: Path) -> None:
    done = gpt_trader("demo", "--duration", "10", "--speed", "120")
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    out = done.stdout
    assert "Per strategy (averages over its backtests)" in out and "Recorded as run 1." in out
    announced = re.search(r"Paper trading the top 3 \(([a-z_]+), ([a-z_]+), ([a-z_]+)\) in parallel", out)
    assert announced is not None, out
    assert re.search(r"on the sandbox exchange at ws://127\.0\.0\.1:\d+/ws", out)
    assert "paper trading summary" in out
    db_file = isolated_dirs / "data" / "gpt-trader" / "gpt-trader.db"
    assert f"Recorded as run 2 in sqlite:///{db_file}." in out
    with sqlite3.connect(db_file) as db:
        runs = db.execute("select kind, status from runs order by id").fetchall()
        assert runs == [("backtest", "finished"), ("paper", "finished")]
        accounts = db.execute("select strategy, product_id from accounts").fetchall()
    top = set(announced.groups())
    assert {strategy for strategy, _ in accounts} == top
    assert len(accounts) == 3 * 5, "the top three on each of the quick screen's five products"

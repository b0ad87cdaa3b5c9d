"""`gpt-trader paper` end to end: the real command in a subprocess against `gpt-trader sandbox serve` started
by the test on a free loopback port, and what it leaves in the database."""

from __future__ import annotations

import csv
import json
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cli import gpt_trader
from tests.support.sandbox_serve import Running, environment, serve

PRODUCTS = "BTC-USD,ETH-USD,SOL-USD"
# Two market minutes a second, and parameters that trade on minutes, so a short run fills orders.
SANDBOX = ("--products", PRODUCTS, "--speed", "120", "--days", "2",
           "--history-days", "1")
ACTIVE = ("--param", "momentum.threshold=0.001", "--param", "momentum.lookback=3", "--param", "breakout.window=5",
          "--param", "mean_reversion.window=10", "--param", "mean_reversion.num_std=1")
PARALLEL = ("paper", "--mode", "parallel", "-s", "momentum,mean_reversion,breakout", "--symbols", PRODUCTS, *ACTIVE)


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Running]:
    with serve("--state-dir", str(tmp_path / "sandbox"), *SANDBOX) as running:
        yield running
        running.stop(signal.SIGTERM)


def database(home: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(home / "data" / "gpt-trader" / "gpt-trader.db")
    connection.row_factory = sqlite3.Row
    return connection


def test_parallel_mode_trades_three_strategies_stores_fills_and_prints_the_summary(
    sandbox: Running, isolated_dirs: Path, tmp_path: Path
) -> None:
    rows_file, csv_file = tmp_path / "rows.json", tmp_path / "rows.csv"
    done = gpt_trader(*PARALLEL, "--duration", "30", "--feed", sandbox.ws_url, "--json", str(rows_file),
                      "--csv", str(csv_file))
    assert done.returncode == 0, done.stderr
    assert "paper trading summary" in done.stdout and "Traceback" not in done.stderr
    assert f"Recorded as run 1 in sqlite:///{isolated_dirs}/data/gpt-trader/gpt-trader.db." in done.stdout
    rows = json.loads(rows_file.read_text())["instances"]
    with csv_file.open(newline="") as handle:
        assert [row["account"] for row in csv.DictReader(handle)] == [row["account"] for row in rows]
    strategies = ("momentum", "mean_reversion", "breakout")
    assert {(row["strategy"], row["product"]) for row in rows} == {
        (strategy, product) for strategy in strategies for product in PRODUCTS.split(",")
    }
    with database(isolated_dirs) as db:
        run = db.execute("select * from runs").fetchone()
        assert (run["kind"], run["status"]) == ("paper", "finished") and run["code_version"]
        config = json.loads(run["config"])
        assert config["feed"] == sandbox.ws_url and config["fill_model"] == "book"
        state = json.loads(db.execute("select state from sessions").fetchone()[0])
        assert state["feed"]["connections"] == 1 and state["feed"]["bars_closed"] > 0
        filled_orders = db.execute("select count(distinct order_id) from fills").fetchone()[0]
        assert filled_orders > 0, "nine active instances over an hour of market minutes trade"
        entries_and_exits = sum(row["trades"] + row["closed_trades"] for row in rows)
        # Every entry and exit is an order that filled; an exit the book filled in part takes another order for
        # the rest (the rules hold the units left), so there may be a few more orders than entries and exits.
        assert entries_and_exits <= filled_orders <= entries_and_exits + sum(row["closed_trades"] for row in rows)
        quoted = db.execute("select count(*) from fills where bid is null or ask is null").fetchone()[0]
        assert quoted == 0, "every fill carries the quote it met"
        open_positions = db.execute("select account_id, product_id, units from position_states "
                                    "where cast(units as real) != 0").fetchall()  # fmt: skip
        last_orders = db.execute("select account_id, product_id, side, base_size, status, reject_reason, config "
                                 "from orders order by id desc limit 12").fetchall()  # fmt: skip
        assert not open_positions, (
            "--on-stop close flattens every position; open: "
            f"{[tuple(row) for row in open_positions]}, the last orders: {[tuple(row) for row in last_orders]}"
        )
    for row in rows:
        assert row["error"] is None


def test_on_stop_close_at_the_touch_sells_what_the_touch_could_not_take_as_the_book_shows_it_again(
    sandbox: Running, isolated_dirs: Path
) -> None:
    # Six accounts a product and one level each to sell into at the stop: most wait for the touch to be shown again.
    done = gpt_trader(*PARALLEL, "--duration", "20", "--feed", sandbox.ws_url, "--fill-model", "touch",
                      "--accounts-per-strategy", "2")  # fmt: skip
    assert done.returncode == 0, done.stderr
    with database(isolated_dirs) as db:
        open_positions = db.execute("select account_id, product_id, units from position_states "
                                    "where cast(units as real) != 0").fetchall()  # fmt: skip
        assert not open_positions, (done.stderr, [tuple(row) for row in open_positions])
        stops = db.execute("select account_id, status from orders where json_extract(config, '$.reason') = 'stop' "
                           "order by id").fetchall()  # fmt: skip
    last = {row["account_id"]: row["status"] for row in stops}
    assert set(last.values()) <= {"FILLED"}, stops
    if "wait for the book" in done.stderr:
        assert len(stops) > len(last), "some position took more than one stop order"


def test_sigterm_stops_gracefully_and_stores_the_final_state(sandbox: Running, isolated_dirs: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "gpt_trader", *PARALLEL, "--feed", sandbox.ws_url, "--on-stop", "keep"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment(),
    )
    try:
        deadline = time.monotonic() + 120
        db_file = isolated_dirs / "data" / "gpt-trader" / "gpt-trader.db"
        while time.monotonic() < deadline and not _has_fills(db_file):
            assert process.poll() is None, process.communicate()
            time.sleep(0.5)
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, err
    assert "paper trading summary" in out and "Traceback" not in err
    with database(isolated_dirs) as db:
        assert db.execute("select status from runs").fetchone()[0] == "finished"
        state = json.loads(db.execute("select state from sessions").fetchone()[0])
        accounts = {row["name"]: row["id"] for row in db.execute("select id, name from accounts")}
        assert set(state["final_equity"]) == set(accounts)
        for name, account_id in accounts.items():
            last = db.execute(
                "select cash, position_value from equity_snapshots where account_id = ? order by time desc limit 1",
                (account_id,),
            ).fetchone()
            assert last is not None, f"{name}: a final equity snapshot"
            assert pytest.approx(float(state["final_equity"][name]), rel=1e-3) == float(last[0]) + float(last[1])


def _has_fills(db_file: Path) -> bool:
    if not db_file.exists():
        return False
    try:
        with sqlite3.connect(db_file) as db:
            return bool(db.execute("select count(*) from fills").fetchone()[0])
    except sqlite3.OperationalError:
        return False

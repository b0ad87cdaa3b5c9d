"""Crash resume with real processes on a real SQLite file: kill -9 at random points, `session resume`, and
the final record equals an uninterrupted run's; a second concurrent resume is refused."""

from __future__ import annotations

import random
import signal
import sqlite3
import time
from pathlib import Path

import pytest

from gpt_trader.store import open_store
from gpt_trader.trading.session import SessionRunner, create_session
from gpt_trader.trading.session_file import parse_session_file
from tests.support.planted_sessions import planted_candles, session_toml
from tests.support.session_processes import finish, market_time, query, start, wait_for

KILLS = 10
HOUR = 3600


@pytest.fixture
def session_file(tmp_path: Path) -> Path:
    path = tmp_path / "session.toml"
    # Paced (48 market hours in about 9 s): unpaced, a fast machine can end the session between a check of
    # its market time and the kill meant to land inside it.
    path.write_text(session_toml(planted_candles(tmp_path / "planted.csv"), speed=20_000))
    return path


def ledger(database: Path) -> dict[str, object]:
    """Everything the session recorded, in a comparable form (ids left out: they depend on insert order)."""
    with sqlite3.connect(database) as connection:
        def rows(sql: str) -> list[tuple[object, ...]]:
            return connection.execute(sql).fetchall()

        return {
            "accounts": rows("SELECT name, status, starting_cash, settings FROM accounts ORDER BY name"),
            "round_trips": rows(
                "SELECT a.name, r.entry_time, r.exit_time, r.units, r.entry_price, r.exit_price, r.fees, r.pnl, "
                "r.exit_reason FROM round_trips r JOIN accounts a ON a.id = r.account_id ORDER BY a.name, r.exit_time"
            ),
            "equity": rows(
                "SELECT a.name, e.time, e.cash, e.units, e.equity FROM equity_snapshots e "
                "JOIN accounts a ON a.id = e.account_id ORDER BY a.name, e.time"
            ),
            "positions": rows(
                "SELECT a.name, p.units, p.entry_price, p.entry_time, p.last_bar_time FROM position_states p "
                "JOIN accounts a ON a.id = p.account_id ORDER BY a.name"
            ),
            "rotations": rows("SELECT time, candidate, decision, reason, numbers FROM rotations ORDER BY time, id"),
        }


def test_kill_9_at_random_points_then_resume_gives_the_uninterrupted_record(
    tmp_path: Path, session_file: Path
) -> None:
    reference_db = tmp_path / "reference.db"
    with open_store(f"sqlite:///{reference_db}") as store:
        SessionRunner(store, create_session(store, parse_session_file(session_file.read_text()))).run()
    reference = ledger(reference_db)

    database = tmp_path / "crashed.db"
    draw = random.Random(20261203)
    # The planted session replays 48 market hours after 24 of history. Kill in ten different hours, early
    # enough that the session cannot finish while a kill is on its way.
    start_time = 1_767_225_600 + 24 * HOUR
    points = sorted(start_time + hour * HOUR + draw.randrange(HOUR) for hour in draw.sample(range(1, 40), KILLS))
    process = start(database, "session", "run", str(session_file))
    killed_at = []
    for point in points:
        wait_for(lambda point=point: market_time(database, 1) >= point, f"market time {point}", process)
        time.sleep(draw.uniform(0, 0.2))  # anywhere inside the step, not only at its boundary
        process.send_signal(signal.SIGKILL)
        process.wait()
        killed_at.append(market_time(database, 1))
        process = start(database, "session", "resume", "1")
    code, output, errors = finish(process)
    assert code == 0, errors
    assert "session 1 ran to its end" in output

    crashed = ledger(database)
    for table, expected in reference.items():
        assert crashed[table] == expected, f"{table} differs after {KILLS} kills at market times {killed_at}"
    trips = len(reference["round_trips"])  # type: ignore[arg-type]
    assert trips > 0
    print(f"\nkill -9 x{KILLS} at market hours {[(t - start_time) / HOUR for t in killed_at]}: "
          f"{trips} round trips, 0 lost, 0 doubled; rotations {len(reference['rotations'])} equal")  # type: ignore[arg-type]


def test_two_resumes_at_once_one_is_refused(tmp_path: Path) -> None:
    database = tmp_path / "s.db"
    path = tmp_path / "session.toml"
    path.write_text(session_toml(planted_candles(tmp_path / "planted.csv"), speed=600))
    process = start(database, "session", "run", str(path))
    wait_for(lambda: market_time(database, 1) > 0, "the first market hour", process)
    process.send_signal(signal.SIGKILL)
    process.wait()

    first, second = start(database, "session", "resume", "1"), start(database, "session", "resume", "1")
    try:
        wait_for(lambda: first.poll() is not None or second.poll() is not None, "one resume to be refused")
        refused, running = (first, second) if first.poll() is not None else (second, first)
        code, _, errors = finish(refused)
        assert code == 2
        assert (
            "session 1 (planted) is running" in errors or "was just resumed by another process" in errors
        ), errors
        assert "Traceback" not in errors
        assert running.poll() is None, "the resume that won stopped too"
        owners = query(database, "SELECT owner FROM sessions WHERE id = 1")
        assert owners and f":{running.pid}:" in str(owners[0][0])
    finally:
        for process in (first, second):
            if process.poll() is None:
                process.kill()
                process.wait()

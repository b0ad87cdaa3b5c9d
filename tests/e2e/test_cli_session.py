"""`gpt-trader session` and `status` as a user runs them: bad files, a running session seen from another
terminal, a graceful stop through the store, and a stalled session after its process died."""

from __future__ import annotations

import json
import signal
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.support.cli import gpt_trader
from tests.support.planted_sessions import planted_candles, session_toml
from tests.support.session_processes import environment, finish, market_time, query, start, wait_for


@pytest.fixture
def candles(tmp_path: Path) -> Path:
    return planted_candles(tmp_path / "planted.csv")


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "session.toml"
    path.write_text(text)
    return path


def test_a_malformed_session_file_names_the_key_and_line(tmp_path: Path, candles: Path) -> None:
    text = session_toml(candles).replace("every_hours = 6", "every_hours = -6")
    result = gpt_trader("session", "run", str(_write(tmp_path, text)), env=environment(tmp_path / "s.db"))
    assert result.returncode == 2
    line = text.splitlines().index("every_hours = -6") + 1
    assert f"session.toml, line {line}: rotation.every_hours: Input should be greater than 0" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_unknown_strategy_is_refused_before_anything_runs(tmp_path: Path, candles: Path) -> None:
    text = session_toml(candles).replace('"ma_crossover"', '"ma_cross"')
    result = gpt_trader("session", "run", str(_write(tmp_path, text)), env=environment(tmp_path / "s.db"))
    assert result.returncode == 2
    assert "candidates.0.strategy: unknown strategy 'ma_cross'" in result.stderr
    assert "Traceback" not in result.stderr
    assert query(tmp_path / "s.db", "SELECT count(*) FROM sessions") in ([], [(0,)])


def test_status_sees_a_running_session_and_stop_ends_it_gracefully(tmp_path: Path, candles: Path) -> None:
    database = tmp_path / "s.db"
    # 600 market seconds per second: each market hour takes 6 s, so the session is running while we look.
    path = _write(tmp_path, session_toml(candles, speed=600))
    process = start(database, "session", "run", str(path))
    try:
        wait_for(lambda: market_time(database, 1) > 0, "the first market hour", process)
        status = gpt_trader("status", "--json", env=environment(database))
        assert status.returncode == 0, status.stderr
        (shown,) = json.loads(status.stdout)["sessions"]
        assert shown["state"] == "running"
        assert shown["heartbeat_age_seconds"] < 30
        decisions = shown["latest_rotation"]["decisions"]
        assert "start" in {decision["decision"] for decision in decisions}
        assert all(decision["reason"] for decision in decisions)
        assert shown["accounts"] and shown["accounts"][0]["equity"]

        stopped = gpt_trader("session", "stop", "1", env=environment(database))
        assert stopped.returncode == 0 and "stop requested for session 1" in stopped.stdout
        code, output, errors = finish(process)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert code == 0, errors
    assert "session 1 stopped (interrupted); resume it with `gpt-trader session resume 1`" in output
    listed = json.loads(gpt_trader("session", "list", "--json", env=environment(database)).stdout)
    assert [(row["id"], row["state"]) for row in listed] == [(1, "interrupted")]


def test_a_session_whose_process_died_is_shown_as_stalled(tmp_path: Path, candles: Path) -> None:
    database = tmp_path / "s.db"
    process = start(database, "session", "run", str(_write(tmp_path, session_toml(candles, speed=600))))
    try:
        wait_for(lambda: market_time(database, 1) > 0, "the first market hour", process)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    # The heartbeat the dead process left behind grows old: set it to a minute ago rather than wait.
    late = (datetime.now(UTC) - timedelta(minutes=1)).strftime("%Y-%m-%d %H:%M:%S.%f")
    with sqlite3.connect(database) as connection:
        connection.execute("UPDATE sessions SET heartbeat_at = ? WHERE id = 1", (late,))
    shown = json.loads(gpt_trader("status", "--json", env=environment(database)).stdout)["sessions"]
    assert [(row["id"], row["state"]) for row in shown] == [(1, "stalled")]
    assert shown[0]["heartbeat_age_seconds"] >= 60
    table = gpt_trader("status", env=environment(database))
    assert "session 1 planted: STALLED" in table.stdout


def test_stop_and_resume_name_what_is_wrong(tmp_path: Path) -> None:
    env = environment(tmp_path / "s.db")
    for command in (("session", "stop", "7"), ("session", "resume", "7")):
        result = gpt_trader(*command, env=env)
        assert result.returncode == 2
        assert "there is no session 7; `gpt-trader session list` shows them" in result.stderr

"""Real `gpt-trader session` processes on a real SQLite file, and waits on what they record (all bounded)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

WAIT_SECONDS = 120.0


def environment(database: Path) -> dict[str, str]:
    return {**os.environ, "GPT_TRADER_DATABASE_URL": f"sqlite:///{database}", "NO_COLOR": "1", "COLUMNS": "200"}


def start(database: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "gpt_trader", *args],
        env=environment(database),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def query(database: Path, sql: str, *params: object) -> list[tuple[object, ...]]:
    """Rows of a read on the session's database (None-safe before the file or its tables exist)."""
    if not database.exists():
        return []
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30) as connection:
        try:
            return connection.execute(sql, params).fetchall()
        except sqlite3.OperationalError:
            return []


def wait_for(condition: Callable[[], bool], what: str, process: subprocess.Popen[str] | None = None) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if condition():
            return
        if process is not None and process.poll() is not None:
            _, errors = process.communicate()
            raise AssertionError(f"the session process ended (status {process.returncode}) before {what}: {errors}")
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def market_time(database: Path, session_id: int) -> int:
    """The market time the session has reached, from its heartbeat state (0 before its first step)."""
    rows = query(database, "SELECT json_extract(state, '$.market_time') FROM sessions WHERE id = ?", session_id)
    return int(rows[0][0]) if rows and rows[0][0] is not None else 0


def finish(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    output, errors = process.communicate(timeout=WAIT_SECONDS)
    return process.returncode, output, errors

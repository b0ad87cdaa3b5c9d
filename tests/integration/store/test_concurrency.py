"""Real processes on one SQLite file: writers and readers at once, and a writer killed mid-write."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import make_url

from gpt_trader.store import RunStatus, open_store

from .workers import BATCH_ROWS, result_rows

WORKERS = Path(__file__).with_name("workers.py")
READ_SECONDS = 1.5

pytestmark = pytest.mark.timeout(120)


def start(*arguments: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(WORKERS), *arguments],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def start_writer(url: str, stop_file: Path, name: str) -> tuple[subprocess.Popen[str], int]:
    """A writer that has opened the store and started its run; returns it and the run id."""
    writer = start("writer", url, str(stop_file), name)
    assert writer.stdout is not None
    first_line = writer.stdout.readline()
    if not first_line.startswith("ready "):
        writer.kill()
        pytest.fail(f"the writer did not start: {first_line!r} {writer.communicate()[1]}")
    return writer, int(first_line.split()[1])


def finish(process: subprocess.Popen[str]) -> str:
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    assert "locked" not in stderr
    return stdout


def database_path(url: str) -> str:
    return make_url(url).database or ""


def test_readers_see_a_writer_grow_without_any_lock_error(sqlite_url: str, tmp_path: Path) -> None:
    stop_file = tmp_path / "stop"
    writer, run_id = start_writer(sqlite_url, stop_file, "writer-a")
    readers = [start("reader", sqlite_url, str(READ_SECONDS)) for _ in range(2)]
    reads = [json.loads(finish(reader))["counts"] for reader in readers]
    stop_file.touch()
    written = finish(writer).splitlines()

    total = int(written[-1].split()[1])
    assert written[-1] == f"done {total}"
    for counts in reads:
        assert len(counts) >= 5
        assert counts == sorted(counts), "a reader saw the row count go down"
        assert counts[-1] > counts[0], "a reader never saw the writer's new rows"
        assert all(count % BATCH_ROWS == 0 for count in counts), "a reader saw half a transaction"
    with open_store(sqlite_url) as store:
        assert store.count_backtest_results(run_id) == total
        run = store.get_run(run_id)
        assert run is not None and run.status is RunStatus.FINISHED


def test_two_writers_and_a_reader_all_succeed(sqlite_url: str, tmp_path: Path) -> None:
    stop_file = tmp_path / "stop"
    first, first_run = start_writer(sqlite_url, stop_file, "writer-a")
    second, second_run = start_writer(sqlite_url, stop_file, "writer-b")
    reader = start("reader", sqlite_url, str(READ_SECONDS))
    counts = json.loads(finish(reader))["counts"]
    stop_file.touch()
    totals = [int(finish(writer).splitlines()[-1].split()[1]) for writer in (first, second)]

    assert all(total > 0 for total in totals)
    assert counts == sorted(counts) and counts[-1] > counts[0]
    with open_store(sqlite_url) as store:
        assert store.count_backtest_results(first_run) == totals[0]
        assert store.count_backtest_results(second_run) == totals[1]
        stored = store.backtest_results(second_run)
    assert [row["params"]["index"] for row in stored] == list(range(totals[1]))


def test_a_writer_killed_mid_stream_loses_no_committed_row(sqlite_url: str, tmp_path: Path) -> None:
    writer, run_id = start_writer(sqlite_url, tmp_path / "never", "doomed")
    assert writer.stdout is not None
    last_committed = 0
    while last_committed < 20 * BATCH_ROWS:
        line = writer.stdout.readline()
        assert line.startswith("committed "), line
        last_committed = int(line.split()[1])
    os.kill(writer.pid, signal.SIGKILL)
    remaining_output, _ = writer.communicate(timeout=30)
    assert writer.returncode == -signal.SIGKILL
    for line in remaining_output.splitlines():
        last_committed = max(last_committed, int(line.split()[1]))

    with sqlite3.connect(database_path(sqlite_url)) as raw:
        assert raw.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert raw.execute("PRAGMA foreign_key_check").fetchall() == []
    with open_store(sqlite_url) as store:
        stored = store.count_backtest_results(run_id)
        # The kill may land after a commit and before its line is printed: at most one batch more.
        assert last_committed <= stored <= last_committed + BATCH_ROWS
        assert stored % BATCH_ROWS == 0, "a transaction was half written"
        rows = store.backtest_results(run_id)
        assert [row["params"]["index"] for row in rows] == list(range(stored))
        run = store.get_run(run_id)
        assert run is not None and run.status is RunStatus.RUNNING

        store.add_backtest_results(run_id, result_rows(stored, 10, "after the crash"))
        store.finish_run(run_id, RunStatus.INTERRUPTED, error="killed")
        assert store.count_backtest_results(run_id) == stored + 10
        new_run = store.start_run("backtest", "after the crash")
        assert store.get_run(new_run) is not None

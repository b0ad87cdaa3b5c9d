"""`python -m bench.session_day` on a short scale: the benchmark's own code path (a real `sandbox serve`, a real
`session run` on a SQLite file) completes, and what it reports is what the store holds."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from bench import session_day
from bench.session_day import START, BenchError, Scale, check, main, session_toml

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def _stored_time(hours: float) -> datetime:
    """A rotation's market time as the SQLite store gives it back: naive UTC."""
    return datetime.fromtimestamp(START + hours * 3600, UTC).replace(tzinfo=None)


def test_two_market_hours_rotating_hourly_store_both_rotations_as_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kept = tmp_path / "day"
    assert main(["--hours", "2", "--rotate-hours", "1", "--speed", "3600", "--keep", str(kept)]) == 0
    printed = capsys.readouterr().out
    with sqlite3.connect(kept / "session.db") as connection:
        times = [row[0] for row in connection.execute("SELECT DISTINCT time FROM rotations ORDER BY time")]
        (status,) = connection.execute("SELECT status FROM runs").fetchone()
        counts = [connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
                  for table in ("orders", "fills", "round_trips")]  # fmt: skip
    assert [datetime.fromisoformat(time) for time in times] == [_stored_time(0), _stored_time(1)]
    assert status == "finished"
    assert "rotations stored: 2 (50 decisions)" in printed
    assert f"orders / fills / round trips: {counts[0]} / {counts[1]} / {counts[2]}" in printed
    assert "market covered: 2 h of 2 asked, 2024-06-01 00:00 to 2024-06-01 02:00 UTC" in printed


def test_the_schedule_counts_the_start_and_every_rotation_before_the_end() -> None:
    assert Scale(speed=600, hours=24, rotate_hours=4).rotation_hours() == [0, 4, 8, 12, 16, 20]
    assert Scale(speed=600, hours=5, rotate_hours=2).rotation_hours() == [0, 2, 4]


def test_a_record_missing_a_scheduled_rotation_is_refused_by_name() -> None:
    scale = Scale(speed=600, hours=24, rotate_hours=4)
    stored = {_stored_time(hours): "" for hours in (0, 4, 8, 16, 20)}
    with pytest.raises(BenchError, match=r"stored 5 of its 6 rotations; missing: 2024-06-01 12:00 UTC"):
        check(scale, {"rotations": stored})
    check(scale, {"rotations": {**stored, _stored_time(12): ""}})


def test_a_session_that_fails_makes_the_bench_exit_nonzero_with_what_it_printed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def misspelled(ws_url: str, scale: Scale) -> str:
        return session_toml(ws_url, scale).replace('"ma_crossover"', '"ma_cross"')

    monkeypatch.setattr(session_day, "session_toml", misspelled)
    assert main(["--hours", "1", "--keep", str(tmp_path / "day")]) == 1
    errors = capsys.readouterr().err
    assert "error: the session exited with status 2; it printed:" in errors
    assert "unknown strategy 'ma_cross'" in errors

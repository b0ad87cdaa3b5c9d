"""Recording a backtest with sqlite3 alone (`SqliteRuns`) stores exactly what `Store` stores, checked the same way."""

from __future__ import annotations

import math
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gpt_trader.errors import ConfigError
from gpt_trader.store import METRIC_COLUMNS, RunStatus, Store, StoreError, open_store
from gpt_trader.store.sqlite_runs import SqliteRuns, open_run_recorder

DATA_RANGE = (datetime(2026, 7, 1, tzinfo=UTC), datetime(2026, 7, 31, 23, 45, tzinfo=UTC))
STAMPS = ("started_at", "ended_at")  # the moment of writing: compared by form, not value


def _rows() -> list[dict[str, Any]]:
    metrics: list[dict[str, Any]] = [
        {name: np.float64(index + 0.25) for index, name in enumerate(METRIC_COLUMNS)},
        {name: float("nan") if index % 2 else np.int64(index) for index, name in enumerate(METRIC_COLUMNS)},
    ]
    return [
        {"strategy": "momentum", "product_id": "BTC-USD", "granularity": "15m", "params": {"lookback": np.int64(10)}}
        | metrics[0],
        {"strategy": "breakout", "product_id": "ETH-USD", "granularity": 900, "params": {}} | metrics[1],
    ]


def _record(recorder: Store | SqliteRuns) -> int:
    config = {"strategies": ["momentum", "breakout"], "settings": {"fee_rate": 0.006}, "source": "synthetic"}
    run_id = recorder.start_run(
        "sweep", "momentum, breakout × BTC-USD", config, code_version="0.1.0@test", data_fingerprint="abc",
        data_range=DATA_RANGE, trials=50,
    )
    assert recorder.add_backtest_results(run_id, _rows()) == 2
    recorder.finish_run(run_id, RunStatus.FINISHED)
    return run_id


def _cells(path: Path, table: str) -> list[dict[str, Any]]:
    with sqlite3.connect(path) as connection:
        connection.row_factory = sqlite3.Row
        return [dict(row) for row in connection.execute(f"SELECT * FROM {table} ORDER BY id")]


def _migrated(path: Path) -> str:
    url = f"sqlite:///{path}"
    open_store(url).close()
    return url


def test_the_two_ways_store_the_same_cells(tmp_path: Path) -> None:
    by_store, by_sqlite = tmp_path / "store.db", tmp_path / "sqlite.db"
    with open_store(_migrated(by_store)) as store:
        _record(store)
    with open_run_recorder(_migrated(by_sqlite)) as recorder:
        assert isinstance(recorder, SqliteRuns)
        _record(recorder)
    runs = _cells(by_store, "runs"), _cells(by_sqlite, "runs")
    for written in runs:
        for stamp in STAMPS:
            assert datetime.fromisoformat(written[0].pop(stamp) + "+00:00") <= datetime.now(UTC)
    assert runs[0] == runs[1]
    assert _cells(by_store, "backtest_results") == _cells(by_sqlite, "backtest_results")


def test_store_reads_back_what_sqlite_runs_wrote(tmp_path: Path) -> None:
    url = _migrated(tmp_path / "g.db")
    with open_run_recorder(url) as recorder:
        run_id = _record(recorder)
    with open_store(url) as store:
        run = store.get_run(run_id)
        results = store.backtest_results(run_id)
    assert run is not None and (run.status, run.trials, run.data_fingerprint) == ("finished", 50, "abc")
    assert (run.data_start, run.data_end) == DATA_RANGE and run.ended_at is not None
    assert run.config["settings"] == {"fee_rate": 0.006}
    assert results[0]["params"] == {"lookback": 10} and results[1]["granularity"] == "15m"
    trades = results[0]["trades"]
    assert trades == METRIC_COLUMNS.index("trades") and isinstance(trades, int), "whole-number metrics as int"
    assert results[1][METRIC_COLUMNS[1]] is None, "NaN is stored as NULL"
    assert not any(isinstance(value, float) and math.isnan(value) for value in results[1].values())


def test_the_checks_are_the_stores(tmp_path: Path) -> None:
    url = _migrated(tmp_path / "g.db")
    with open_run_recorder(url) as recorder:
        with pytest.raises(ConfigError, match=r"credential-like key 'exchange\.api_secret'"):
            recorder.start_run("backtest", "x", {"exchange": {"api_secret": "s"}})
        with pytest.raises(ValueError, match="trials must be 1 or more"):
            recorder.start_run("backtest", "x", trials=0)
        run_id = recorder.start_run("backtest", "x")
        bad = [*_rows(), {"strategy": "x", "product_id": "BTC-USD", "granularity": "1h", "sharp": 1.0}]
        with pytest.raises(ValueError, match=r"row 2 has unknown keys \['sharp'\]"):
            recorder.add_backtest_results(run_id, bad)
        with pytest.raises(StoreError, match="there is no run 999"):
            recorder.add_backtest_results(999, _rows())
        with pytest.raises(StoreError, match="there is no run 999"):
            recorder.finish_run(999)
    assert _cells(tmp_path / "g.db", "backtest_results") == [], "a refused batch writes no row"


def test_anything_but_an_up_to_date_sqlite_file_opens_the_store(tmp_path: Path) -> None:
    fresh = f"sqlite:///{tmp_path / 'new' / 'g.db'}"
    with open_run_recorder(fresh) as created:
        assert isinstance(created, Store), "a file still to create and migrate"
    with open_run_recorder(fresh) as again:
        assert isinstance(again, SqliteRuns) and again.url == fresh
    with open_run_recorder("sqlite://") as memory:
        assert isinstance(memory, Store)
    not_a_database = tmp_path / "notes.db"
    not_a_database.write_text("not a database")
    with pytest.raises(StoreError, match="not another kind of file"):
        open_run_recorder(f"sqlite:///{not_a_database}")


def test_recording_on_sqlite_does_not_import_sqlalchemy(tmp_path: Path) -> None:
    url = _migrated(tmp_path / "g.db")
    program = (
        "import sys\n"
        "from gpt_trader.store.sqlite_runs import open_run_recorder\n"
        f"with open_run_recorder({url!r}) as recorder:\n"
        "    recorder.finish_run(recorder.start_run('backtest', 'x'))\n"
        "print(sorted(name for name in sys.modules if name.split('.')[0] in ('sqlalchemy', 'alembic')))\n"
    )
    shown = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True)
    assert shown.stdout.strip() == "[]"

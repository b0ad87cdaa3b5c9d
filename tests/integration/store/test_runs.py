"""Runs and backtest results round-trip through a real database (SQLite, and PostgreSQL when configured)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import delete, event, func, select

from gpt_trader.errors import ConfigError
from gpt_trader.market.granularity import Granularity
from gpt_trader.store import (
    METRIC_COLUMNS,
    RESULT_COLUMNS,
    BacktestResult,
    RunKind,
    RunStatus,
    Store,
    StoreError,
    code_version,
    open_store,
)
from gpt_trader.store.schema import Run


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    with open_store(store_url) as opened:
        yield opened


def metrics_row(index: int, strategy: str = "sma_cross") -> dict[str, object]:
    row: dict[str, object] = {name: index * 0.5 + position for position, name in enumerate(METRIC_COLUMNS)}
    row.update(strategy=strategy, product_id="ETH-USD", granularity="15m", params={"fast": index, "slow": 50})
    for position, name in enumerate(("trades", "closed_trades", "max_drawdown_bars", "max_drawdown_seconds")):
        row[name] = index * 3 + position  # whole-number metrics are stored as integers
    return row


def test_a_run_round_trips_with_its_config_and_provenance(store: Store) -> None:
    start, end = datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 3, 1, 12, 30, tzinfo=UTC)
    config = {
        "strategy": "sma_cross",
        "grid": {"fast": [5, 10, 20], "slow": [50, 100]},
        "fees": {"maker": 0.004, "taker": 0.006},
        "products": ["BTC-USD", "ETH-USD"],
        "note": "Ünïcode ✓",
        "stop": None,
        "enabled": True,
    }
    run_id = store.start_run(
        RunKind.SWEEP,
        "sma grid",
        config,
        data_fingerprint="a1b2c3d4e5f60718",
        data_range=(start, end),
        trials=6,
    )
    run = store.get_run(run_id)
    assert run is not None
    assert (run.kind, run.name, run.status, run.trials) == (RunKind.SWEEP, "sma grid", RunStatus.RUNNING, 6)
    assert run.config == config
    assert run.data_fingerprint == "a1b2c3d4e5f60718"
    assert (run.data_start, run.data_end) == (start, end)
    assert run.code_version == code_version()
    assert run.started_at.tzinfo is not None
    assert abs(run.started_at - datetime.now(UTC)) < timedelta(minutes=1)
    assert run.ended_at is None and run.error is None


def test_times_in_other_zones_come_back_as_the_same_instant_in_utc(store: Store) -> None:
    tokyo = timezone(timedelta(hours=9))
    start = datetime(2024, 5, 1, 9, 0, tzinfo=tokyo)
    run_id = store.start_run("backtest", "tz", data_range=(start, start + timedelta(days=1)))
    run = store.get_run(run_id)
    assert run is not None and run.data_start == start
    assert run.data_start.utcoffset() == timedelta(0)
    assert run.data_start.hour == 0


def test_finishing_a_run_records_status_end_and_error(store: Store) -> None:
    good = store.start_run("backtest", "good")
    bad = store.start_run("backtest", "bad")
    store.finish_run(good)
    store.finish_run(bad, RunStatus.FAILED, error="DataError: gap at 2024-01-02")
    finished, failed = store.get_run(good), store.get_run(bad)
    assert finished is not None and failed is not None
    assert finished.status is RunStatus.FINISHED and finished.error is None
    assert finished.ended_at is not None and finished.ended_at >= finished.started_at
    assert failed.status is RunStatus.FAILED and failed.error == "DataError: gap at 2024-01-02"


def test_finishing_needs_a_final_status_and_an_existing_run(store: Store) -> None:
    run_id = store.start_run("paper", "live-ish")
    with pytest.raises(ValueError, match="final status"):
        store.finish_run(run_id, "running")
    with pytest.raises(StoreError, match="no run 9999"):
        store.finish_run(9999)
    with pytest.raises(ValueError):
        store.finish_run(run_id, "exploded")


def test_list_runs_is_newest_first_limited_and_filtered_by_kind(store: Store) -> None:
    ids = [store.start_run(kind, f"run {index}") for index, kind in enumerate(["backtest", "sweep"] * 3)]
    newest_first = [run.id for run in store.list_runs(limit=10)]
    assert newest_first == ids[::-1]
    assert [run.id for run in store.list_runs(limit=2)] == ids[::-1][:2]
    assert [run.id for run in store.list_runs(kind="sweep")] == ids[1::2][::-1]
    assert store.get_run(12345) is None


def test_start_run_checks_trials_and_range(store: Store) -> None:
    with pytest.raises(ValueError, match="trials"):
        store.start_run("sweep", "none tried", trials=0)
    later, earlier = datetime(2024, 2, 1, tzinfo=UTC), datetime(2024, 1, 1, tzinfo=UTC)
    with pytest.raises(ValueError, match="starts"):
        store.start_run("backtest", "backwards", data_range=(later, earlier))
    with pytest.raises(ValueError, match="no timezone"):
        store.start_run("backtest", "naive", data_range=(datetime(2024, 1, 1), datetime(2024, 2, 1)))
    with pytest.raises(ValueError):
        store.start_run("vacation", "unknown kind")
    assert store.list_runs() == []


@pytest.mark.parametrize(
    "config",
    [
        {"coinbase": {"private_key": "-----BEGIN EC PRIVATE KEY-----\nabc\n-----END EC PRIVATE KEY-----\n"}},
        {"api_key": "organizations/x/apiKeys/y"},
        {"API-SECRET": "c2VjcmV0"},
        {"auth": {"jwt": "eyJhbGciOi..."}},
        {"accounts": [{"name": "a"}, {"privateKey": "k"}]},
        {"pasted": "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEE\n-----END EC PRIVATE KEY-----"},
    ],
)
def test_start_run_refuses_credentials_and_writes_nothing(store: Store, config: dict[str, object]) -> None:
    with pytest.raises(ConfigError, match=r"credential|private key"):
        store.start_run("paper", "leaky", config)
    assert store.list_runs() == []
    with store.engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(Run)) == 0


def test_backtest_results_round_trip_in_order(store: Store) -> None:
    run_id = store.start_run("sweep", "grid", trials=25)
    rows = [metrics_row(index, "sma_cross" if index % 2 else "rsi") for index in range(25)]
    assert store.add_backtest_results(run_id, rows) == 25
    stored = store.backtest_results(run_id)
    assert [list(row) for row in stored] == [list(RESULT_COLUMNS)] * 25
    for written, read in zip(rows, stored, strict=True):
        assert read == written
    assert store.count_backtest_results(run_id) == 25


def test_results_take_numpy_numbers_granularity_objects_and_store_nan_as_null(store: Store) -> None:
    run_id = store.start_run("backtest", "numpy")
    row = {
        "strategy": "breakout",
        "product_id": "SOL-USD",
        "granularity": Granularity.ONE_HOUR,
        "params": {"window": np.int64(20), "threshold": np.float64(1.5)},
        "sharpe": np.float64(1.25),
        "sortino": float("nan"),
        "profit_factor": float("inf"),
        "trades": np.int32(7),
    }
    store.add_backtest_results(run_id, [row])
    (read,) = store.backtest_results(run_id)
    assert read["granularity"] == "1h"
    assert read["params"] == {"window": 20, "threshold": 1.5}
    assert read["sharpe"] == 1.25 and type(read["sharpe"]) is float
    assert read["sortino"] is None and read["cagr"] is None
    assert read["profit_factor"] == math.inf
    assert read["trades"] == 7


def test_bad_result_rows_are_refused_whole(store: Store) -> None:
    run_id = store.start_run("sweep", "bad rows")
    good = metrics_row(1)
    with pytest.raises(ValueError, match=r"row 1 has unknown keys \['sharp'\]"):
        store.add_backtest_results(run_id, [good, {**good, "sharp": 1.0}])
    with pytest.raises(ValueError, match="row 0 lacks product_id"):
        store.add_backtest_results(run_id, [{"strategy": "x", "granularity": "1h"}])
    with pytest.raises(ValueError, match="granularity"):
        store.add_backtest_results(run_id, [{**good, "granularity": "7m"}])
    with pytest.raises(StoreError, match="no run 424242"):
        store.add_backtest_results(424242, [good])
    assert store.backtest_results(run_id) == []
    assert store.add_backtest_results(run_id, []) == 0


def test_ten_thousand_results_go_in_as_one_bulk_insert(store: Store) -> None:
    run_id = store.start_run("sweep", "big grid", trials=10_000)
    statements: list[str] = []

    def count_inserts(connection: object, cursor: object, statement: str, *args: object) -> None:
        if statement.startswith("INSERT INTO backtest_results"):
            statements.append(statement)

    event.listen(store.engine, "before_cursor_execute", count_inserts)
    rows = [metrics_row(index) for index in range(10_000)]
    assert store.add_backtest_results(run_id, rows) == 10_000
    event.remove(store.engine, "before_cursor_execute", count_inserts)
    # executemany (SQLite) or a few multi-row VALUES batches (PostgreSQL), never one statement per row
    assert 1 <= len(statements) <= 20
    assert store.count_backtest_results(run_id) == 10_000
    assert store.backtest_results(run_id)[9_999]["params"] == {"fast": 9_999, "slow": 50}


def test_results_as_a_data_frame(store: Store) -> None:
    run_id = store.start_run("sweep", "frame")
    store.add_backtest_results(run_id, [metrics_row(index) for index in range(4)])
    frame = store.backtest_frame(run_id)
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.columns) == list(RESULT_COLUMNS)
    assert frame["trades"].tolist() == [0, 3, 6, 9]
    assert frame["params"].iloc[2] == {"fast": 2, "slow": 50}
    empty = store.backtest_frame(store.start_run("sweep", "nothing"))
    assert empty.empty and list(empty.columns) == list(RESULT_COLUMNS)


def test_deleting_a_run_deletes_its_results(store: Store) -> None:
    run_id = store.start_run("sweep", "to delete")
    store.add_backtest_results(run_id, [metrics_row(index) for index in range(3)])
    with store.engine.begin() as connection:
        connection.execute(delete(Run).where(Run.id == run_id))
        remaining = connection.scalar(select(func.count()).select_from(BacktestResult))
    assert remaining == 0

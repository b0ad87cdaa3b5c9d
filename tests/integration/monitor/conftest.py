"""A store holding a real recorded sweep (made once by `gpt-trader backtest`) plus a planted paper session."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from gpt_trader.store import Store, open_store
from tests.support.monitor_records import Planted, plant

SWEEP_ARGS = (
    "--source",
    "synthetic:3",
    "--strategies",
    "ma_crossover",
    "--param",
    "fast=5:15:5",
    "--param",
    "slow=20:40:10",
    "--days",
    "20",
    "-g",
    "1h",
    "--top",
    "0",
)


@pytest.fixture(scope="session")
def recorded_sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database file whose run 1 is a 3×3 ma_crossover sweep recorded by the real command (offline)."""
    home = tmp_path_factory.mktemp("sweep-home")
    database = home / "recorded.db"
    environment = {
        **os.environ,
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_CACHE_HOME": str(home / "cache"),
        "GPT_TRADER_DATABASE_URL": f"sqlite:///{database}",
    }
    done = subprocess.run(
        [sys.executable, "-m", "gpt_trader", "backtest", *SWEEP_ARGS],
        capture_output=True,
        text=True,
        env=environment,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "Recorded as run 1." in done.stdout
    return database


@pytest.fixture
def filled_store(recorded_sweep: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    """A copy of the recorded sweep with the planted runs and paper session added; the default database."""
    database = tmp_path / "dashboard.db"
    shutil.copy(recorded_sweep, database)
    monkeypatch.setenv("GPT_TRADER_DATABASE_URL", f"sqlite:///{database}")
    store = open_store(f"sqlite:///{database}")
    yield store
    store.close()


@pytest.fixture
def planted(filled_store: Store) -> Planted:
    return plant(filled_store)

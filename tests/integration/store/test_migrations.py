"""Opening a store migrates it to the newest schema, once, and the models match what the migrations build."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import alembic.command
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, make_url

from gpt_trader.store import StoreError, open_store
from gpt_trader.store import db as store_db
from gpt_trader.store.db import alembic_config, current_revision, head_revision, make_engine
from gpt_trader.store.schema import Base

WORKERS = Path(__file__).with_name("workers.py")


def test_a_fresh_database_is_migrated_to_head_with_every_table(store_url: str) -> None:
    with open_store(store_url) as store, store.engine.connect() as connection:
        assert current_revision(connection) == head_revision()
        tables = set(inspect(connection).get_table_names())
    assert set(Base.metadata.tables) <= tables
    assert "alembic_version" in tables


def test_opening_again_runs_no_migration_and_keeps_the_data(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with open_store(store_url) as store:
        run_id = store.start_run("backtest", "kept", {"fast": 10})

    def no_migration(*args: object, **kwargs: object) -> None:
        raise AssertionError("an up-to-date database was migrated again")

    monkeypatch.setattr(alembic.command, "upgrade", no_migration)
    with open_store(store_url) as store:
        run = store.get_run(run_id)
    assert run is not None and run.config == {"fast": 10}


def test_the_models_match_the_migrated_schema(store_url: str) -> None:
    with open_store(store_url) as store, store.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)
    assert differences == []


def test_the_migrations_go_down_to_nothing_and_up_again(store_url: str) -> None:
    store = open_store(store_url)
    store.close()
    engine = make_engine(store_url)
    with engine.begin() as connection:
        command.downgrade(alembic_config(connection), "base")
    with engine.connect() as connection:
        assert current_revision(connection) is None
        assert not set(Base.metadata.tables) & set(inspect(connection).get_table_names())
    engine.dispose()
    with open_store(store_url) as store:
        assert store.list_runs() == []
        with store.engine.connect() as connection:
            assert current_revision(connection) == head_revision()


def test_the_sqlite_settings_hold_on_every_pooled_connection(sqlite_url: str) -> None:
    with open_store(sqlite_url) as store, store.engine.connect() as first, store.engine.connect() as second:
        for connection in (first, second):
            pragma = connection.exec_driver_sql
            assert pragma("PRAGMA journal_mode").scalar() == "wal"
            assert pragma("PRAGMA synchronous").scalar() == 1  # NORMAL
            assert pragma("PRAGMA foreign_keys").scalar() == 1
            assert pragma("PRAGMA busy_timeout").scalar() == store_db.BUSY_TIMEOUT_MS
    assert Path(make_url(sqlite_url).database or "").is_file()


def test_processes_opening_a_new_database_together_all_succeed(sqlite_url: str) -> None:
    openers = [
        subprocess.Popen(
            [sys.executable, str(WORKERS), "opener", sqlite_url],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(3)
    ]
    outcomes = [opener.communicate(timeout=120) for opener in openers]
    for opener, (stdout, stderr) in zip(openers, outcomes, strict=True):
        assert opener.returncode == 0, stderr.decode()
        assert json.loads(stdout) == {"runs": 0}
    engine = make_engine(sqlite_url)
    with engine.connect() as connection:
        assert current_revision(connection) == head_revision()
    engine.dispose()


def test_a_database_from_newer_code_is_refused_with_advice(sqlite_url: str) -> None:
    open_store(sqlite_url).close()
    engine = create_engine(sqlite_url)
    with engine.begin() as connection:
        connection.exec_driver_sql("UPDATE alembic_version SET version_num = 'from_the_future'")
    engine.dispose()
    with pytest.raises(StoreError, match=r"from_the_future.*newer.*upgrade gpt-trader"):
        open_store(sqlite_url)


def test_a_file_that_is_not_a_database_is_refused_with_its_name(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_text("these are my notes, not a database\n" * 100)
    with pytest.raises(StoreError, match=r"notes\.db.*not a database"):
        open_store(f"sqlite:///{path}")
    assert path.read_text().startswith("these are my notes")


def test_a_malformed_url_is_refused_with_an_example() -> None:
    with pytest.raises(StoreError, match=r"not a SQLAlchemy URL.*sqlite:///"):
        open_store("gpt-trader.db")


@pytest.mark.parametrize("url", ["nosuchdb://host/db", "postgresql+nosuchdriver://user:hunter2@host/db"])
def test_an_unknown_dialect_or_driver_is_refused_without_the_password(url: str) -> None:
    with pytest.raises(StoreError, match=r"cannot use the database .*install the driver") as refused:
        open_store(url)
    assert "hunter2" not in str(refused.value)


def test_an_in_memory_database_works_for_one_process() -> None:
    with open_store("sqlite://") as store:
        run_id = store.start_run("backtest", "scratch")
        assert [run.id for run in store.list_runs()] == [run_id]


def test_a_folder_that_cannot_be_made_is_named(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("in the way\n")
    with pytest.raises(StoreError, match=r"cannot create the database folder .*a-file/data"):
        open_store(f"sqlite:///{blocker / 'data' / 'gpt-trader.db'}")


def test_the_head_constant_is_alembics_head() -> None:
    from gpt_trader.store.migrations import HEAD

    assert head_revision() == HEAD

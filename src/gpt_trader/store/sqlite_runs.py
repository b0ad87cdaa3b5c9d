"""Recording a backtest on an up-to-date SQLite file with the standard library's sqlite3 alone.

`Store` stands on SQLAlchemy, whose import takes longer than a quick screen's backtests. A backtest writes one
run and its result rows; on a SQLite file already at the newest schema (`migrations.HEAD`), `SqliteRuns` writes
them with `sqlite3`, with `Store`'s checks (`plain.py`) and in the forms `Store` stores (a test compares the two
databases cell by cell). The result columns are read from the database, which the migrations built from
`schema.py`: no second schema is written here. Any other database, or a file still to create or migrate, is
opened as a `Store`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, Self

from gpt_trader.log import mask_secrets
from gpt_trader.store.migrations import HEAD
from gpt_trader.store.plain import (
    BUSY_TIMEOUT_MS,
    IDENTITY_COLUMNS,
    RunKind,
    RunStatus,
    StoreError,
    checked_data_range,
    checked_trials,
    configure_sqlite_connection,
    json_dumps,
    reject_credentials,
    result_row,
)
from gpt_trader.store.version import code_version as current_code_version

if TYPE_CHECKING:
    from gpt_trader.store.db import Store

_NOT_METRICS = frozenset({"id", "run_id", *IDENTITY_COLUMNS, "params"})


class RunRecorder(Protocol):
    """What recording a backtest needs of a database: `Store` and `SqliteRuns` both have it."""

    def start_run(
        self,
        kind: RunKind | str,
        name: str,
        config: Mapping[str, Any] | None = None,
        *,
        code_version: str | None = None,
        data_fingerprint: str | None = None,
        data_range: tuple[datetime, datetime] | None = None,
        trials: int = 1,
    ) -> int: ...

    def add_backtest_results(self, run_id: int, rows: Iterable[Mapping[str, Any]]) -> int: ...

    def finish_run(self, run_id: int, status: RunStatus | str = ..., error: str | None = None) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None: ...


def open_run_recorder(url: str) -> SqliteRuns | Store:
    """`SqliteRuns` on a SQLite file at the newest schema, else `open_store(url)` (which creates, migrates, and
    explains a database it cannot use)."""
    path = _sqlite_file(url)
    if path is not None:
        try:
            connection = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000)
        except sqlite3.Error:
            connection = None
        if connection is not None:
            if _revision(connection) == HEAD:
                return SqliteRuns(connection, f"sqlite:///{path}")
            connection.close()
    from gpt_trader.store.db import open_store

    return open_store(url)


class SqliteRuns:
    """Runs and backtest results written with sqlite3; each method is one short transaction, as in `Store`."""

    def __init__(self, connection: sqlite3.Connection, url: str) -> None:
        configure_sqlite_connection(connection)
        self._connection = connection
        self.url = url
        columns = connection.execute("SELECT name, type FROM pragma_table_info('backtest_results')").fetchall()
        self._metric_columns = tuple(name for name, _ in columns if name not in _NOT_METRICS)
        self._integer_metrics = frozenset(name for name, kind in columns if kind.upper() == "INTEGER")

    def start_run(
        self,
        kind: RunKind | str,
        name: str,
        config: Mapping[str, Any] | None = None,
        *,
        code_version: str | None = None,
        data_fingerprint: str | None = None,
        data_range: tuple[datetime, datetime] | None = None,
        trials: int = 1,
    ) -> int:
        """As `Store.start_run`."""
        config = dict(config or {})
        reject_credentials(config)
        trials = checked_trials(trials)
        data_start, data_end = checked_data_range(data_range)
        row = {
            "kind": RunKind(kind).value,
            "name": name,
            "status": RunStatus.RUNNING.value,
            "config": json_dumps(config),
            "code_version": code_version or current_code_version(),
            "data_fingerprint": data_fingerprint,
            "data_start": _stored_time(data_start),
            "data_end": _stored_time(data_end),
            "trials": trials,
            "started_at": _stored_time(datetime.now(UTC)),
        }
        with self._writing() as connection:
            cursor = connection.execute(_insert("runs", row), row)
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def add_backtest_results(self, run_id: int, rows: Iterable[Mapping[str, Any]]) -> int:
        """As `Store.add_backtest_results`."""
        prepared = [
            result_row(run_id, row, index, self._metric_columns, self._integer_metrics)
            for index, row in enumerate(rows)
        ]
        if not prepared:
            return 0
        for row in prepared:
            row["params"] = json_dumps(row["params"])
        with self._writing() as connection:
            if connection.execute("SELECT 1 FROM runs WHERE id = ?", (run_id,)).fetchone() is None:
                raise StoreError(f"there is no run {run_id} in {self.url}; start_run first")
            connection.executemany(_insert("backtest_results", prepared[0]), prepared)
        return len(prepared)

    def finish_run(self, run_id: int, status: RunStatus | str = RunStatus.FINISHED, error: str | None = None) -> None:
        """As `Store.finish_run`."""
        final = RunStatus(status)
        if final is RunStatus.RUNNING:
            raise ValueError("finish_run needs a final status: finished, failed or interrupted")
        values = (final.value, _stored_time(datetime.now(UTC)), mask_secrets(error) if error else None, run_id)
        with self._writing() as connection:
            updated = connection.execute("UPDATE runs SET status = ?, ended_at = ?, error = ? WHERE id = ?", values)
            if updated.rowcount == 0:
                raise StoreError(f"there is no run {run_id} in {self.url}")

    def close(self) -> None:
        self._connection.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"

    def _writing(self) -> _Transaction:
        return _Transaction(self._connection)


class _Transaction:
    """BEGIN IMMEDIATE (take the write lock at once, queueing on the busy timeout), then commit or roll back."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection

    def __enter__(self) -> sqlite3.Connection:
        self._connection.execute("BEGIN IMMEDIATE")
        return self._connection

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: object) -> None:
        self._connection.execute("COMMIT" if kind is None else "ROLLBACK")


def _insert(table: str, row: Mapping[str, Any]) -> str:
    return f"INSERT INTO {table} ({', '.join(row)}) VALUES ({', '.join(f':{name}' for name in row)})"


def _stored_time(value: datetime | None) -> str | None:
    # SQLAlchemy's SQLite DATETIME: naive UTC with microseconds ("2026-08-09 21:05:48.298032"), as UtcDateTime binds.
    return None if value is None else value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def _sqlite_file(url: str) -> Path | None:
    """The existing file a plain `sqlite:///PATH` URL names; None for anything else (memory, URI, options)."""
    prefix = "sqlite:///"
    database = url[len(prefix) :] if url.startswith(prefix) else ""
    if not database or database == ":memory:" or database.startswith("file:") or any(c in database for c in "?%"):
        return None
    path = Path(database).expanduser()
    return path if path.is_file() else None


def _revision(connection: sqlite3.Connection) -> str | None:
    try:
        row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.Error:  # not a database, or not migrated: `open_store` says why, or migrates
        return None
    return None if row is None else str(row[0])

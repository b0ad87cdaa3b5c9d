"""Runs and backtest results: what produced each number, and the numbers.

A run records what is needed to judge its results honestly (principle 7 of the design): the config,
the code version, the data fingerprint and range, and how many parameter combinations were tried.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Integer, func, insert, select, update

from gpt_trader.log import mask_secrets
from gpt_trader.store.base import StoreBase, StoreError, utc_now
from gpt_trader.store.plain import (
    IDENTITY_COLUMNS,
    checked_data_range,
    checked_trials,
    reject_credentials,
    result_row,
)
from gpt_trader.store.schema import METRIC_COLUMNS, BacktestResult, Run, RunKind, RunStatus
from gpt_trader.store.version import code_version as current_code_version

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["RESULT_COLUMNS", "RunQueries", "reject_credentials"]

RESULT_COLUMNS: tuple[str, ...] = (*IDENTITY_COLUMNS, "params", *METRIC_COLUMNS)
# Whole-number metrics (trades, durations), read off the model's column types.
_INTEGER_METRICS = frozenset(
    name for name in METRIC_COLUMNS if isinstance(BacktestResult.__table__.columns[name].type, Integer)
)


class RunQueries(StoreBase):
    """The run and backtest-result half of `Store`."""

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
        """Record a run as started and return its id. `code_version` defaults to `code_version()`.

        Raises ConfigError when `config` holds anything that looks like a credential.
        """
        config = dict(config or {})
        reject_credentials(config)
        trials = checked_trials(trials)
        data_start, data_end = checked_data_range(data_range)
        run = Run(
            kind=RunKind(kind),
            name=name,
            status=RunStatus.RUNNING,
            config=config,
            code_version=code_version or current_code_version(),
            data_fingerprint=data_fingerprint,
            data_start=data_start,
            data_end=data_end,
            trials=trials,
            started_at=utc_now(),
        )
        with self._writing() as session:
            session.add(run)
            session.flush()
            return run.id

    def finish_run(
        self, run_id: int, status: RunStatus | str = RunStatus.FINISHED, error: str | None = None
    ) -> None:
        """Record how a run ended: finished, failed (with `error`) or interrupted."""
        final = RunStatus(status)
        if final is RunStatus.RUNNING:
            raise ValueError("finish_run needs a final status: finished, failed or interrupted")
        statement = (
            update(Run)
            .where(Run.id == run_id)
            .values(status=final, ended_at=utc_now(), error=mask_secrets(error) if error else None)
        )
        with self._writing() as session:
            if session.execute(statement).rowcount == 0:  # type: ignore[attr-defined]
                raise StoreError(f"there is no run {run_id} in {self.url}")

    def get_run(self, run_id: int) -> Run | None:
        with self._reading() as session:
            return session.get(Run, run_id)

    def list_runs(self, limit: int = 20, kind: RunKind | str | None = None) -> list[Run]:
        """The newest runs first, optionally of one kind."""
        statement = select(Run).order_by(Run.started_at.desc(), Run.id.desc()).limit(limit)
        if kind is not None:
            statement = statement.where(Run.kind == RunKind(kind))
        with self._reading() as session:
            return list(session.scalars(statement))

    def add_backtest_results(self, run_id: int, rows: Iterable[Mapping[str, Any]]) -> int:
        """Insert result rows in one transaction and return how many.

        Each row has `strategy`, `product_id`, `granularity` (a `Granularity` or a name such as `1h`),
        optionally `params` (a dict) and any of `METRIC_COLUMNS`; a missing or NaN metric is stored as NULL.
        """
        prepared = [
            result_row(run_id, row, index, METRIC_COLUMNS, _INTEGER_METRICS) for index, row in enumerate(rows)
        ]
        if not prepared:
            return 0
        with self._writing() as session:
            if session.get(Run, run_id) is None:
                raise StoreError(f"there is no run {run_id} in {self.url}; start_run first")
            # A Core executemany: one prepared statement for every row, no per-row ORM objects.
            session.connection().execute(insert(BacktestResult), prepared)
        return len(prepared)

    def backtest_results(self, run_id: int) -> list[dict[str, Any]]:
        """A run's result rows in insertion order, as dicts keyed by `RESULT_COLUMNS`."""
        columns = [getattr(BacktestResult, name) for name in RESULT_COLUMNS]
        statement = select(*columns).where(BacktestResult.run_id == run_id).order_by(BacktestResult.id)
        with self._reading() as session:
            return [dict(row) for row in session.execute(statement).mappings()]

    def backtest_frame(self, run_id: int) -> pd.DataFrame:
        """`backtest_results` as a pandas DataFrame (one row per result, `params` as dicts)."""
        import pandas as pd  # only the callers who want a frame pay for importing pandas

        return pd.DataFrame(self.backtest_results(run_id), columns=list(RESULT_COLUMNS))

    def count_backtest_results(self, run_id: int | None = None) -> int:
        """How many result rows a run has (all runs together when `run_id` is None)."""
        statement = select(func.count()).select_from(BacktestResult)
        if run_id is not None:
            statement = statement.where(BacktestResult.run_id == run_id)
        with self._reading() as session:
            return int(session.scalar(statement) or 0)



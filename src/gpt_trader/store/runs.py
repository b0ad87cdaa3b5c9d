"""Runs and backtest results: what produced each number, and the numbers.

A run records what is needed to judge its results honestly (principle 7 of the design): the config,
the code version, the data fingerprint and range, and how many parameter combinations were tried.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import Integer, func, insert, select, update

from gpt_trader.errors import ConfigError
from gpt_trader.log import mask_secrets
from gpt_trader.market.granularity import Granularity
from gpt_trader.store.base import StoreBase, StoreError, utc_now
from gpt_trader.store.schema import METRIC_COLUMNS, BacktestResult, Run, RunKind, RunStatus
from gpt_trader.store.types import aware
from gpt_trader.store.version import code_version as current_code_version

if TYPE_CHECKING:
    import pandas as pd

# Key names (lower-cased, without separators) that name a credential: such a value never goes in a row.
_CREDENTIAL_KEY = re.compile(r"privatekey|secret|jwt|apikey|password|passphrase|accesstoken|authtoken|bearer")
_NON_ALPHANUMERIC = re.compile(r"[^a-z0-9]")
_IDENTITY_COLUMNS = ("strategy", "product_id", "granularity")
RESULT_COLUMNS: tuple[str, ...] = (*_IDENTITY_COLUMNS, "params", *METRIC_COLUMNS)
# Whole-number metrics (trades, durations), read off the model's column types.
_INTEGER_METRICS = frozenset(
    name for name in METRIC_COLUMNS if isinstance(BacktestResult.__table__.columns[name].type, Integer)
)
_RESULT_COLUMN_SET = frozenset(RESULT_COLUMNS)


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
        if trials < 1:
            raise ValueError(f"trials must be 1 or more (the parameter combinations tried), not {trials}")
        data_start: datetime | None = None
        data_end: datetime | None = None
        if data_range is not None:
            data_start, data_end = aware(data_range[0], "data start"), aware(data_range[1], "data end")
            if data_start > data_end:
                raise ValueError(f"data range starts ({data_start}) after it ends ({data_end})")
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
        prepared = [_result_row(run_id, row, index) for index, row in enumerate(rows)]
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


def reject_credentials(config: Mapping[str, Any], where: str = "") -> None:
    """Raise ConfigError if a key of `config` (at any depth) names a credential or a value holds one."""
    for key, value in config.items():
        path = f"{where}.{key}" if where else str(key)
        if _CREDENTIAL_KEY.search(_NON_ALPHANUMERIC.sub("", str(key).lower())):
            raise ConfigError(
                f"the run config has a credential-like key {path!r}; credentials never go into the "
                "database: leave them out of the config (they are read from the environment or key file)"
            )
        _reject_credential_value(value, path)


def _reject_credential_value(value: Any, path: str) -> None:
    if isinstance(value, Mapping):
        reject_credentials(value, path)
    elif isinstance(value, list | tuple | set | frozenset):
        for index, item in enumerate(value):
            _reject_credential_value(item, f"{path}[{index}]")
    elif isinstance(value, str) and ("PRIVATE KEY" in value or mask_secrets(value) != value):
        raise ConfigError(
            f"the run config value at {path!r} holds a private key or a known secret; credentials "
            "never go into the database: leave them out of the config"
        )


@lru_cache(maxsize=64)
def _granularity_name(value: Granularity | str | int) -> str:
    return Granularity.parse(value).short


def _result_row(run_id: int, row: Mapping[str, Any], index: int) -> dict[str, Any]:
    unknown = row.keys() - _RESULT_COLUMN_SET
    if unknown:
        raise ValueError(
            f"backtest result row {index} has unknown keys {sorted(unknown)}; "
            f"known: {', '.join(RESULT_COLUMNS)}"
        )
    missing = [name for name in _IDENTITY_COLUMNS if row.get(name) is None]
    if missing:
        raise ValueError(f"backtest result row {index} lacks {', '.join(missing)}")
    prepared: dict[str, Any] = {
        "run_id": run_id,
        "strategy": str(row["strategy"]),
        "product_id": str(row["product_id"]),
        "granularity": _granularity_name(row["granularity"]),
        "params": dict(row.get("params") or {}),
    }
    for name in METRIC_COLUMNS:
        value = row.get(name)
        if value is not None:
            value = float(value)  # also turns NumPy scalars into plain Python numbers
            if math.isnan(value):
                value = None
            elif name in _INTEGER_METRICS:
                value = int(value)
        prepared[name] = value
    return prepared

"""What the store checks and writes that needs no SQLAlchemy: run kinds and statuses, the credential guard,
result rows, JSON and aware times, the SQLite connection settings.

Kept apart so that recording a backtest on an up-to-date SQLite file (`sqlite_runs.py`) does not import
SQLAlchemy, whose import costs more than a quick screen's backtests; `Store` uses the same functions.
"""

from __future__ import annotations

import enum
import json
import math
import re
import sqlite3
from collections.abc import Collection, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from functools import lru_cache
from pathlib import Path
from typing import Any

from gpt_trader.errors import ConfigError, UserError
from gpt_trader.log import mask_secrets
from gpt_trader.market.granularity import Granularity

BUSY_TIMEOUT_MS = 30_000
IDENTITY_COLUMNS = ("strategy", "product_id", "granularity")
"""The columns naming a backtest result; `params` and the metric columns follow them."""
# Key names (lower-cased, without separators) that name a credential: such a value never goes in a row.
_CREDENTIAL_KEY = re.compile(r"privatekey|secret|jwt|apikey|password|passphrase|accesstoken|authtoken|bearer")
_NON_ALPHANUMERIC = re.compile(r"[^a-z0-9]")


class StoreError(UserError):
    """The database cannot be opened or used as asked; the message names it and says what to do."""


class RunKind(enum.StrEnum):
    BACKTEST = "backtest"
    SWEEP = "sweep"
    SIMULATION = "simulation"
    PAPER = "paper"
    LIVE = "live"


class RunStatus(enum.StrEnum):
    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"
    INTERRUPTED = "interrupted"


def configure_sqlite_connection(dbapi_connection: sqlite3.Connection, _record: Any = None) -> None:
    """WAL, `synchronous=NORMAL`, the busy timeout and foreign keys, on every connection (see `db.py`)."""
    # The caller, not the sqlite3 module, decides when a transaction begins (BEGIN or BEGIN IMMEDIATE).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")  # first, so the pragmas below wait too
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def checked_data_range(data_range: tuple[datetime, datetime] | None) -> tuple[datetime | None, datetime | None]:
    if data_range is None:
        return None, None
    data_start, data_end = aware(data_range[0], "data start"), aware(data_range[1], "data end")
    if data_start > data_end:
        raise ValueError(f"data range starts ({data_start}) after it ends ({data_end})")
    return data_start, data_end


def checked_trials(trials: int) -> int:
    if trials < 1:
        raise ValueError(f"trials must be 1 or more (the parameter combinations tried), not {trials}")
    return trials


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


def result_row(
    run_id: int, row: Mapping[str, Any], index: int, metric_columns: Sequence[str], integer_metrics: Collection[str]
) -> dict[str, Any]:
    """One backtest result as its columns hold it: checked keys, plain numbers, NaN as NULL."""
    known = (*IDENTITY_COLUMNS, "params", *metric_columns)
    unknown = row.keys() - set(known)
    if unknown:
        raise ValueError(f"backtest result row {index} has unknown keys {sorted(unknown)}; known: {', '.join(known)}")
    missing = [name for name in IDENTITY_COLUMNS if row.get(name) is None]
    if missing:
        raise ValueError(f"backtest result row {index} lacks {', '.join(missing)}")
    prepared: dict[str, Any] = {
        "run_id": run_id,
        "strategy": str(row["strategy"]),
        "product_id": str(row["product_id"]),
        "granularity": _granularity_name(row["granularity"]),
        "params": dict(row.get("params") or {}),
    }
    for name in metric_columns:
        value = row.get(name)
        if value is not None:
            value = float(value)  # also turns NumPy scalars into plain Python numbers
            if math.isnan(value):
                value = None
            elif name in integer_metrics:
                value = int(value)
        prepared[name] = value
    return prepared


def aware(value: Any, what: str) -> datetime:
    """`value` if it is a timezone-aware datetime; ValueError naming `what` otherwise."""
    if not isinstance(value, datetime):
        raise ValueError(f"{what} must be a datetime, not {type(value).__name__} {value!r}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} {value.isoformat()} has no timezone; pass an aware (UTC) datetime")
    return value


def json_dumps(value: Any) -> str:
    """JSON for config, params and detail columns: also takes NumPy scalars, Decimals, dates and paths.

    NaN and infinity are refused: they are not JSON, and PostgreSQL rejects them.
    """
    return json.dumps(value, default=_json_default, allow_nan=False, separators=(",", ":"))


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    tolist = getattr(value, "tolist", None)  # NumPy scalars and arrays, as Python numbers and lists
    if callable(tolist):
        return tolist()
    raise TypeError(f"{type(value).__name__} {value!r} cannot be stored as JSON")

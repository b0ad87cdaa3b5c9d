"""The performance database: every run and its results, and the paper/simulation trading record.

    from gpt_trader.store import open_store

    with open_store(load_settings().database) as store:
        run_id = store.start_run("sweep", "sma_cross BTC-USD", config, data_range=(start, end), trials=120)
        store.add_backtest_results(run_id, rows)
        store.finish_run(run_id)

SQLite (WAL) is the default; any SQLAlchemy URL, e.g. PostgreSQL, works the same. The schema is migrated
to the newest revision whenever a store is opened.

Each name below is imported from its module on first use, so that importing a module of this package that
needs no SQLAlchemy (`plain`, `sqlite_runs`) does not import it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gpt_trader.store.db import Store, open_store
    from gpt_trader.store.plain import RunKind, RunStatus, StoreError
    from gpt_trader.store.runs import RESULT_COLUMNS
    from gpt_trader.store.schema import (
        METRIC_COLUMNS,
        Account,
        BacktestResult,
        EquitySnapshot,
        FeedEvent,
        FeedEventKind,
        Fill,
        Liquidity,
        Order,
        OrderSide,
        Run,
        SessionMode,
        TradingSession,
    )
    from gpt_trader.store.version import code_version

_MODULES = {
    "Store": "db",
    "open_store": "db",
    "RunKind": "plain",
    "RunStatus": "plain",
    "StoreError": "plain",
    "RESULT_COLUMNS": "runs",
    **dict.fromkeys(
        (
            "METRIC_COLUMNS", "Account", "BacktestResult", "EquitySnapshot", "FeedEvent", "FeedEventKind", "Fill",
            "Liquidity", "Order", "OrderSide", "Run", "SessionMode", "TradingSession",
        ),
        "schema",
    ),
    "code_version": "version",
}

__all__ = [
    "METRIC_COLUMNS",
    "RESULT_COLUMNS",
    "Account",
    "BacktestResult",
    "EquitySnapshot",
    "FeedEvent",
    "FeedEventKind",
    "Fill",
    "Liquidity",
    "Order",
    "OrderSide",
    "Run",
    "RunKind",
    "RunStatus",
    "SessionMode",
    "Store",
    "StoreError",
    "TradingSession",
    "code_version",
    "open_store",
]


def __getattr__(name: str) -> object:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)

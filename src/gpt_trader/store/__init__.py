"""The performance database: every run and its results, and the paper/simulation trading record.

    from gpt_trader.store import open_store

    with open_store(load_settings().database) as store:
        run_id = store.start_run("sweep", "sma_cross BTC-USD", config, data_range=(start, end), trials=120)
        store.add_backtest_results(run_id, rows)
        store.finish_run(run_id)

SQLite (WAL) is the default; any SQLAlchemy URL, e.g. PostgreSQL, works the same. The schema is migrated
to the newest revision whenever a store is opened.
"""

from gpt_trader.store.base import StoreError
from gpt_trader.store.db import Store, open_store
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
    RunKind,
    RunStatus,
    SessionMode,
    TradingSession,
)
from gpt_trader.store.version import code_version

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

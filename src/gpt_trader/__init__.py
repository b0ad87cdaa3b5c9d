"""GPT-Trader: rapid backtests, a Coinbase-compatible sandbox and paper trading for crypto markets.

The public Python API (imported on first use, so the command line starts quickly):

* `run_backtest(strategy, product, params=..., data=DataSpec(...) or bars=DataFrame)` -> `BacktestResult`
* `sweep(strategies, products, params=..., data=...)` -> `SweepResult`
* `optimize(strategy, products, params=..., method=..., objective=...)` -> `OptimizeResult`
* `DataSpec`, `SimulationSettings`, `load_bars`, `Bars`, `Granularity`
* `Strategy`, `Param`, `get_strategy`, `list_strategies`, `check_lookahead`
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

import gpt_trader.numba_cache  # noqa: F401 - before any module imports Numba: a cache per version of the sources

__version__ = "0.1.0"

_EXPORTS = {
    "run_backtest": "gpt_trader.backtest.api",
    "sweep": "gpt_trader.backtest.api",
    "DataSpec": "gpt_trader.backtest.api",
    "BacktestResult": "gpt_trader.backtest.api",
    "SweepResult": "gpt_trader.backtest.api",
    "optimize": "gpt_trader.backtest.optimize",
    "OptimizeResult": "gpt_trader.backtest.optimize",
    "SimulationSettings": "gpt_trader.backtest.settings",
    "load_bars": "gpt_trader.market.load",
    "Bars": "gpt_trader.market.bars",
    "Granularity": "gpt_trader.market.granularity",
    "Strategy": "gpt_trader.strategies.base",
    "Param": "gpt_trader.strategies.base",
    "get_strategy": "gpt_trader.strategies.registry",
    "list_strategies": "gpt_trader.strategies.registry",
    "check_lookahead": "gpt_trader.strategies.lookahead",
}

__all__ = [*_EXPORTS, "__version__"]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'gpt_trader' has no attribute {name!r}")

"""Strategies: the contract (`Strategy`, `Param`, signals), the registry, and the look-ahead checks.

Indicators (`strategies.indicators`, `strategies.ticks`) and the built-ins (`strategies.builtin`) are
imported on first use, so importing this package stays cheap for code that only needs the contract.
"""

from __future__ import annotations

from gpt_trader.strategies.base import (
    HOLD,
    LONG,
    SHORT,
    IndicatorCache,
    Param,
    Params,
    ParamValue,
    Strategy,
    checked_signals,
    indicator_cache,
    trailing_signal,
)
from gpt_trader.strategies.lookahead import LookaheadReport, check_lookahead, check_lookback
from gpt_trader.strategies.registry import (
    StrategyPluginWarning,
    get_strategy,
    list_strategies,
    load_spec,
    load_strategy_file,
)

__all__ = [
    "HOLD",
    "LONG",
    "SHORT",
    "IndicatorCache",
    "LookaheadReport",
    "Param",
    "ParamValue",
    "Params",
    "Strategy",
    "StrategyPluginWarning",
    "check_lookahead",
    "check_lookback",
    "checked_signals",
    "get_strategy",
    "indicator_cache",
    "list_strategies",
    "load_spec",
    "load_strategy_file",
    "trailing_signal",
]

"""The built-in strategies, one module each; `registry` finds them by name."""

from __future__ import annotations

from gpt_trader.strategies.base import Strategy
from gpt_trader.strategies.builtin.breakout import Breakout
from gpt_trader.strategies.builtin.ma_crossover import MaCrossover
from gpt_trader.strategies.builtin.mean_reversion import MeanReversion
from gpt_trader.strategies.builtin.momentum import Momentum
from gpt_trader.strategies.builtin.volatility import Volatility

BUILTIN_STRATEGIES: tuple[type[Strategy], ...] = (Momentum, MeanReversion, Breakout, MaCrossover, Volatility)
"""The one list of built-in strategies, in the order runs and listings show them."""
BUILTIN_NAMES: tuple[str, ...] = tuple(cls.name for cls in BUILTIN_STRATEGIES)

__all__ = ["BUILTIN_NAMES", "BUILTIN_STRATEGIES", "Breakout", "MaCrossover", "MeanReversion", "Momentum", "Volatility"]

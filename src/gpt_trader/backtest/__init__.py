"""The rapid backtester: simulation kernel, metrics, parameter spaces, parallel runner, Python API.

`gpt_trader.backtest` is both this package and the function `gpt_trader.backtest(...)` of the public
API (see `backtest.api.backtest`): importing any sub-module binds the package to that name on
`gpt_trader`, so the package itself answers the call.
"""

from __future__ import annotations

import sys
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gpt_trader.backtest.api import BacktestResult


class _CallablePackage(types.ModuleType):
    def __call__(self, *args: Any, **kwargs: Any) -> BacktestResult:
        from gpt_trader.backtest.api import backtest

        return backtest(*args, **kwargs)


sys.modules[__name__].__class__ = _CallablePackage

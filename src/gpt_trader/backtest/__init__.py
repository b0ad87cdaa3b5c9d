"""The rapid backtester: simulation kernel, metrics, parameter spaces, parallel runner, Python API.

The public functions are `gpt_trader.run_backtest` and `gpt_trader.sweep` (defined in `backtest.api`).
"""

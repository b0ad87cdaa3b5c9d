"""GPT-Trader: rapid backtests, a Coinbase-compatible sandbox and paper trading for crypto markets."""

__version__ = "0.1.0"

"""Exact cases for `backtest/metrics.py` that mutation testing asked for (`bench.mutation --module metrics`)."""

from __future__ import annotations

import numpy as np

from gpt_trader.backtest.metrics import compute_metrics


def test_of_two_equally_deep_drawdowns_the_first_names_the_length() -> None:
    # Both fall 10 % from a peak of 100: the first lasts 2 bars (peak at 0, recovered at 2), the second 3.
    equity = np.array([100.0, 90.0, 100.0, 100.0, 90.0, 90.0, 100.0])
    metrics = compute_metrics(equity, np.arange(7) * 60, 60.0, 100.0)
    assert metrics.max_drawdown == 90.0 / 100.0 - 1.0
    assert (metrics.max_drawdown_bars, metrics.max_drawdown_seconds) == (2, 120)

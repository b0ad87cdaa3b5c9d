"""Exact cases of the kernel's own work (marking, recording) that mutation testing found unguarded.

See `python -m bench.mutation`; the rules themselves have theirs in tests/unit/trading/test_rules_mutants.py.
"""

from __future__ import annotations

import numpy as np

from gpt_trader.backtest.kernel import TR_PNL, TR_RETURN, simulate
from gpt_trader.backtest.settings import SimulationSettings
from tests.support.rule_replay import H, L, S


def run(close: list[float], signals: list[int], **settings: float | str) -> tuple[np.ndarray, np.ndarray]:
    """(equity, units) per bar; every bar opens, peaks and bottoms at its close."""
    prices = np.array(close, dtype=np.float64)
    times = np.arange(len(close), dtype=np.int64) * 60
    params = SimulationSettings(**settings).kernel_params()  # type: ignore[arg-type]
    equity, _, units, _, _ = simulate(prices, prices, prices, prices, times, np.array(signals, dtype=np.int8),
                                      params, 60.0)  # fmt: skip
    return equity, units


def test_a_close_of_zero_is_no_price_the_position_stays_marked_at_the_last_usable_close() -> None:
    # The sell at bar 1 cannot fill at a close of 0, so the long is held and marked at 100, not at 0.
    equity, units = run([100.0, 0.0, 110.0], [L, S, H], fill="close", fee_rate=0.0)
    assert list(units) == [100.0, 100.0, 100.0]
    assert list(equity) == [10_000.0, 10_000.0, 11_000.0]


def test_a_close_of_zero_among_skipped_held_bars_keeps_the_mark_at_the_last_usable_close() -> None:
    # Bars 1-3 hold quietly (the kernel skips them and only marks them); bar 1's close of 0 is no price.
    equity, units = run([100.0, 0.0, 110.0, 120.0], [L, H, H, H], fill="close", fee_rate=0.0)
    assert list(units) == [100.0] * 4
    assert list(equity) == [10_000.0, 10_000.0, 11_000.0, 12_000.0]


def test_a_position_open_at_the_end_is_recorded_with_its_return_on_the_cash_committed() -> None:
    prices = np.array([100.0, 110.0])
    params = SimulationSettings(fill="close", fee_rate=0.0).kernel_params()
    _, _, _, trades, _ = simulate(prices, prices, prices, prices, np.array([0, 60], dtype=np.int64),
                                  np.array([L, H], dtype=np.int8), params, 60.0)  # fmt: skip
    (row,) = trades
    assert (row[TR_PNL], row[TR_RETURN]) == (1_000.0, 0.1)

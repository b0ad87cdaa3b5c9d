"""Exact cases for `backtest/metrics.py` that mutation testing asked for (`bench.mutation --module metrics`)."""

from __future__ import annotations

import numpy as np
import pytest

from gpt_trader.backtest.metrics import _held_block_sums, buy_and_hold_return, compute_metrics, curve_mark_held


def test_of_two_equally_deep_drawdowns_the_first_names_the_length() -> None:
    # Both fall 10 % from a peak of 100: the first lasts 2 bars (peak at 0, recovered at 2), the second 3.
    equity = np.array([100.0, 90.0, 100.0, 100.0, 90.0, 90.0, 100.0])
    metrics = compute_metrics(equity, np.arange(7) * 60, 60.0, 100.0)
    assert metrics.max_drawdown == 90.0 / 100.0 - 1.0
    assert (metrics.max_drawdown_bars, metrics.max_drawdown_seconds) == (2, 120)


def _returns_sums(equities: list[float], previous: float) -> tuple[float, float, float]:
    """Sum r, r^2 and min(r, 0)^2 over an equity path that starts after `previous`."""
    returns = np.array(equities) / np.array([previous, *equities[:-1]]) - 1.0
    downside = np.minimum(returns, 0.0)
    return float(returns.sum()), float((returns**2).sum()), float((downside**2).sum())


def _held(close: list[float], acc: tuple[float, ...], last_price: float) -> tuple[tuple[float, ...], float]:
    """Hold one unit with no cash over every bar of `close`, bars a minute apart."""
    prices = np.array(close)
    times = np.arange(len(prices), dtype=np.float64) * 60.0
    return curve_mark_held(prices, times, 0, len(prices), 0.0, 1.0, last_price, acc, 60.0)


@pytest.mark.parametrize("missing", [None, 0, 2])
def test_a_zero_close_in_a_held_block_is_no_price(missing: int | None) -> None:
    # A held position is marked at its last usable close: a zero close (a bar without trades) repeats it.
    # Without one the block is summed in one pass; with one, bar by bar. Either way the trough falls to 90.
    close = [90.0, 91.0, 92.0, 93.0]
    if missing is not None:
        close[missing] = 0.0
    marks = [close[k] if close[k] > 0.0 else (close[k - 1] if k else 95.0) for k in range(len(close))]
    acc = (95.0, 0.0, 0.0, 0.0, 100.0, -1.0, 0.0, 95.0, 0.0, 0.0, 0.0)
    folded, last_price = _held(close, acc, 95.0)
    assert last_price == marks[-1]
    assert folded[:4] == pytest.approx((marks[-1], *_returns_sums(marks, 95.0)), rel=1e-12)
    assert folded[7] == min(marks)


@pytest.mark.parametrize("recovered", [0, 2])
def test_a_held_block_that_regains_the_peak_exactly_ends_the_drawdown(recovered: int) -> None:
    # Peak 100 at bar -1 (time 0), fallen to 80, last marked at 85: regaining exactly 100 ends a 20 % drawdown.
    close = [95.0, 96.0, 97.0, 96.0]
    close[recovered] = 100.0
    acc = (85.0, 0.0, 0.0, 0.0, 100.0, -1.0, 0.0, 80.0, 0.0, 0.0, 0.0)
    folded, _ = _held(close, acc, 85.0)
    peak, peak_index, peak_time, _, deepest, deepest_bars, deepest_seconds = folded[4:]
    assert (deepest, deepest_bars, deepest_seconds) == (80.0 / 100.0 - 1.0, recovered + 1, (recovered + 1) * 60)
    assert (peak, peak_index, peak_time) == (100.0, recovered, (recovered + 1) * 60)


def test_held_block_sums_count_usable_closes_and_equities_at_the_peak_and_below_the_trough() -> None:
    # Equities 90 (the trough: not below it), 100 (the peak: at it), 90 again, 81 (below the trough), then a
    # zero close: not usable, and its equity 0 is below the trough as well.
    close = np.array([90.0, 100.0, 90.0, 81.0, 0.0])
    sums = _held_block_sums(close, 0, 5, 0.0, 1.0, 95.0, 100.0, 90.0)
    assert sums[3:] == (4, 1, 2)
    sums = _held_block_sums(close, 0, 4, 0.0, 1.0, 95.0, 100.0, 90.0)
    assert sums[:3] == pytest.approx(_returns_sums([90.0, 100.0, 90.0, 81.0], 95.0), rel=1e-12)
    assert sums[3:] == (4, 1, 1)


@pytest.mark.parametrize("next_open", [False, True])
def test_buy_and_hold_skips_zero_prices_at_the_entry_and_at_the_mark(next_open: bool) -> None:
    # Bar 0's open and close and bar 1's open are zero (no trades), as is the last close: buy at 100, sell at 110.
    open_ = np.array([0.0, 0.0, 100.0, 105.0])
    close = np.array([0.0, 100.0, 110.0, 0.0])
    held = buy_and_hold_return(open_, close, next_open, 1.0, 1.0, 0.0, 1000.0)
    assert held == pytest.approx(110.0 / 100.0 - 1.0, rel=1e-12)


def test_a_wiped_out_account_compounds_at_minus_one() -> None:
    metrics = compute_metrics(np.array([100.0, 50.0, 0.0]), np.arange(3) * 60, 60.0, 100.0)
    assert (metrics.total_return, metrics.cagr) == (-1.0, -1.0)

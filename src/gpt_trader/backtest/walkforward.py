"""Walk-forward folds and the out-of-sample metrics of choosing parameters fold by fold.

The bars are cut into `folds + 1` equal chunks. Fold k tests on chunk k + 1 and trains on the chunks before it:
all of them when anchored, only the one just before when rolling. A purge gap of `purge` bars is cut from the
end of every training range, so no trade signalled at the end of training runs on into the test.

Every combination is scored on every range from signals computed once over all the bars (strategies are
causal, so a range's signals are what the strategy would have said live, warm indicators included): the
runner's `Job.segments`. `pool` then joins the test ranges of the parameters chosen fold by fold into one
out-of-sample record: compounded return, and Sharpe and volatility over every test bar's return.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from gpt_trader.backtest.metrics import (
    M_BUY_AND_HOLD_RETURN,
    M_SHARPE,
    M_TOTAL_RETURN,
    M_VOLATILITY,
    SECONDS_PER_YEAR,
)
from gpt_trader.errors import UserError

Segment = tuple[int, int]


@dataclass(frozen=True)
class Fold:
    """One walk-forward step: train on bars [train[0], train[1]), then test on [test[0], test[1])."""

    train: Segment
    test: Segment


def walk_forward_folds(bars: int, folds: int = 5, anchored: bool = False, purge: int = 0) -> list[Fold]:
    """The folds over `bars` bars (see the module doc)."""
    if folds < 1:
        raise UserError(f"--folds {folds}: walk-forward needs at least one fold")
    if purge < 0:
        raise UserError(f"--purge {purge}: the purge gap is a number of bars, 0 or more")
    chunk = bars // (folds + 1)
    if chunk - purge < 2:
        raise UserError(
            f"{bars} bars cut into {folds + 1} chunks leave {chunk} bars per chunk, too few for a purge gap of "
            f"{purge} bars; use fewer --folds, a smaller --purge or more history"
        )
    result = []
    for k in range(folds):
        test_start = (k + 1) * chunk
        test_stop = bars if k == folds - 1 else test_start + chunk
        train_start = 0 if anchored else k * chunk
        result.append(Fold((train_start, test_start - purge), (test_start, test_stop)))
    return result


def blocks(bars: int, count: int) -> list[Segment]:
    """`count` consecutive equal blocks covering `bars` bars (the last takes the remainder): CSCV's rows."""
    size = bars // count
    if size < 2:
        raise UserError(f"{bars} bars are too few for {count} blocks of overfitting analysis; load more history")
    return [(i * size, bars if i == count - 1 else (i + 1) * size) for i in range(count)]


def pool(metrics: Sequence[np.ndarray], lengths: Sequence[int], bar_seconds: float) -> dict[str, float]:
    """Join per-range metric vectors into one record: total return, annualised volatility and Sharpe, and the
    return of holding the product through the same ranges (each range's buy-and-hold, compounded).

    A range's mean and spread of per-bar returns are read back from its Sharpe and volatility (population
    moments, annualised by the same factor), so the pooled figures equal those of the returns of every range
    laid end to end.
    """
    per_year = SECONDS_PER_YEAR / bar_seconds
    growth = 1.0
    holding = 1.0
    count = 0
    total = 0.0
    squares = 0.0
    for vector, length in zip(metrics, lengths, strict=True):
        growth *= 1 + float(vector[M_TOTAL_RETURN])
        holding *= 1 + float(vector[M_BUY_AND_HOLD_RETURN])
        spread = float(vector[M_VOLATILITY]) / math.sqrt(per_year)
        sharpe = float(vector[M_SHARPE]) / math.sqrt(per_year)
        # No spread means a flat range (every return 0), the only way a sweep's Sharpe is undefined.
        mean = sharpe * spread if math.isfinite(sharpe) and spread > 0 else 0.0
        count += length
        total += mean * length
        squares += (spread * spread + mean * mean) * length
    if count == 0:
        nan = float("nan")
        return {"total_return": nan, "volatility": nan, "sharpe": nan, "buy_and_hold_return": nan}
    mean = total / count
    std = math.sqrt(max(squares / count - mean * mean, 0.0))
    sharpe = mean / std * math.sqrt(per_year) if std > 0 else float("nan")
    return {
        "total_return": growth - 1,
        "volatility": std * math.sqrt(per_year),
        "sharpe": sharpe,
        "buy_and_hold_return": holding - 1,
    }

"""Market regimes, labelled causally from the bars themselves, and a result's breakdown by regime.

Each bar gets one of four labels from what was known at its close:

* trending or ranging: Kaufman's efficiency ratio over the last `window` closes, |net move| / sum of
  |moves|, at or above `TREND_THRESHOLD` is trending;
* high or low volatility: the standard deviation of the last `window` log returns above the median of that
  figure over the `history` bars before (and including) this one is high.

Every figure reads only bars up to the labelled one, so appending bars never changes an earlier label; the
first bars, before a full window and `window` bars of volatility history exist, are `UNKNOWN` (-1).

`breakdown` splits a backtest's per-bar returns by the label of the bar they are earned on; the regime rows
are stored with the run (`record_regimes`, table `regime_results`), so the database answers "how does this
strategy do in a high-volatility range?" (`regime_frame`, or SQL on `regime_results`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from gpt_trader.backtest.metrics import SECONDS_PER_YEAR
from gpt_trader.market.bars import Bars

if TYPE_CHECKING:
    import pandas as pd

    from gpt_trader.store import Store

UNKNOWN = -1
REGIMES = ("trending, high volatility", "trending, low volatility", "ranging, high volatility",
           "ranging, low volatility")
TREND_THRESHOLD = 0.3
DEFAULT_WINDOW = 48
DEFAULT_HISTORY = 2000


def regime_labels(bars: Bars, window: int = DEFAULT_WINDOW, history: int = DEFAULT_HISTORY) -> np.ndarray:
    """One int8 per bar: an index into `REGIMES`, or UNKNOWN before enough bars exist."""
    import pandas as pd

    if window < 2 or history < window:
        raise ValueError(f"regimes need window >= 2 and history >= window, got {window} and {history}")
    close = pd.Series(np.asarray(bars.close, dtype=np.float64))
    net = (close - close.shift(window)).abs()
    path = close.diff().abs().rolling(window).sum()
    efficiency = (net / path).mask(path == 0, 0.0)  # no move at all over the window: a flat range
    volatility = np.log(close).diff().rolling(window).std(ddof=0)
    typical = volatility.rolling(history, min_periods=window).median()
    labels = np.full(len(close), UNKNOWN, dtype=np.int8)
    known = (efficiency.notna() & typical.notna()).to_numpy()
    trending = (efficiency >= TREND_THRESHOLD).to_numpy()
    high = (volatility > typical).to_numpy()
    labels[known] = np.where(trending, np.where(high, 0, 1), np.where(high, 2, 3))[known]
    return labels


def breakdown(bars: Bars, equity: np.ndarray, initial_cash: float, labels: np.ndarray) -> list[dict[str, Any]]:
    """Per regime (bars of unknown regime left out): bars, share of bars, compounded return and Sharpe."""
    previous = np.concatenate([[initial_cash], equity[:-1]])
    returns = equity / previous - 1
    per_year = SECONDS_PER_YEAR / float(bars.granularity.seconds)
    rows = []
    known = int(np.sum(labels != UNKNOWN))
    for code, name in enumerate(REGIMES):
        mask = labels == code
        if not mask.any():
            continue
        chosen = returns[mask]
        std = float(chosen.std())
        rows.append({
            "regime": name,
            "bars": int(mask.sum()),
            "share": float(mask.sum() / known),
            "total_return": float(np.prod(1 + chosen) - 1),
            "sharpe": float(chosen.mean() / std * math.sqrt(per_year)) if std > 0 else float("nan"),
        })
    return rows


def record_regimes(store: Store, run_id: int, rows: Iterable[Mapping[str, Any]]) -> int:
    """Store regime rows (strategy, product_id, params, regime, bars, share, total_return, sharpe) of a run."""
    from sqlalchemy import insert

    from gpt_trader.store.schema import RegimeResult

    prepared = [
        {**{k: row[k] for k in ("strategy", "product_id", "regime", "bars")}, "run_id": run_id,
         "params": dict(row["params"]),
         **{k: _plain(row[k]) for k in ("share", "total_return", "sharpe")}}
        for row in rows
    ]
    if prepared:
        with store.engine.begin() as connection:
            connection.execute(insert(RegimeResult), prepared)
    return len(prepared)


def regime_frame(store: Store, run_id: int | None = None, regime: str | None = None) -> pd.DataFrame:
    """Stored regime rows as a DataFrame, of one run and/or one regime ("ranging, high volatility")."""
    import pandas as pd
    from sqlalchemy import select

    from gpt_trader.store.schema import RegimeResult

    columns = ("run_id", "strategy", "product_id", "params", "regime", "bars", "share", "total_return", "sharpe")
    statement = select(*(getattr(RegimeResult, c) for c in columns)).order_by(RegimeResult.id)
    if run_id is not None:
        statement = statement.where(RegimeResult.run_id == run_id)
    if regime is not None:
        statement = statement.where(RegimeResult.regime == regime)
    with store.engine.connect() as connection:
        rows = [dict(row) for row in connection.execute(statement).mappings()]
    return pd.DataFrame(rows, columns=list(columns))


def _plain(value: float) -> float | None:
    return None if not math.isfinite(value) else float(value)

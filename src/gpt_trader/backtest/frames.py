"""pandas DataFrames as backtest input, the way notebooks hold candles (backtesting.py, vectorbt, yfinance).

A frame needs open, high, low and close columns (any capitalisation; volume is optional) and its times as a
DatetimeIndex or a `time` column (datetimes or Unix seconds). The granularity is the most common step
between times unless given; the product id is the one the caller names.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from gpt_trader.errors import UserError
from gpt_trader.market.bars import Bars
from gpt_trader.market.granularity import Granularity, choices
from gpt_trader.market.load import parse_granularity
from gpt_trader.market.validation import check

if TYPE_CHECKING:
    import pandas as pd

PRICE_COLUMNS = ("open", "high", "low", "close")
TIME_COLUMNS = ("time", "timestamp", "date", "datetime")


def bars_from_frame(frame: pd.DataFrame, product_id: str, granularity: Granularity | str | None = None) -> Bars:
    """The frame's candles as validated Bars of `product_id`; a UserError says what the frame lacks."""
    import pandas as pd

    columns = {str(column).strip().lower(): column for column in frame.columns}
    missing = [name for name in PRICE_COLUMNS if name not in columns]
    if missing:
        found = ", ".join(map(str, frame.columns)) or "none"
        raise UserError(f"the DataFrame of {product_id} lacks column(s) {', '.join(missing)} (it has {found})")
    time_column = next((columns[name] for name in TIME_COLUMNS if name in columns), None)
    times = frame.index.to_series() if time_column is None else frame[time_column]
    seconds = _unix_seconds(times, product_id)
    plain = pd.DataFrame(
        {name: frame[columns[name]].to_numpy(dtype=np.float64) for name in PRICE_COLUMNS},
        index=pd.RangeIndex(len(frame)),
    )
    plain["volume"] = frame[columns["volume"]].to_numpy(dtype=np.float64) if "volume" in columns else 0.0
    plain["time"] = seconds
    size = _granularity(seconds, product_id) if granularity is None else parse_granularity(granularity)
    bars = Bars.from_frame(plain, product_id.strip().upper(), size)
    check(bars)
    return bars


def _unix_seconds(times: pd.Series, product_id: str) -> np.ndarray:
    import pandas as pd

    if pd.api.types.is_datetime64_any_dtype(times):
        return pd.to_datetime(times, utc=True).astype("datetime64[s, UTC]").astype("int64").to_numpy()
    if pd.api.types.is_integer_dtype(times):
        return times.to_numpy(dtype=np.int64)
    raise UserError(
        f"the DataFrame of {product_id} has no times: give it a DatetimeIndex (as pandas.read_csv(..., "
        "index_col=0, parse_dates=True) makes) or a time column of datetimes or Unix seconds"
    )


def _granularity(seconds: np.ndarray, product_id: str) -> Granularity:
    steps = np.diff(seconds)
    if len(steps) == 0:
        raise UserError(f"the DataFrame of {product_id} has one row; the granularity cannot be inferred: pass it")
    values, counts = np.unique(steps, return_counts=True)
    step = int(values[np.argmax(counts)])
    try:
        return Granularity.parse(step)
    except ValueError:
        raise UserError(
            f"the DataFrame of {product_id} steps by {step} s most often, not a Coinbase granularity "
            f"({choices()}); resample it (frame.resample('1h')) or pass granularity="
        ) from None


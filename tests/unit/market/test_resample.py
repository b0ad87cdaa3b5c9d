"""resample: coarser candles as exchanges build them, checked against pandas."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpt_trader.errors import DataError
from gpt_trader.market.bars import Bars
from gpt_trader.market.granularity import Granularity
from gpt_trader.market.resample import resample

JAN_1 = 1_704_067_200  # 2024-01-01T00:00:00Z
AGGREGATION = {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}


def bars_from(
    minutes: list[int] | np.ndarray,
    seed: int = 0,
    synthetic: list[bool] | None = None,
    granularity: Granularity = Granularity.ONE_MINUTE,
) -> Bars:
    """Random but sound bars at the given multiples of `granularity` after JAN_1."""
    rng = np.random.default_rng(seed)
    count = len(minutes)
    close = 100 + rng.normal(size=count).cumsum()
    open_ = close + rng.normal(size=count)
    return Bars(
        "SOL-USD",
        granularity,
        JAN_1 + granularity.seconds * np.asarray(minutes, dtype=np.int64),
        open_,
        np.maximum(open_, close) + rng.random(count),
        np.minimum(open_, close) - rng.random(count),
        close,
        rng.random(count) * 10,
        synthetic,
    )


def pandas_resample(bars: Bars, target: Granularity) -> pd.DataFrame:
    """The reference: pandas, left-closed and left-labelled, dropping buckets with no source bar."""
    frame = bars.to_frame()
    grouped = frame.resample(f"{target.seconds}s", closed="left", label="left")
    result = grouped.agg(AGGREGATION)
    return result[grouped.size() > 0]


def assert_matches_pandas(result: Bars, expected: pd.DataFrame) -> None:
    got = result.to_frame()
    assert got.index.equals(expected.index)
    for name in AGGREGATION:
        np.testing.assert_allclose(got[name].to_numpy(), expected[name].to_numpy(), rtol=1e-12, err_msg=name)


def test_a_hand_checked_example_with_a_gap() -> None:
    bars = Bars(
        "SOL-USD",
        Granularity.ONE_MINUTE,
        JAN_1 + 60 * np.array([0, 1, 4, 10, 11]),
        [10.0, 11.0, 12.0, 20.0, 21.0],
        [10.5, 13.0, 12.5, 20.5, 22.0],
        [9.0, 10.5, 11.0, 19.5, 20.0],
        [11.0, 12.0, 12.2, 21.0, 20.5],
        [1.0, 2.0, 3.0, 4.0, 5.0],
    )
    five = resample(bars, "5m")
    assert five.granularity is Granularity.FIVE_MINUTE
    # Minutes 0-4 make one bar; 5-9 have no source bar, so no bar; 10-11 make the second.
    assert five.time.tolist() == [JAN_1, JAN_1 + 600]
    assert five.open.tolist() == [10.0, 20.0]
    assert five.high.tolist() == [13.0, 22.0]
    assert five.low.tolist() == [9.0, 19.5]
    assert five.close.tolist() == [12.2, 20.5]
    assert five.volume.tolist() == [6.0, 9.0]


@settings(max_examples=40, deadline=None)
@given(
    present=st.lists(st.booleans(), min_size=1, max_size=300),
    offset=st.integers(0, 2000),
    target=st.sampled_from([Granularity.FIVE_MINUTE, Granularity.FIFTEEN_MINUTE, Granularity.ONE_HOUR]),
)
def test_matches_pandas_on_gappy_minute_bars(present: list[bool], offset: int, target: Granularity) -> None:
    bars = bars_from(offset + np.flatnonzero(present), seed=len(present) + offset)
    assert_matches_pandas(resample(bars, target), pandas_resample(bars, target))


def test_buckets_align_to_the_epoch() -> None:
    hours = bars_from(np.arange(3, 60), granularity=Granularity.ONE_HOUR)
    six = resample(hours, Granularity.SIX_HOUR)
    assert (six.time % 21_600 == 0).all() and six.time[0] == JAN_1
    days = resample(hours, Granularity.ONE_DAY)
    assert days.time.tolist() == [JAN_1, JAN_1 + 86_400, JAN_1 + 2 * 86_400]
    assert_matches_pandas(days, pandas_resample(hours, Granularity.ONE_DAY))


def test_a_bucket_is_synthetic_only_if_all_its_bars_are() -> None:
    bars = bars_from(np.arange(10), synthetic=[True] * 5 + [False, True, True, True, True])
    flags = resample(bars, Granularity.FIVE_MINUTE).synthetic
    assert flags is not None and flags.tolist() == [True, False]
    assert resample(bars_from(np.arange(10)), Granularity.FIVE_MINUTE).synthetic is None


def test_same_granularity_is_a_no_op_and_empty_stays_empty() -> None:
    bars = bars_from(np.arange(5))
    assert resample(bars, Granularity.ONE_MINUTE) is bars
    empty = resample(bars_from([]), Granularity.ONE_HOUR)
    assert (len(empty), empty.granularity) == (0, Granularity.ONE_HOUR)


def test_a_finer_target_names_both_granularities() -> None:
    with pytest.raises(DataError, match=r"SOL-USD: cannot resample 1h bars to 15m; .* whole multiple of 1h"):
        resample(bars_from(np.arange(4), granularity=Granularity.ONE_HOUR), "15m")


def test_unsorted_bars_are_refused() -> None:
    with pytest.raises(DataError, match="SOL-USD: cannot resample bars that are not sorted"):
        resample(bars_from([0, 2, 1]), Granularity.FIVE_MINUTE)

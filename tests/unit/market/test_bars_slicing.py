"""Slicing Bars by a run of rows skips the constructor's checks: the result must be what they would give."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpt_trader.market.bars import COLUMNS, Bars
from gpt_trader.market.granularity import Granularity

COUNT = 30
FLAGS = np.zeros(COUNT, bool)
FLAGS[[4, 17]] = True
PRICES = np.arange(COUNT, dtype=np.float64) + 100.0
BARS = Bars("X-USD", Granularity.ONE_HOUR, np.arange(COUNT) * 3600, PRICES, PRICES, PRICES, PRICES, PRICES, FLAGS, 0.5)


def checked(bars: Bars, index: slice) -> Bars:
    return Bars(
        bars.product_id,
        bars.granularity,
        *(getattr(bars, name)[index] for name in COLUMNS),
        synthetic=None if bars.synthetic is None else bars.synthetic[index],
        price_increment=bars.price_increment,
    )


@settings(max_examples=60, deadline=None)
@given(st.integers(-40, 40) | st.none(), st.integers(-40, 40) | st.none(), st.sampled_from([None, 1, 2, -1]))
def test_a_slice_equals_the_checked_construction(start: int | None, stop: int | None, step: int | None) -> None:
    index = slice(start, stop, step)
    got, expected = BARS[index], checked(BARS, index)
    assert (got.product_id, got.granularity, got.price_increment) == ("X-USD", Granularity.ONE_HOUR, 0.5)
    for name in COLUMNS:
        column = getattr(got, name)
        assert np.array_equal(column, getattr(expected, name))
        assert column.flags.c_contiguous and column.flags.writeable
    if expected.synthetic is None:
        assert got.synthetic is None
    else:
        assert got.synthetic is not None and np.array_equal(got.synthetic, expected.synthetic)


def test_single_rows_are_refused() -> None:
    with pytest.raises(TypeError, match=r"sliced by position \(bars\[a:b\]\)"):
        BARS[3]

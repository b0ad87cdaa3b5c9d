"""The bar buffer: its views equal Bars built from the whole list of bars, at any length and window."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpt_trader.market.bars import Bars
from gpt_trader.market.buffer import BarBuffer
from gpt_trader.market.events import BarClosed
from gpt_trader.market.granularity import Granularity

MINUTE = Granularity.ONE_MINUTE
T0 = 1_717_200_000


def bars_of(rows: list[BarClosed]) -> Bars:
    """The reference: Bars built at once from the whole list."""
    return Bars(
        "BTC-USD",
        MINUTE,
        np.array([bar.start for bar in rows], dtype=np.int64),
        np.array([bar.open for bar in rows]),
        np.array([bar.high for bar in rows]),
        np.array([bar.low for bar in rows]),
        np.array([bar.close for bar in rows]),
        np.array([bar.volume for bar in rows]),
        np.array([bar.synthetic for bar in rows], dtype=bool),
    )


def equal(left: Bars, right: Bars) -> bool:
    columns = ("time", "open", "high", "low", "close", "volume")
    same_flags = (left.synthetic is None and right.synthetic is None) or (
        left.synthetic is not None and right.synthetic is not None and np.array_equal(left.synthetic, right.synthetic)
    )
    return (
        (left.product_id, left.granularity) == (right.product_id, right.granularity)
        and all(np.array_equal(getattr(left, c), getattr(right, c)) for c in columns)
        and same_flags
    )


bar_rows = st.lists(
    st.tuples(st.integers(1, 3), st.floats(1.0, 1e6), st.floats(0.0, 1e3), st.booleans()), max_size=80
)


def closed_bars(rows: list[tuple[int, float, float, bool]]) -> list[BarClosed]:
    start = T0
    bars = []
    for step, price, volume, synthetic in rows:
        start += 60 * step
        bars.append(BarClosed("BTC-USD", 60, start, price, price * 1.01, price * 0.99, price, volume,
                              synthetic=synthetic))
    return bars


@settings(max_examples=80, deadline=None)
@given(rows=bar_rows, capacity=st.integers(1, 8), window=st.integers(1, 100), split=st.integers(0, 80))
def test_views_equal_bars_built_from_the_whole_list(
    rows: list[tuple[int, float, float, bool]], capacity: int, window: int, split: int
) -> None:
    """The first `split` bars warm the buffer up from Bars (none: an empty buffer of `capacity`)."""
    bars = closed_bars(rows)
    split = min(split, len(bars))
    buffer = BarBuffer.from_bars(bars_of(bars[:split])) if split else BarBuffer("BTC-USD", "1m", capacity)
    earlier_views = []
    for bar in bars[split:]:
        buffer.append(bar)
        earlier_views.append((len(buffer), buffer.view()))
    assert len(buffer) == len(bars)
    assert equal(buffer.view(), bars_of(bars))
    assert equal(buffer.view(window), bars_of(bars[-window:]))
    for length, view in earlier_views:
        assert equal(view, bars_of(bars[:length])), "a view keeps its bars after later appends and growth"


@settings(max_examples=80, deadline=None)
@given(rows=bar_rows, capacity=st.integers(1, 8), window=st.integers(1, 12))
def test_a_view_up_to_an_earlier_end_is_the_view_taken_then(
    rows: list[tuple[int, float, float, bool]], capacity: int, window: int
) -> None:
    buffer = BarBuffer("BTC-USD", "1m", capacity)
    then = []
    for bar in closed_bars(rows):
        buffer.append(bar)
        then.append(buffer.view(window))
    for end, view in enumerate(then, start=1):
        assert equal(buffer.view(window, end=end), view)


def test_an_old_duplicate_or_foreign_bar_is_refused_with_its_reason() -> None:
    buffer = BarBuffer("BTC-USD", MINUTE)
    buffer.append(BarClosed("BTC-USD", 60, T0, 1.0, 1.0, 1.0, 1.0, 1.0))
    with pytest.raises(ValueError, match="not newer than the last one"):
        buffer.append(BarClosed("BTC-USD", 60, T0, 1.0, 1.0, 1.0, 1.0, 1.0))
    with pytest.raises(ValueError, match="cannot join the BTC-USD 1m buffer"):
        buffer.append(BarClosed("ETH-USD", 60, T0 + 60, 1.0, 1.0, 1.0, 1.0, 1.0))
    with pytest.raises(ValueError, match="cannot join"):
        buffer.append(BarClosed("BTC-USD", 300, T0 + 300, 1.0, 1.0, 1.0, 1.0, 1.0))
    assert len(buffer) == 1 and buffer.last_start == T0


def test_the_newest_start_as_the_buffer_stood_is_the_view_s_last_time() -> None:
    buffer = BarBuffer("BTC-USD", MINUTE)
    assert buffer.start_before() is None and buffer.start_before(3) is None
    for n in range(4):
        buffer.append(BarClosed("BTC-USD", 60, T0 + 60 * n, 1.0, 1.0, 1.0, 1.0, 1.0))
    for end in (None, 0, 1, 2, 4, 9):
        times = buffer.view(1, end=end).time
        assert buffer.start_before(end) == (int(times[-1]) if len(times) else None), end
    assert buffer.start_before(2) == T0 + 60 and buffer.start_before() == buffer.last_start == T0 + 180

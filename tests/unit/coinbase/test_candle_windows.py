"""How the coinbase source splits a range into requests and merges the answers."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpt_trader.coinbase.candles import candle_windows, listed_name, merge_candles
from gpt_trader.coinbase.constants import MAX_CANDLES_PER_REQUEST
from gpt_trader.coinbase.parse import Candle
from gpt_trader.coinbase.rest import granularity_name
from gpt_trader.market.granularity import Granularity
from tests.support.coinbase_server import GRANULARITIES as PUBLIC_GRANULARITIES


@settings(max_examples=80, deadline=None)
@given(
    granularity=st.sampled_from(list(Granularity)),
    first_bucket=st.integers(0, 10**7),
    buckets=st.integers(0, 3000),
)
def test_windows_tile_the_range_oldest_first_within_the_cap(
    granularity: Granularity, first_bucket: int, buckets: int
) -> None:
    seconds = granularity.seconds
    first, stop = first_bucket * seconds, (first_bucket + buckets) * seconds
    windows = candle_windows(first, stop, seconds)
    assert len(windows) == -(-buckets // MAX_CANDLES_PER_REQUEST)
    if windows:
        assert windows[0][0] == first and windows[-1][1] == stop
    assert all(a_end == b_start for (_, a_end), (b_start, _) in itertools.pairwise(windows))
    assert all(0 < end - start <= MAX_CANDLES_PER_REQUEST * seconds for start, end in windows)


def candle(start: int, close: float) -> Candle:
    return Candle(start=start, low=close - 1, high=close + 1, open=close, close=close, volume=2.0)


def test_merge_sorts_dedupes_and_keeps_only_the_range() -> None:
    pages = [
        [candle(300, 3.0), candle(240, 2.0), candle(180, 1.0)],  # newest first, as Coinbase sends
        [candle(480, 6.0), candle(360, 4.0), candle(300, 3.0)],  # overlaps the first page at 300
        [candle(120, 0.0), candle(540, 9.0)],  # outside [180, 540)
    ]
    bars = merge_candles("BTC-USD", Granularity.ONE_MINUTE, pages, 180, 540)
    assert bars.product_id == "BTC-USD" and bars.granularity is Granularity.ONE_MINUTE
    assert bars.time.tolist() == [180, 240, 300, 360, 480], "the missing 420 bucket stays missing"
    assert bars.close.tolist() == [1.0, 2.0, 3.0, 4.0, 6.0]
    assert bars.low.tolist() == [0.0, 1.0, 2.0, 3.0, 5.0] and bars.high.tolist() == [2.0, 3.0, 4.0, 5.0, 7.0]


def test_merge_of_nothing_is_empty_bars() -> None:
    bars = merge_candles("ETH-USD", Granularity.ONE_HOUR, [[], []], 0, 3600)
    assert len(bars) == 0 and bars.time.dtype == np.int64


def test_every_granularity_is_named_and_sized_as_coinbase_documents_it() -> None:
    # The test server's own table of the facts page, written apart from the client's.
    assert {granularity_name(g): g.seconds for g in Granularity} == PUBLIC_GRANULARITIES


def test_coinbase_only_names_pass_through_and_unknown_ones_are_refused() -> None:
    assert granularity_name("FOUR_HOUR") == "FOUR_HOUR"
    with pytest.raises(ValueError, match="UNKNOWN_GRANULARITY"):
        granularity_name("UNKNOWN_GRANULARITY")


def test_only_renamed_products_change_name() -> None:
    assert listed_name("BTC-USD") == "BTC-USD"
    assert listed_name("MATIC-USD") == "POL-USD"

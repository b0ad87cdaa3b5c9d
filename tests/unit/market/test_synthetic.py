"""SyntheticSource: sound bars on each product's tick grid, range-independent, with market-like statistics."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpt_trader.errors import DataError
from gpt_trader.market.bars import Bars
from gpt_trader.market.granularity import Granularity
from gpt_trader.market.sources.synthetic import DEFAULT_PRODUCTS, ORIGIN, SyntheticProduct, SyntheticSource
from gpt_trader.market.validation import validate

DAY = 86_400
JAN_1_2024 = 1_704_067_200
TICKS = {
    "BTC-USD": "0.01",
    "ETH-USD": "0.01",
    "SOL-USD": "0.01",
    "LINK-USD": "0.001",
    "POL-USD": "0.0001",
    "DOGE-USD": "0.00001",
    "LTC-USD": "0.01",
}


def test_the_default_universe_and_its_ticks() -> None:
    source = SyntheticSource()
    assert source.name == "synthetic"
    assert source.products() == list(TICKS)
    assert {product: Decimal(str(spec.tick)) for product, spec in DEFAULT_PRODUCTS.items()} == {
        product: Decimal(tick) for product, tick in TICKS.items()
    }


def on_tick_grid(prices: np.ndarray, tick: str) -> bool:
    """Each price, as the shortest decimal that reads back as it, is a whole number of ticks."""
    step = Decimal(tick)
    return all(Decimal(repr(float(price))) % step == 0 for price in prices)


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    product=st.sampled_from(list(TICKS)),
    granularity=st.sampled_from(list(Granularity)),
    start=st.integers(ORIGIN, ORIGIN + 12 * 365 * DAY),
    count=st.integers(0, 2_000),
)
def test_bars_are_sound_whatever_is_asked(
    seed: int, product: str, granularity: Granularity, start: int, count: int
) -> None:
    end = start + count * granularity.seconds
    bars = SyntheticSource(seed).fetch(product, granularity, start, end)
    assert (bars.product_id, bars.granularity) == (product, granularity)
    assert len(bars) == count  # no gaps: one bar per grid point in [start, end)
    assert ((bars.time >= start) & (bars.time < end)).all()
    assert (bars.time % granularity.seconds == 0).all() and (np.diff(bars.time) == granularity.seconds).all()
    assert validate(bars) == []
    assert (bars.high >= np.maximum(bars.open, bars.close)).all()
    assert (bars.low <= np.minimum(bars.open, bars.close)).all()
    assert (bars.low > 0).all() and (bars.volume >= 0).all()
    assert (bars.open[1:] == bars.close[:-1]).all()  # price runs on, across midnight too
    sample = np.concatenate([getattr(bars, name)[:50] for name in ("open", "high", "low", "close")])
    assert on_tick_grid(sample, TICKS[product])


@settings(max_examples=20, deadline=None)
@given(
    granularity=st.sampled_from([Granularity.ONE_MINUTE, Granularity.FIFTEEN_MINUTE, Granularity.ONE_HOUR]),
    start=st.integers(JAN_1_2024, JAN_1_2024 + 30 * DAY),
    first_part=st.integers(0, 3 * DAY),
    second_part=st.integers(0, 3 * DAY),
)
def test_a_range_is_the_same_however_it_is_split(
    granularity: Granularity, start: int, first_part: int, second_part: int
) -> None:
    source = SyntheticSource(seed=11)
    split, end = start + first_part, start + first_part + second_part
    whole = source.fetch("ETH-USD", granularity, start, end)
    parts = [source.fetch("ETH-USD", granularity, *span) for span in ((start, split), (split, end))]
    for name in ("time", "open", "high", "low", "close", "volume"):
        assert np.array_equal(getattr(whole, name), np.concatenate([getattr(part, name) for part in parts]))


def test_a_fresh_source_gives_the_same_bars_and_another_seed_different_ones() -> None:
    def fetch(seed: int) -> Bars:
        return SyntheticSource(seed).fetch("SOL-USD", Granularity.FIVE_MINUTE, JAN_1_2024, JAN_1_2024 + DAY)

    assert fetch(7).fingerprint() == fetch(7).fingerprint()
    assert fetch(7).fingerprint() != fetch(8).fingerprint()


def test_a_product_does_not_depend_on_the_rest_of_the_universe() -> None:
    alone = SyntheticSource(products={"BTC-USD": DEFAULT_PRODUCTS["BTC-USD"]})
    assert alone.products() == ["BTC-USD"]
    span = (Granularity.ONE_HOUR, JAN_1_2024, JAN_1_2024 + 10 * DAY)
    in_universe = SyntheticSource().fetch("BTC-USD", *span)
    assert alone.fetch("BTC-USD", *span).fingerprint() == in_universe.fingerprint()


def hourly(spec: SyntheticProduct, days: int) -> Bars:
    return SyntheticSource(products={"PENNY-USD": spec}).fetch(
        "PENNY-USD", Granularity.ONE_HOUR, ORIGIN, ORIGIN + days * DAY
    )


def test_custom_products_follow_their_spec() -> None:
    penny = SyntheticProduct(0.05, annual_volatility=0.5, tick=0.0001, market_beta=0.5, daily_volume=1e6)
    bars = hourly(penny, 1)
    assert bars.open[0] == 0.05 and validate(bars) == []
    assert on_tick_grid(bars.close, "0.0001")
    calm = hourly(dataclasses.replace(penny, annual_volatility=0.05), 30)
    wild = hourly(penny, 30)
    assert np.diff(np.log(calm.close)).std() < np.diff(np.log(wild.close)).std() / 3


def test_unknown_products_early_times_and_empty_ranges() -> None:
    source = SyntheticSource()
    with pytest.raises(DataError, match=r"no product 'XRP-USD'; known: BTC-USD, ETH-USD, SOL-USD, .*LTC-USD"):
        source.fetch("XRP-USD", Granularity.ONE_HOUR, JAN_1_2024, JAN_1_2024 + DAY)
    with pytest.raises(DataError, match=r"starts at 2015-01-01T00:00:00Z; ask for BTC-USD bars from then on"):
        source.fetch("BTC-USD", Granularity.ONE_HOUR, ORIGIN - DAY, ORIGIN + DAY)
    empty = source.fetch("BTC-USD", Granularity.ONE_HOUR, JAN_1_2024 + 10, JAN_1_2024 + 3600)
    assert (len(empty), empty.granularity) == (0, Granularity.ONE_HOUR)
    with pytest.raises(DataError, match=r"2100-01-01T00:00:00Z is over 10,000,000 1m bars of BTC-USD; ask"):
        source.fetch("BTC-USD", Granularity.ONE_MINUTE, JAN_1_2024, 4_102_444_800)
    with pytest.raises(ValueError, match="seed must be a non-negative integer"):
        SyntheticSource(seed=-1)


def test_prices_stay_near_realistic_levels_for_a_decade() -> None:
    source = SyntheticSource()
    for product, spec in DEFAULT_PRODUCTS.items():
        daily = source.fetch(product, Granularity.ONE_DAY, ORIGIN, ORIGIN + 10 * 365 * DAY)
        assert daily.open[0] == spec.price
        assert spec.price / 20 < daily.close.min() and daily.close.max() < spec.price * 20, product


@pytest.fixture(scope="module")
def month_of_minutes() -> dict[str, np.ndarray]:
    """Log returns of 30 days of 1-minute closes for BTC-USD and ETH-USD."""
    source = SyntheticSource()
    month = (Granularity.ONE_MINUTE, JAN_1_2024, JAN_1_2024 + 30 * DAY)
    closes = {product: source.fetch(product, *month).close for product in ("BTC-USD", "ETH-USD")}
    return {product: np.diff(np.log(close)) for product, close in closes.items()}


def test_returns_have_fat_tails(month_of_minutes: dict[str, np.ndarray]) -> None:
    for returns in month_of_minutes.values():
        centred = returns - returns.mean()
        assert (centred**4).mean() / returns.var() ** 2 - 3 > 1.0


def test_volatility_clusters(month_of_minutes: dict[str, np.ndarray]) -> None:
    for returns in month_of_minutes.values():
        size = np.abs(returns)
        assert np.corrcoef(size[1:], size[:-1])[0, 1] > 0.05
        assert np.corrcoef(size[60:], size[:-60])[0, 1] > 0.02  # and the clusters last beyond an hour


def test_products_move_together(month_of_minutes: dict[str, np.ndarray]) -> None:
    assert np.corrcoef(month_of_minutes["BTC-USD"], month_of_minutes["ETH-USD"])[0, 1] > 0.3


def test_volume_rises_with_the_size_of_the_move() -> None:
    bars = SyntheticSource().fetch("LINK-USD", Granularity.FIVE_MINUTE, JAN_1_2024, JAN_1_2024 + 20 * DAY)
    move = np.abs(np.log(bars.close / bars.open))
    assert np.corrcoef(move, bars.volume)[0, 1] > 0.3
    assert abs(bars.volume.sum() / 20 / DEFAULT_PRODUCTS["LINK-USD"].daily_volume - 1) < 0.5

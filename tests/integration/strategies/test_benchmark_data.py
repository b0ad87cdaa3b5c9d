"""The built-ins on the benchmark's data (W1's 15-minute bars, W2's 1-minute bars) against the reference."""

from __future__ import annotations

from pathlib import Path

import pytest
from numpy.testing import assert_array_equal

from gpt_trader.market.bars import Bars
from gpt_trader.market.resample import resample
from gpt_trader.market.sources.file import FileSource
from gpt_trader.strategies import IndicatorCache, get_strategy
from gpt_trader.strategies.reference import reference_signals
from gpt_trader.strategies.ticks import price_ticks

PRODUCTS = {"BTC-USD": 0.01, "ETH-USD": 0.01, "SOL-USD": 0.001, "LINK-USD": 0.001, "MATIC-USD": 0.0001}


@pytest.fixture(scope="module")
def candles(shared_dir: Path) -> dict[str, Bars]:
    """Every product's minutes, read as the benchmark reads them: the import fixes each increment."""
    return FileSource(shared_dir / "bench" / "ohlcv_1m.parquet").load_all()


def product_bars(candles: dict[str, Bars], product: str, size: str) -> Bars:
    return resample(candles[product], size)


@pytest.mark.parametrize("product", PRODUCTS)
def test_w1_signals_equal_the_reference_on_every_product(candles: dict[str, Bars], product: str) -> None:
    bars = product_bars(candles, product, "15m")
    assert len(bars) == 2_880 and bars.price_increment == PRODUCTS[product]
    ticks = price_ticks(bars, IndicatorCache())
    assert ticks is not None and ticks.tick == PRODUCTS[product]
    for name in ("momentum", "mean_reversion", "breakout", "ma_crossover", "volatility"):
        strategy = get_strategy(name)
        signals = strategy.signals(bars, strategy.defaults(), IndicatorCache())
        assert_array_equal(signals, reference_signals(name, bars), err_msg=f"{name} on {product}")


@pytest.mark.parametrize(("fast", "slow"), [(2, 10), (10, 30), (49, 200)])
def test_w2_crossovers_equal_the_reference(candles: dict[str, Bars], fast: int, slow: int) -> None:
    bars = product_bars(candles, "MATIC-USD", "1m")
    params = {"fast": fast, "slow": slow}
    signals = get_strategy("ma_crossover").signals(bars, params)
    assert (signals != 0).sum() > 50
    assert_array_equal(signals, reference_signals("ma_crossover", bars, params))

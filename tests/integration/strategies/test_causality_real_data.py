"""Real Coinbase ETH-USD hours: one more bar after the end never changes an earlier signal.

The finding behind it: with the price grid inferred from whichever bars were at hand, one off-grid
bar appended after the end moved volatility to float arithmetic and changed earlier signals (bars
11329, 13926 and 15118), so a live engine would have taken another path than the backtest.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from gpt_trader.market.bars import Bars
from gpt_trader.market.sources.file import FileSource
from gpt_trader.strategies import check_lookahead, check_lookback, get_strategy
from gpt_trader.strategies.ticks import OffGridPrice

BUILTINS = ("momentum", "mean_reversion", "breakout", "ma_crossover", "volatility")
EXACT = ("mean_reversion", "ma_crossover", "volatility")
"""The built-ins that compare prices in ticks of the price increment."""


@pytest.fixture(scope="module")
def eth_hours(shared_dir: Path) -> Bars:
    path = shared_dir / "data" / "real" / "coinbase_1h_BTC-ETH-LTC-USD_2017-07_2019-08.csv.gz"
    return FileSource(path).load_all()["ETH-USD"]


def with_bar(bars: Bars, price: float) -> Bars:
    """`bars` and one more hour after the last, open = high = low = close = `price`."""

    def longer(values: np.ndarray, value: float) -> np.ndarray:
        return np.concatenate([values, [value]])

    return Bars(
        bars.product_id,
        bars.granularity,
        longer(bars.time, bars.time[-1] + bars.granularity.seconds),
        *(longer(getattr(bars, name), price) for name in ("open", "high", "low", "close")),
        longer(bars.volume, 1.0),
    )


def float_prices(bars: Bars) -> Bars:
    """The same values as Bars built without a price increment."""
    return Bars(bars.product_id, bars.granularity, bars.time, bars.open, bars.high, bars.low, bars.close, bars.volume)


def off_grid_price(bars: Bars) -> float:
    return float(bars.close[-1] * (1 + 1e-9) + 1e-7 / 3)


@pytest.mark.parametrize("name", BUILTINS)
def test_an_off_grid_bar_after_real_eth_hours_changes_no_earlier_signal(eth_hours: Bars, name: str) -> None:
    hours = float_prices(eth_hours)
    longer = with_bar(hours, off_grid_price(hours))
    strategy = get_strategy(name)
    before = strategy.signals(hours, strategy.defaults())
    after = strategy.signals(longer, strategy.defaults())
    assert_array_equal(after[:-1], before, err_msg=f"{name}: an appended bar changed earlier signals")
    assert check_lookahead(strategy, longer).passed


def test_the_import_fixes_the_cent_increment_and_an_off_grid_bar_is_named(eth_hours: Bars) -> None:
    assert eth_hours.price_increment == 0.01
    longer = with_bar(eth_hours, off_grid_price(eth_hours)).with_price_increment(eth_hours.price_increment)
    for name in EXACT:
        strategy = get_strategy(name)
        with pytest.raises(OffGridPrice, match=r"ETH-USD: open 226\.29000025962333 of bar 18401 \(2019-08-07T04:00"):
            strategy.signals(longer, strategy.defaults())


@pytest.mark.parametrize("name", BUILTINS)
def test_an_on_grid_bar_after_real_eth_hours_changes_no_earlier_exact_signal(eth_hours: Bars, name: str) -> None:
    strategy = get_strategy(name)
    before = strategy.signals(eth_hours, strategy.defaults())
    for price in (0.01, 226.29, 9_999_999.99):
        longer = with_bar(eth_hours, price).with_price_increment(eth_hours.price_increment)
        assert_array_equal(strategy.signals(longer, strategy.defaults())[:-1], before, err_msg=f"{name} {price}")


@pytest.mark.parametrize("name", BUILTINS)
def test_every_builtin_gives_its_backtest_signal_from_its_lookback_on_every_real_hour(
    eth_hours: Bars, name: str
) -> None:
    """What the engine relies on: the trailing lookback bars (with the increment) give the backtest's
    signal at each of the 18,401 hours; a window ending at the bar holds no later one, so this also
    proves every hour causal."""
    report = check_lookback(get_strategy(name), eth_hours)
    assert report.passed, report.summary()
    assert report.bar_count == 18_401

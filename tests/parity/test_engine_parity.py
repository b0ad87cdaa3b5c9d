"""Every built-in, both fill rules, with and without stops: the engine replaying bars equals the backtest.

Synthetic hours and real Coinbase hours (gap-filler rows as missing prices), every bar checked; the
count of backtests compared and the disagreements (none) are asserted.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gpt_trader.backtest.api import DataSpec
from gpt_trader.backtest.settings import SimulationSettings
from gpt_trader.market.bars import Bars
from tests.parity.replay import Case, compare

# Parameters that make each built-in trade often on hourly bars, so every rule path is exercised.
STRATEGIES = {
    "ma_crossover": {"fast": 5, "slow": 20},
    "momentum": {"lookback": 6, "threshold": 0.01},
    "mean_reversion": {"window": 20, "num_std": 1.5},
    "breakout": {"window": 12},
    "volatility": {"atr_window": 10, "quantile_window": 50, "quantile": 0.3, "sma_window": 8},
}
STOPS = {
    "no stops": {},
    "stop-loss": {"stop_loss": 0.02},
    "take-profit": {"take_profit": 0.03},
    "trailing stop": {"trailing_stop": 0.025},
    "all three, shorts": {"stop_loss": 0.03, "take_profit": 0.05, "trailing_stop": 0.02, "allow_short": True},
}
FILLS = ("next_open", "close")
CASES = [
    Case(name, params, SimulationSettings(fill=fill, fee_rate=0.001, half_spread_bps=2, **stops))  # type: ignore[arg-type]
    for name, params in STRATEGIES.items()
    for fill in FILLS
    for stops in STOPS.values()
]


def assert_parity(history: dict[str, Bars], *, use_tape: bool) -> None:
    outcome = compare(history, CASES, use_tape=use_tape)
    assert outcome.compared == len(CASES) * len(history) == 50 * len(history)
    assert outcome.disagreements == []
    quiet = [account for account, trades in outcome.trades.items() if trades < 5]
    assert not quiet, f"cases that hardly traded prove little: {quiet}"


@pytest.fixture(scope="module")
def synthetic_hours() -> dict[str, Bars]:
    spec = DataSpec(source="synthetic", granularity="1h", start="2024-01-01", end="2024-04-01")
    return spec.load(["BTC-USD", "SOL-USD"])


@pytest.fixture(scope="module")
def coinbase_hours(shared_dir: Path) -> dict[str, Bars]:
    """Real BTC-USD and ETH-USD hours (2017-2019); gap fillers carry no price, so prices compare as floats."""
    frame = pd.read_csv(shared_dir / "data" / "real" / "coinbase_1h_BTC-ETH-LTC-USD_2017-07_2019-08.csv.gz")
    history = {}
    for product_id in ("BTC-USD", "ETH-USD"):
        rows = frame[frame["product_id"] == product_id].sort_values("unix_s").reset_index(drop=True)
        rows.loc[rows["zero_volume_fill"] == 1, ["open", "high", "low", "close"]] = np.nan
        rows = rows.rename(columns={"unix_s": "time", "volume_base": "volume"})
        bars = Bars.from_frame(rows[["time", "open", "high", "low", "close", "volume"]], product_id, "1h")
        history[product_id] = bars.with_price_increment(None)
    return history


def test_synthetic_hours_bar_by_bar(synthetic_hours: dict[str, Bars]) -> None:
    """Each strategy evaluated on its trailing window at every closed bar, as in live trading (one month:
    the tape test below covers the whole quarter, and `test_signal_tape` holds the two evaluations equal)."""
    month = {
        product_id: bars.slice(bars.time[0], bars.time[0] + 31 * 86_400) for product_id, bars in synthetic_hours.items()
    }
    assert_parity(month, use_tape=False)


def test_synthetic_hours_from_the_signal_tape(synthetic_hours: dict[str, Bars]) -> None:
    assert_parity(synthetic_hours, use_tape=True)


def test_real_coinbase_hours(coinbase_hours: dict[str, Bars]) -> None:
    assert all(np.isnan(bars.close).sum() > 0 for bars in coinbase_hours.values())
    assert_parity(coinbase_hours, use_tape=True)

"""The notebook way in: candles as a pandas DataFrame, granularity read from the index, failures kept apart."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import gpt_trader as gt
from gpt_trader.errors import UserError
from gpt_trader.market.granularity import Granularity
from gpt_trader.market.sources.synthetic import SyntheticSource

START = 1_704_067_200  # 2024-01-01
RAISES_ON_LONG_WINDOWS = """\
import numpy as np
from typing import ClassVar
from gpt_trader.strategies import Param, Strategy


class Fragile(Strategy):
    name = "fragile"
    params: ClassVar[dict[str, Param]] = {"window": Param(5, 1, 100)}

    def lookback(self, params):
        return int(params["window"])

    def signals(self, bars, params, cache=None):
        if params["window"] > 10:
            raise ZeroDivisionError("window too long")
        return np.zeros(len(bars), dtype=np.int8)
"""


def candles(product: str, days: int = 10) -> pd.DataFrame:
    """Candles as notebooks hold them: capitalised columns, a DatetimeIndex, no product or size attached."""
    bars = SyntheticSource(seed=5).fetch(product, Granularity.ONE_HOUR, START, START + days * 86_400)
    index = pd.to_datetime(bars.time, unit="s", utc=True)
    return pd.DataFrame(
        {"Open": bars.open, "High": bars.high, "Low": bars.low, "Close": bars.close, "Volume": bars.volume},
        index=index,
    )


def test_a_dataframe_backtests_like_the_bars_it_holds() -> None:
    frame = candles("ETH-USD")
    from_frame = gt.run_backtest("ma_crossover", "ETH-USD", bars=frame)
    bars = SyntheticSource(seed=5).fetch("ETH-USD", Granularity.ONE_HOUR, START, START + 10 * 86_400)
    from_bars = gt.run_backtest("ma_crossover", "ETH-USD", bars=bars)
    assert from_frame.simulation.bars.granularity is Granularity.ONE_HOUR
    assert from_frame.metrics == from_bars.metrics
    np.testing.assert_array_equal(from_frame.equity.to_numpy(), from_bars.equity.to_numpy())


def test_a_sweep_takes_dataframes_by_product_and_the_starting_cash() -> None:
    frames = {"BTC-USD": candles("BTC-USD"), "ETH-USD": candles("ETH-USD").drop(columns="Volume")}
    result = gt.sweep(["momentum"], list(frames), bars=frames, settings=gt.SimulationSettings(initial_cash=500.0))
    assert sorted(result.table["product_id"]) == ["BTC-USD", "ETH-USD"]
    assert (result.table["final_equity"] / (1 + result.table["total_return"])).to_numpy() == pytest.approx(500.0)


def test_a_dataframe_without_prices_or_times_is_a_clear_error() -> None:
    frame = candles("BTC-USD")
    with pytest.raises(UserError, match=r"lacks column\(s\) close"):
        gt.run_backtest("momentum", bars=frame.drop(columns="Close"))
    with pytest.raises(UserError, match="give it a DatetimeIndex"):
        gt.run_backtest("momentum", bars=frame.reset_index(drop=True).set_index(frame["Open"]))
    with pytest.raises(UserError, match="steps by 4200 s most often"):
        odd_steps = frame.index[0] + pd.to_timedelta(np.arange(len(frame)) * 4200, "s")
        gt.run_backtest("momentum", bars=frame.set_index(odd_steps))


def test_a_strategy_failing_in_worker_processes_is_reported_and_the_others_kept(tmp_path: Path) -> None:
    path = tmp_path / "fragile.py"
    path.write_text(RAISES_ON_LONG_WINDOWS)
    frames = {"BTC-USD": candles("BTC-USD")}
    result = gt.sweep(
        [str(path), "momentum"], ["BTC-USD"], bars=frames, params={"fragile": {"window": "5:20:5"}}, workers=2
    )
    assert set(result.table["strategy"]) == {"momentum"}
    failure = f"strategy fragile ({path.resolve()}:15) failed: ZeroDivisionError: window too long"
    assert result.failures == {"fragile": failure}
    assert list(result.strategies) == ["momentum"] and result.trials == 1

"""One backtest result's curves, recomputed: the store keeps metrics, not every bar's equity.

A recorded run names its candles (source, granularity, range) and its simulation settings in its config,
and the fingerprint of the data it ran on. `recompute` loads those candles again through the backtest
API, re-runs the one strategy × product × parameter set, and says whether the candles are still the ones
the run saw (a Coinbase range can be revised, a file edited): the curves are then exactly the run's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gpt_trader.errors import UserError

_TRADE_FIELDS = ("side", "units", "entry_price", "exit_price", "fees", "pnl", "return", "exit_reason")


@dataclass(frozen=True)
class Curves:
    """Per bar: time, close, equity and drawdown; the trades; and whether the data is the run's own."""

    times: list[str]
    close: list[float]
    equity: list[float]
    drawdown: list[float]
    trades: list[dict[str, Any]]
    buy_and_hold: list[float]
    """Equity of holding the product from the first bar's close, from the same starting cash."""
    metrics: dict[str, Any]
    same_data: bool
    """True when the reloaded candles have the fingerprint the run recorded."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "times": self.times,
            "close": self.close,
            "equity": self.equity,
            "drawdown": self.drawdown,
            "trades": self.trades,
            "buy_and_hold": self.buy_and_hold,
            "metrics": self.metrics,
            "same_data": self.same_data,
        }


def recompute(run: dict[str, Any], result: dict[str, Any]) -> Curves:
    """Re-run `result` (a row of `StoreViews.result`) of `run` (`StoreViews.run`) on the run's candles.

    UserError when the run's config does not say which candles it read (runs recorded by other tools),
    or when those candles cannot be loaded any more.
    """
    import numpy as np

    from gpt_trader.backtest.api import DataSpec, fingerprint, run_backtest
    from gpt_trader.backtest.metrics import METRIC_NAMES
    from gpt_trader.backtest.settings import SimulationSettings

    config = run["config"]
    start, end = run["data_start"], run["data_end"]
    if "source" not in config or start is None or end is None:
        raise UserError(
            f"run {run['id']} does not record its candle source and range, so its curves cannot be recomputed; "
            "runs recorded by `gpt-trader backtest` do"
        )
    data = DataSpec(
        source=config["source"],
        granularity=config.get("granularity", result["granularity"]),
        days=None,
        start=_seconds(start),
        end=_seconds(end),
        gaps=config.get("gaps", "keep"),
    )
    try:
        settings = SimulationSettings(**config.get("settings", {}))
    except (TypeError, ValueError) as error:
        raise UserError(f"run {run['id']} records simulation settings this version cannot read: {error}") from None
    bars = data.load([result["product_id"]])
    product_bars = bars[result["product_id"]]
    outcome = run_backtest(
        result["strategy"], result["product_id"], params=result["params"], bars=product_bars, settings=settings
    )
    equity = outcome.equity
    peak = np.maximum.accumulate(equity.to_numpy())
    trades = outcome.trades
    first_close = float(product_bars.close[0])
    return Curves(
        times=[stamp.isoformat() for stamp in equity.index],
        close=product_bars.close.tolist(),
        equity=equity.to_numpy().tolist(),
        drawdown=(equity.to_numpy() / peak - 1.0).tolist(),
        trades=[
            {
                "entry_time": trade["entry_time"].isoformat(),
                "exit_time": trade["exit_time"].isoformat(),
                **{name: _plain(trade[name]) for name in _TRADE_FIELDS},
            }
            for trade in trades.to_dict("records")
        ],
        buy_and_hold=(settings.initial_cash * product_bars.close / first_close).tolist(),
        metrics={name: _plain(getattr(outcome.metrics, name)) for name in METRIC_NAMES},
        same_data=fingerprint(bars) == run["data_fingerprint"],
    )


def _seconds(moment: datetime) -> int:
    return int(moment.timestamp())


def _plain(value: Any) -> Any:
    """A NumPy scalar as a plain number; NaN and infinity (no JSON form) as None."""
    plain = value.item() if hasattr(value, "item") else value
    return None if isinstance(plain, float) and not math.isfinite(plain) else plain

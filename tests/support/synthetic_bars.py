"""Random-walk candles on a tick grid, built to be full of exact moving-average ties."""

from __future__ import annotations

import numpy as np

from gpt_trader.market.bars import Bars
from gpt_trader.market.granularity import Granularity


def tick_walk_bars(
    count: int,
    *,
    tick: float = 0.01,
    start_ticks: int = 10_000,
    seed: int = 0,
    steps: tuple[int, ...] = (-2, -1, 0, 0, 0, 1, 2),
    product_id: str = "TEST-USD",
) -> Bars:
    """Closes move by a few ticks per bar (often not at all), so window sums collide all the time.

    Prices are formed as integer ticks times the tick and rounded to its decimals, the way an exchange
    prints them; highs and lows reach a few ticks beyond open and close. The tick is the bars' price
    increment, as product metadata would give it.
    """
    rng = np.random.default_rng(seed)
    close_ticks = start_ticks + np.cumsum(rng.choice(np.asarray(steps), size=count))
    open_ticks = np.concatenate(([start_ticks], close_ticks[:-1]))
    high_ticks = np.maximum(open_ticks, close_ticks) + rng.integers(0, 4, count)
    low_ticks = np.minimum(open_ticks, close_ticks) - rng.integers(0, 4, count)
    decimals = max(0, round(-np.log10(tick)))

    def prices(ticks: np.ndarray) -> np.ndarray:
        return np.round(ticks * tick, decimals)

    return Bars(
        product_id,
        Granularity.ONE_MINUTE,
        1_704_067_200 + 60 * np.arange(count),
        prices(open_ticks),
        prices(high_ticks),
        prices(low_ticks),
        prices(close_ticks),
        rng.uniform(1, 10, count),
        price_increment=tick,
    )


def off_grid_bars(count: int, *, seed: int = 0) -> Bars:
    """A geometric random walk with full float precision: on no decimal grid, so without a price increment."""
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.002, count)))
    opens = np.concatenate(([100.0], close[:-1]))
    spread = np.abs(rng.normal(0, 0.001, count)) * close
    return Bars(
        "FLOAT-USD",
        Granularity.ONE_MINUTE,
        1_704_067_200 + 60 * np.arange(count),
        opens,
        np.maximum(opens, close) + spread,
        np.minimum(opens, close) - spread,
        close,
        np.ones(count),
    )

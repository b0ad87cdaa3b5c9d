"""An IndicatorCache belongs to the bars it was filled from: reused on a growing buffer, it never goes stale."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from gpt_trader.market.bars import Bars
from gpt_trader.strategies import IndicatorCache, Param, Params, Strategy, checked_signals, get_strategy
from gpt_trader.strategies.indicators import sma
from gpt_trader.strategies.registry import builtin_strategies
from tests.support.synthetic_bars import tick_walk_bars

BUFFER = tick_walk_bars(400, seed=3, tick=0.001, start_ticks=20_000, steps=(-40, -3, 0, 0, 3, 40))


@pytest.mark.parametrize("strategy", builtin_strategies(), ids=lambda s: s.name)
def test_one_cache_on_each_view_of_a_growing_buffer_gives_fresh_signals(strategy: Strategy) -> None:
    cache = IndicatorCache()
    params = strategy.defaults()
    for end in range(150, len(BUFFER) + 1, 50):
        view = BUFFER[:end]
        assert_array_equal(strategy.signals(view, params, cache), strategy.signals(view, params), err_msg=str(end))


class UnboundSma(Strategy):
    """A user's strategy that reads the cache without binding it to its bars."""

    name = "unbound_sma"
    params: ClassVar[dict[str, Param]] = {"window": Param(5, 1, 50)}

    def lookback(self, params: Params) -> int:
        return int(params["window"])

    def signals(self, bars: Bars, params: Params, cache: IndicatorCache | None = None) -> np.ndarray:
        window = int(params["window"])
        average = (cache or IndicatorCache()).get(("sma", window), lambda: sma(bars.close, window))
        return np.sign(bars.close - np.nan_to_num(average, nan=bars.close)).astype(np.int8)


def test_checked_signals_bind_the_cache_for_strategies_that_do_not() -> None:
    cache = IndicatorCache()
    strategy = UnboundSma()
    for end in (100, 101, 250):
        view = BUFFER[:end]
        assert_array_equal(checked_signals(strategy, view, {"window": 5}, cache), strategy.signals(view, {"window": 5}))
    assert cache.bars is not None and len(cache.bars) == 250


def test_a_cache_keeps_its_arrays_for_the_same_bars_and_drops_them_for_others() -> None:
    strategy = get_strategy("mean_reversion")
    cache = IndicatorCache()
    strategy.signals(BUFFER, {"window": 10, "num_std": 1.0}, cache)
    misses = cache.misses
    strategy.signals(BUFFER, {"window": 10, "num_std": 2.0}, cache)
    assert (cache.misses, cache.bars) == (misses, BUFFER)
    # Equal values in another Bars object are other bars: the cache starts afresh rather than guess.
    copy = BUFFER[:]
    strategy.signals(copy, {"window": 10, "num_std": 2.0}, cache)
    assert cache.misses == 2 * misses and cache.bars is copy

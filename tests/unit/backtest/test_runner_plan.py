"""The runner's plan: a big grid split into chunks still covers every combination exactly once."""

from __future__ import annotations

from collections import Counter

import pytest

from gpt_trader.backtest.runner import plan
from gpt_trader.backtest.space import grid
from gpt_trader.strategies.registry import get_strategy

PRODUCTS = ("BTC-USD", "ETH-USD")


@pytest.mark.parametrize("workers", [1, 2, 3, 8])
def test_an_800_combination_grid_on_two_products_is_planned_exactly_once(workers: int) -> None:
    crossover = grid(get_strategy("ma_crossover"), {"fast": "2:41", "slow": "50:240:10"})
    breakout = grid(get_strategy("breakout"), {"window": "5:50:5"})
    assert (len(crossover), len(breakout)) == (800, 10)
    jobs = plan([crossover, breakout], list(PRODUCTS), workers)

    planned = Counter(
        (job.product_id, job.strategy.name, tuple(sorted(params.items())))
        for job in jobs
        for params in job.combinations
    )
    expected = Counter(
        (product, space.strategy.name, tuple(sorted(params.items())))
        for product in PRODUCTS
        for space in (crossover, breakout)
        for params in space.combinations
    )
    assert planned == expected
    assert set(planned.values()) == {1}
    assert [job.index for job in jobs] == list(range(len(jobs)))
    # The grid really is cut into several chunks per product, so a chunk boundary is crossed.
    crossover_jobs = [job for job in jobs if job.strategy.name == "ma_crossover"]
    assert len(crossover_jobs) >= 2 * len(PRODUCTS)

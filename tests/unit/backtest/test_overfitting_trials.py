"""A sweep's trial count is every row its winner was chosen from: strategy × product × combination."""

from __future__ import annotations

import dataclasses

from gpt_trader.backtest.api import sweep
from tests.support.synthetic_bars import off_grid_bars


def test_trials_count_every_ranked_row_across_products() -> None:
    products = ["BTC-USD", "ETH-USD", "SOL-USD"]
    bars = {p: dataclasses.replace(off_grid_bars(400, seed=seed), product_id=p) for seed, p in enumerate(products)}
    result = sweep(["ma_crossover"], list(bars), params={"ma_crossover": {"fast": "5:15:5", "slow": "20,30"}},
                   bars=bars, workers=1)
    assert len(result.table) == 18
    assert len(result.top(100)) == 18
    assert result.trials == 18

"""Sweeps end to end in Python: the same numbers serially, in worker processes and one by one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from gpt_trader.backtest.api import fingerprint, sweep
from gpt_trader.backtest.metrics import METRIC_NAMES
from gpt_trader.backtest.record import record_sweep
from gpt_trader.backtest.runner import ProcessExecutor, RunContext, SerialExecutor, plan, run_jobs
from gpt_trader.backtest.settings import SimulationSettings
from gpt_trader.backtest.space import grid
from gpt_trader.config import load_settings
from gpt_trader.errors import UserError
from gpt_trader.market.bars import Bars
from gpt_trader.market.granularity import Granularity
from gpt_trader.market.sources.synthetic import SyntheticSource
from gpt_trader.store import open_store
from gpt_trader.strategies.builtin import BUILTIN_NAMES
from gpt_trader.strategies.registry import get_strategy, load_strategy_file

EXAMPLE = Path(__file__).resolve().parents[3] / "docs" / "examples" / "rsi_strategy.py"
START = 1_704_067_200  # 2024-01-01


@pytest.fixture(scope="module")
def bars() -> dict[str, Bars]:
    source = SyntheticSource(seed=11)
    return {
        product: source.fetch(product, Granularity.FIFTEEN_MINUTE, START, START + 20 * 86400)
        for product in ("BTC-USD", "ETH-USD")
    }


def test_worker_processes_give_exactly_the_serial_numbers(bars: dict[str, Bars]) -> None:
    spaces = [grid(get_strategy("ma_crossover"), {"fast": "3:12:3", "slow": "20:40:10"}),
              grid(get_strategy("breakout"), {"window": "10:40:10"})]
    context = RunContext(bars, SimulationSettings())
    jobs = plan(spaces, list(bars), workers=2)
    serial = np.vstack([result.metrics for result in run_jobs(context, jobs, SerialExecutor())])
    seen: list[tuple[int, int]] = []
    parallel = np.vstack(
        [result.metrics for result in run_jobs(context, jobs, ProcessExecutor(2), lambda d, t: seen.append((d, t)))]
    )
    np.testing.assert_array_equal(serial, parallel)
    assert seen[-1] == (len(serial), len(serial))


def test_every_sweep_row_equals_its_own_full_backtest(bars: dict[str, Bars]) -> None:
    result = sweep(BUILTIN_NAMES, list(bars), bars=bars, workers=1)
    assert len(result.table) == 10
    assert result.trials == 10
    for row in range(len(result.table)):
        detail = result.detail(row).metrics.as_dict()
        for name in METRIC_NAMES:
            np.testing.assert_allclose(result.table.loc[row, name], detail[name], rtol=1e-12, err_msg=name)


def test_a_strategy_from_a_users_file_sweeps_in_worker_processes(bars: dict[str, Bars]) -> None:
    (strategy,) = load_strategy_file(EXAMPLE)
    result = sweep([strategy], ["BTC-USD"], bars=bars, workers=2, params={strategy.name: {}})
    serial = sweep([strategy], ["BTC-USD"], bars=bars, workers=1)
    np.testing.assert_array_equal(result.table["final_equity"], serial.table["final_equity"])


def test_a_sweep_is_recorded_with_every_row(bars: dict[str, Bars]) -> None:
    result = sweep(["ma_crossover"], list(bars), params={"ma_crossover": {"fast": "5,10"}}, bars=bars)
    start = datetime.fromtimestamp(START, UTC)
    recorded = record_sweep(
        result, name="test", config={"source": "synthetic"}, data_fingerprint=fingerprint(bars),
        data_range=(start, start + timedelta(days=20)),
    )
    run_id = recorded.run_id
    assert run_id is not None and result.run_id is None
    with open_store(load_settings().database) as store:
        stored = store.backtest_frame(run_id)
        run = store.get_run(run_id)
    assert run is not None and run.trials == 4 and run.kind.value == "sweep"
    assert len(stored) == 4
    np.testing.assert_allclose(stored["sharpe"], result.table["sharpe"])


def test_missing_bars_and_unknown_strategies_are_clear_errors(bars: dict[str, Bars]) -> None:
    with pytest.raises(UserError, match="no bars given for SOL-USD"):
        sweep(["momentum"], ["SOL-USD"], bars=bars)
    with pytest.raises(UserError, match="parameters given for 'breakout'"):
        sweep(["momentum"], ["BTC-USD"], bars=bars, params={"breakout": {"window": 5}})


def test_the_public_api_is_importable_from_the_package(bars: dict[str, Bars]) -> None:
    import gpt_trader as gt
    import gpt_trader.backtest.kernel as kernel

    assert callable(kernel.simulate)
    result = gt.run_backtest("momentum", "BTC-USD", bars=bars["BTC-USD"])
    assert isinstance(result, gt.BacktestResult)
    assert result.product_id == "BTC-USD" and len(result.equity) == len(bars["BTC-USD"])
    assert gt.sweep(["momentum"], ["BTC-USD"], bars=bars).table.shape[0] == 1


def test_the_store_has_a_column_for_every_metric_in_the_same_order() -> None:
    from gpt_trader.store import METRIC_COLUMNS

    assert METRIC_COLUMNS == METRIC_NAMES


def test_kernels_compile_before_the_sweep_with_progress_and_their_own_time(bars: dict[str, Bars]) -> None:
    seen: list[tuple[int, int]] = []
    result = sweep(
        ["momentum", "breakout", "ma_crossover"], ["BTC-USD"], bars=bars, workers=1,
        compile_progress=lambda done, total: seen.append((done, total)),
    )
    assert seen == [(1, 3), (2, 3), (3, 3)]
    assert result.compile_seconds > 0 and result.seconds > 0 and result.failures == {}


def test_skipped_combinations_are_counted_with_the_strategys_reason(bars: dict[str, Bars]) -> None:
    specs = {"ma_crossover": {"fast": "10,20", "slow": "10,20"}}
    result = sweep(["ma_crossover"], ["BTC-USD"], bars=bars, params=specs)
    (space,) = result.spaces
    assert (len(space), space.refused, space.grid_size) == (1, 3, 4)
    assert space.refusal == "ma_crossover needs fast < slow, got fast=10 and slow=10"

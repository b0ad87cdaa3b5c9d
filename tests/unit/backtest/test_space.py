"""Parameter spaces: value specs, grids, refused combinations, random samples."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gpt_trader.backtest.space import expand, grid, parse_assignment, sample
from gpt_trader.errors import UserError
from gpt_trader.strategies.registry import get_strategy

CROSSOVER = get_strategy("ma_crossover")
MOMENTUM = get_strategy("momentum")


def test_a_range_includes_its_stop_when_the_step_lands_on_it() -> None:
    assert expand(CROSSOVER, "fast", "2:10:2") == [2, 4, 6, 8, 10]
    assert expand(CROSSOVER, "fast", "2:9:2") == [2, 4, 6, 8]
    assert expand(CROSSOVER, "fast", "3:5") == [3, 4, 5]


def test_float_ranges_do_not_drift() -> None:
    assert expand(MOMENTUM, "threshold", "0.01:0.05:0.01") == [0.01, 0.02, 0.03, 0.04, 0.05]


def test_lists_single_values_and_python_values() -> None:
    assert expand(CROSSOVER, "fast", "5,10,20") == [5, 10, 20]
    assert expand(CROSSOVER, "fast", "7") == [7]
    assert expand(CROSSOVER, "fast", [3, 3, 4]) == [3, 4]
    assert expand(MOMENTUM, "threshold", 0.02) == [0.02]


@pytest.mark.parametrize(
    ("name", "spec", "message"),
    [
        ("fastest", "5", "has no parameter 'fastest'"),
        ("fast", "10:5", "stop 5 is below start 10"),
        ("fast", "1:5:0", "needs a positive step"),
        ("fast", "a:b", "'a' is not a number"),
        ("fast", "2.5", "whole number"),
        ("fast", "0:5", "outside its range"),
    ],
)
def test_bad_specs_are_refused_with_the_reason(name: str, spec: str, message: str) -> None:
    with pytest.raises(UserError, match=message):
        expand(CROSSOVER, name, spec)


def test_assignments_need_a_name_and_a_value() -> None:
    assert parse_assignment(" fast = 5:10 ") == ("fast", "5:10")
    for bad in ("fast", "=5", "fast="):
        with pytest.raises(UserError, match="expected name=value"):
            parse_assignment(bad)


def test_a_grid_drops_and_counts_the_combinations_a_strategy_refuses() -> None:
    space = grid(CROSSOVER, {"fast": "2:50:1", "slow": "10:200:5"})
    assert len(space) == 1722  # W2 of the benchmark: only fast < slow
    assert space.refused == 49 * 39 - 1722
    assert all(point["fast"] < point["slow"] for point in space)


def test_a_grid_with_no_valid_combination_is_an_error() -> None:
    with pytest.raises(UserError, match="no valid parameter combination"):
        grid(CROSSOVER, {"fast": "50", "slow": "20:40:10"})


def test_unnamed_parameters_keep_their_defaults() -> None:
    (point,) = grid(CROSSOVER).combinations
    assert point == {"fast": 10, "slow": 30}


@given(count=st.integers(1, 40), seed=st.integers(0, 1000))
def test_a_sample_draws_distinct_valid_points_reproducibly(count: int, seed: int) -> None:
    specs = {"fast": "2:20:2", "slow": "10:40:5"}
    first = sample(CROSSOVER, specs, count, seed)
    again = sample(CROSSOVER, specs, count, seed)
    assert first.combinations == again.combinations
    assert len(first) == min(count, len(grid(CROSSOVER, specs)))
    assert len({tuple(sorted(p.items())) for p in first}) == len(first)

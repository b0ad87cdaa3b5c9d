"""The heat map and monthly returns against plain references, on random sweeps and curves."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from statistics import fmean

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpt_trader.errors import UserError
from gpt_trader.monitor.report import Series, monthly_returns
from gpt_trader.monitor.research import heatmap, parameter_names

values = st.one_of(st.none(), st.floats(-5, 5, allow_nan=False))
rows = st.lists(
    st.tuples(st.sampled_from([5, 10, 20]), st.sampled_from([1, 2]), st.sampled_from(["a", "b"]), values),
    min_size=1,
    max_size=40,
)


@settings(max_examples=60, deadline=None)
@given(rows)
def test_each_cell_is_the_mean_over_the_other_parameters(drawn: list[tuple[int, int, str, float | None]]) -> None:
    results = [{"params": {"fast": f, "slow": s, "mode": m}, "sharpe": v} for f, s, m, v in drawn]
    heat = heatmap(results, "fast", "slow")
    for y_index, slow in enumerate(heat["ys"]):
        for x_index, fast in enumerate(heat["xs"]):
            expected = [v for f, s, _, v in drawn if f == fast and s == slow and v is not None]
            cell = heat["z"][y_index][x_index]
            assert cell == (pytest.approx(fmean(expected)) if expected else None)
    assert heat["xs"] == sorted({f for f, *_ in drawn}) and heat["ys"] == sorted({s for _, s, *_ in drawn})
    assert heat["parameters"] == [name for name in ("fast", "slow", "mode") if name in parameter_names(results)]


def test_heatmap_names_what_is_wrong() -> None:
    results = [{"params": {"fast": f, "slow": s}, "sharpe": 1.0} for f in (1, 2) for s in (3, 4)]
    with pytest.raises(UserError, match="metric 'nope' does not exist"):
        heatmap(results, metric="nope")
    with pytest.raises(UserError, match="'other' is not a parameter"):
        heatmap(results, "other", "slow")
    with pytest.raises(UserError, match="this run varies none"):
        heatmap([{"params": {}, "sharpe": 1.0}])


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(0.5, 2.0), min_size=2, max_size=120), st.integers(1, 5))
def test_monthly_returns_compound_to_the_whole_return(steps: list[float], days_per_step: int) -> None:
    start = datetime(2025, 1, 20, tzinfo=UTC)
    equity, level = [], 10_000.0
    for step in steps:
        level *= step
        equity.append(level)
    times = [(start + timedelta(days=days_per_step * i)).isoformat() for i in range(len(equity))]
    table = monthly_returns(Series("equity", times, equity))
    months = [value for row in table.to_numpy().tolist() for value in row if not math.isnan(value)]
    assert math.prod(1 + r for r in months) == pytest.approx(equity[-1] / equity[0], rel=1e-9)
    last = start + timedelta(days=days_per_step * (len(equity) - 1))
    assert len(months) == (last.year - start.year) * 12 + last.month - start.month + 1

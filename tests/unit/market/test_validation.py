"""validation: every kind of bad candle is found, named by its first row, and reported in one error."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpt_trader.errors import DataError
from gpt_trader.market.bars import Bars
from gpt_trader.market.granularity import Granularity
from gpt_trader.market.validation import Problem, ProblemKind, check, iso_time, validate

JAN_1 = 1_704_067_200  # 2024-01-01T00:00:00Z
VALUES = ("open", "high", "low", "close", "volume")


def sound_bars(count: int = 10, step: int = 60) -> dict[str, np.ndarray]:
    """Columns of `count` sound bars: open 100, close 101, high 102, low 99, volume 1."""
    return {
        "time": JAN_1 + step * np.arange(count, dtype=np.int64),
        "open": np.full(count, 100.0),
        "high": np.full(count, 102.0),
        "low": np.full(count, 99.0),
        "close": np.full(count, 101.0),
        "volume": np.ones(count),
    }


def to_bars(columns: dict[str, np.ndarray], granularity: Granularity = Granularity.ONE_MINUTE) -> Bars:
    return Bars("BTC-USD", granularity, **columns)


def test_sound_and_empty_bars_have_no_problems() -> None:
    assert validate(to_bars(sound_bars())) == []
    assert validate(to_bars(sound_bars(0))) == []
    check(to_bars(sound_bars()))


def test_the_issue_example_names_both_rows_in_one_error() -> None:
    columns = sound_bars()
    columns["close"][3] = np.nan
    columns["high"][7] = 99.5
    with pytest.raises(DataError) as raised:
        check(to_bars(columns))
    assert str(raised.value) == (
        "BTC-USD: 2 problems: row 3 (2024-01-01T00:03:00Z) close is NaN; "
        "row 7 (2024-01-01T00:07:00Z) high 99.5 is below max(open, close) 101.0 — fix or drop these rows"
    )


@pytest.mark.parametrize(
    ("column", "row", "value", "kind", "detail"),
    [
        ("open", 2, math.inf, ProblemKind.NOT_FINITE, "open is inf"),
        ("volume", 4, -math.inf, ProblemKind.NOT_FINITE, "volume is -inf"),
        ("low", 5, -1.0, ProblemKind.NON_POSITIVE_PRICE, "low -1.0 is not positive"),
        ("high", 6, 100.5, ProblemKind.HIGH_BELOW_BODY, "high 100.5 is below max(open, close) 101.0"),
        ("low", 1, 100.5, ProblemKind.LOW_ABOVE_BODY, "low 100.5 is above min(open, close) 100.0"),
        ("volume", 8, -2.5, ProblemKind.NEGATIVE_VOLUME, "volume -2.5 is negative"),
        ("time", 4, JAN_1 + 4 * 60 + 30, ProblemKind.OFF_GRID, "is not on the 1m grid"),
    ],
)
def test_each_value_problem_is_named_with_its_row_time_and_values(
    column: str, row: int, value: float, kind: ProblemKind, detail: str
) -> None:
    columns = sound_bars()
    columns[column][row] = value
    problems = validate(to_bars(columns))
    assert [problem.kind for problem in problems] == [kind]
    problem = problems[0]
    assert (problem.product_id, problem.row, problem.time) == ("BTC-USD", row, int(columns["time"][row]))
    assert detail in problem.detail
    assert str(problem).startswith(f"row {row} ({iso_time(columns['time'][row])}) ")


def test_only_the_first_row_is_shown_with_a_count_of_the_rest() -> None:
    columns = sound_bars()
    columns["volume"][[2, 5, 9]] = -1.0
    (problem,) = validate(to_bars(columns))
    assert (problem.row, problem.rows) == (2, 3)
    assert str(problem).endswith("volume -1.0 is negative (and 2 more rows)")


def test_times_that_go_backwards_are_unsorted() -> None:
    columns = sound_bars()
    columns["time"][[3, 4]] = columns["time"][[4, 3]]
    (problem,) = validate(to_bars(columns))
    assert (problem.kind, problem.row) == (ProblemKind.UNSORTED, 4)
    assert "2024-01-01T00:04:00Z" in problem.detail


def test_duplicates_are_found_even_when_not_neighbours() -> None:
    columns = sound_bars()
    columns["time"][7] = columns["time"][2]
    kinds = {problem.kind: problem for problem in validate(to_bars(columns))}
    assert set(kinds) == {ProblemKind.UNSORTED, ProblemKind.DUPLICATE_TIME}
    duplicate = kinds[ProblemKind.DUPLICATE_TIME]
    assert (duplicate.row, duplicate.detail) == (7, "repeats the time of row 2")


def test_grid_follows_the_granularity() -> None:
    columns = sound_bars(step=3600)
    columns["time"] += 900
    (problem,) = validate(to_bars(columns, Granularity.ONE_HOUR))
    assert (problem.kind, problem.row, problem.rows) == (ProblemKind.OFF_GRID, 0, 10)
    assert validate(to_bars(columns, Granularity.FIFTEEN_MINUTE)) == []


def test_a_non_finite_row_is_reported_once() -> None:
    columns = sound_bars()
    columns["open"][2] = math.inf
    columns["close"][2] = math.nan
    (problem,) = validate(to_bars(columns))
    assert (problem.kind, problem.row) == (ProblemKind.NOT_FINITE, 2)
    assert problem.detail == "open is inf, close is NaN"


def test_check_lists_every_kind_in_one_error() -> None:
    columns = sound_bars(20)
    columns["close"][1] = np.nan
    columns["open"][3] = 0.0
    columns["volume"][5] = -1.0
    columns["time"][12] = columns["time"][11]
    with pytest.raises(DataError) as raised:
        check(to_bars(columns))
    message = str(raised.value)
    assert message.startswith("BTC-USD: 5 problems: row 1 (2024-01-01T00:01:00Z) close is NaN; row 3 ")
    assert "row 3 (2024-01-01T00:03:00Z) open 0.0 is not positive" in message
    assert "row 5 (2024-01-01T00:05:00Z) volume -1.0 is negative" in message
    assert "row 3 (2024-01-01T00:03:00Z) low 99.0 is above min(open, close) 0.0" in message
    assert "row 12 (2024-01-01T00:11:00Z) repeats the time of row 11" in message


def test_a_high_below_its_low_is_named_as_such() -> None:
    columns = sound_bars(5)
    columns["high"][2], columns["low"][2] = 98.0, 99.0
    (problem,) = validate(to_bars(columns))
    assert problem.kind is ProblemKind.HIGH_BELOW_LOW
    assert str(problem) == "row 2 (2024-01-01T00:02:00Z) high 98.0 is below low 99.0"


# A per-row reference implementation, written the obvious way, that the vectorised one must agree with.
def reference_problems(bars: Bars) -> dict[ProblemKind, list[int]]:
    found: dict[ProblemKind, list[int]] = {}
    seen: set[int] = set()
    for row in range(len(bars)):
        o, h, low, c, v = (float(getattr(bars, name)[row]) for name in VALUES)
        t = int(bars.time[row])
        finite = all(math.isfinite(x) for x in (o, h, low, c, v))
        checks = {
            ProblemKind.NOT_FINITE: not finite,
            ProblemKind.NON_POSITIVE_PRICE: finite and any(x <= 0 for x in (o, h, low, c)),
            ProblemKind.HIGH_BELOW_LOW: finite and h < low,
            ProblemKind.HIGH_BELOW_BODY: finite and h >= low and h < max(o, c),
            ProblemKind.LOW_ABOVE_BODY: finite and h >= low and low > min(o, c),
            ProblemKind.NEGATIVE_VOLUME: finite and v < 0,
            ProblemKind.UNSORTED: row > 0 and t < int(bars.time[row - 1]),
            ProblemKind.DUPLICATE_TIME: t in seen,
            ProblemKind.OFF_GRID: t % bars.granularity.seconds != 0,
        }
        seen.add(t)
        for kind, bad in checks.items():
            if bad:
                found.setdefault(kind, []).append(row)
    return found


cells = st.sampled_from([100.0, 101.0, 99.0, 102.0, 0.0, -1.0, math.nan, math.inf])
volumes = st.sampled_from([1.0, 0.0, -1.0, math.nan])


@settings(max_examples=150, deadline=None)
@given(
    rows=st.lists(
        st.tuples(st.integers(0, 12), cells, cells, cells, cells, volumes),
        max_size=12,
    )
)
def test_vectorised_checks_agree_with_a_row_by_row_reference(
    rows: list[tuple[int, float, float, float, float, float]],
) -> None:
    columns = list(zip(*rows, strict=True)) if rows else [[] for _ in range(6)]
    time, o, h, low, c, v = (np.array(column) for column in columns)
    bars = Bars("ETH-USD", Granularity.FIVE_MINUTE, time * 150, o, h, low, c, v)
    expected = reference_problems(bars)
    problems = validate(bars)
    assert {problem.kind: (problem.row, problem.rows) for problem in problems} == {
        kind: (found[0], len(found)) for kind, found in expected.items()
    }
    assert all(isinstance(problem, Problem) and problem.product_id == "ETH-USD" for problem in problems)

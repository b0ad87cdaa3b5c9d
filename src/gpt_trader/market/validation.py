"""Checks that candles make sense before anything computes on them.

`validate` lists every kind of problem found (one `Problem` per kind, naming the first offending row);
`check` raises one `DataError` naming them all, so a user fixes a file in one pass rather than one
error at a time. Every check is a vectorised NumPy pass: a million bars take milliseconds.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from gpt_trader.errors import DataError
from gpt_trader.market.bars import MAX_TICKS, PRICE_COLUMNS, Bars, iso_time, on_grid

__all__ = ["Problem", "ProblemKind", "check", "iso_time", "validate"]

VALUE_COLUMNS = (*PRICE_COLUMNS, "volume")


class ProblemKind(enum.Enum):
    """What is wrong with a row; the value is a stable name for logs and JSON."""

    NOT_FINITE = "not-finite"
    NON_POSITIVE_PRICE = "non-positive-price"
    HIGH_BELOW_LOW = "high-below-low"
    HIGH_BELOW_BODY = "high-below-body"
    LOW_ABOVE_BODY = "low-above-body"
    NEGATIVE_VOLUME = "negative-volume"
    UNSORTED = "unsorted"
    DUPLICATE_TIME = "duplicate-time"
    OFF_GRID = "off-grid"
    PRICE_OFF_INCREMENT = "price-off-increment"


Finding = tuple[ProblemKind, np.ndarray, str] | None
"""A problem kind, the offending rows and a description of the first; None when no row offends."""


@dataclass(frozen=True)
class Problem:
    """One kind of problem in one product's bars, shown by its first offending row."""

    product_id: str
    kind: ProblemKind
    row: int
    """Position of the first offending row (0-based, in the order the bars are stored)."""
    time: int
    """Open time of that row (Unix seconds)."""
    detail: str
    """What is wrong with that row, with its values, e.g. `close is NaN`."""
    rows: int = 1
    """How many rows have this problem."""

    def __str__(self) -> str:
        more = f" (and {self.rows - 1} more row{'s' if self.rows > 2 else ''})" if self.rows > 1 else ""
        return f"row {self.row} ({iso_time(self.time)}) {self.detail}{more}"


def validate(bars: Bars) -> list[Problem]:
    """Every kind of problem in `bars`, in a fixed order; an empty list means the bars are sound.

    A row with a NaN or infinite value is reported for that alone, not again by the value checks.
    """
    finite = np.ones(len(bars), dtype=bool)
    for name in VALUE_COLUMNS:
        finite &= np.isfinite(getattr(bars, name))
    found = [_not_finite(bars, finite), *_value_problems(bars, finite), *_time_problems(bars)]
    problems = []
    for entry in found:
        if entry is None:
            continue
        kind, offending, detail = entry
        row = int(offending[0])
        problems.append(Problem(bars.product_id, kind, row, int(bars.time[row]), detail, len(offending)))
    return problems


def check(bars: Bars) -> None:
    """Raise one `DataError` naming every kind of problem in `bars` (and its first row); else return."""
    problems = validate(bars)
    if not problems:
        return
    count = f"{len(problems)} problem{'s' if len(problems) > 1 else ''}"
    listed = "; ".join(str(problem) for problem in problems)
    raise DataError(f"{bars.product_id}: {count}: {listed} — fix or drop these rows")


def _flag(kind: ProblemKind, mask: np.ndarray, describe: Callable[[int], str]) -> Finding:
    offending = np.flatnonzero(mask)
    if len(offending) == 0:
        return None
    return kind, offending, describe(int(offending[0]))


def _not_finite(bars: Bars, finite: np.ndarray) -> Finding:
    def describe(row: int) -> str:
        values = {name: float(getattr(bars, name)[row]) for name in VALUE_COLUMNS}
        return ", ".join(
            f"{name} is {'NaN' if np.isnan(value) else _num(value)}"
            for name, value in values.items()
            if not np.isfinite(value)
        )

    return _flag(ProblemKind.NOT_FINITE, ~finite, describe)


def _value_problems(bars: Bars, finite: np.ndarray) -> list[Finding]:
    non_positive_rows = np.zeros(len(bars), dtype=bool)
    for name in PRICE_COLUMNS:
        non_positive_rows |= getattr(bars, name) <= 0
    inverted = finite & (bars.high < bars.low)
    # A row whose high is below its low is reported for that alone, not again against its body.
    sound = finite & ~inverted
    body_top = np.maximum(bars.open, bars.close)
    body_bottom = np.minimum(bars.open, bars.close)

    def non_positive(row: int) -> str:
        return ", ".join(
            f"{name} {_num(getattr(bars, name)[row])} is not positive"
            for name in PRICE_COLUMNS
            if getattr(bars, name)[row] <= 0
        )

    return [
        _flag(ProblemKind.NON_POSITIVE_PRICE, finite & non_positive_rows, non_positive),
        _flag(
            ProblemKind.HIGH_BELOW_LOW,
            inverted,
            lambda i: f"high {_num(bars.high[i])} is below low {_num(bars.low[i])}",
        ),
        _flag(
            ProblemKind.HIGH_BELOW_BODY,
            sound & (bars.high < body_top),
            lambda i: f"high {_num(bars.high[i])} is below max(open, close) {_num(body_top[i])}",
        ),
        _flag(
            ProblemKind.LOW_ABOVE_BODY,
            sound & (bars.low > body_bottom),
            lambda i: f"low {_num(bars.low[i])} is above min(open, close) {_num(body_bottom[i])}",
        ),
        _flag(
            ProblemKind.NEGATIVE_VOLUME,
            finite & (bars.volume < 0),
            lambda i: f"volume {_num(bars.volume[i])} is negative",
        ),
        _off_increment(bars, finite),
    ]


def _off_increment(bars: Bars, finite: np.ndarray) -> Finding:
    increment = bars.price_increment
    if increment is None:
        return None
    off = {name: ~on_grid(getattr(bars, name), increment) for name in PRICE_COLUMNS}

    def describe(row: int) -> str:
        names = [name for name in PRICE_COLUMNS if off[name][row]]
        prices = ", ".join(f"{name} {_num(getattr(bars, name)[row])}" for name in names)
        return f"{prices} not a whole number of the price increment {increment!r} (at most {MAX_TICKS:,} of them)"

    return _flag(ProblemKind.PRICE_OFF_INCREMENT, finite & np.logical_or.reduce(list(off.values())), describe)


def _time_problems(bars: Bars) -> list[Finding]:
    time = bars.time
    step = np.diff(time)
    grid = bars.granularity.seconds
    problems = [
        _flag(
            ProblemKind.UNSORTED,
            np.r_[False, step < 0],
            lambda i: f"is earlier than the row before it ({iso_time(time[i - 1])})",
        ),
    ]
    if (step > 0).all():
        problems.append(None)
    else:
        # Duplicates need not be neighbours in unsorted data: a stable sort brings them together and
        # keeps file order within equal times, so the later row of each pair is the one flagged.
        order = np.argsort(time, kind="stable")
        sorted_time = time[order]
        repeated = np.zeros(len(time), dtype=bool)
        repeated[order[1:][sorted_time[1:] == sorted_time[:-1]]] = True
        problems.append(
            _flag(
                ProblemKind.DUPLICATE_TIME,
                repeated,
                lambda i: f"repeats the time of row {int(np.argmax(time == time[i]))}",
            )
        )
    problems.append(
        _flag(
            ProblemKind.OFF_GRID,
            time % grid != 0,
            lambda i: f"is not on the {bars.granularity.short} grid (times must be multiples of {grid} s)",
        )
    )
    return problems


def _num(value: float | np.floating) -> str:
    return repr(float(value))


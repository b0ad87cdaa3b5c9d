"""Missing bars: find them, report them, and apply the user's policy for them.

Exchanges emit no candle for an interval without trades, so gaps are normal in real data. They are
reported and kept by default; filling them is an explicit choice (`fill-flat`), and the invented bars
carry the `Bars.synthetic` flag so no metric mistakes them for market activity.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np

from gpt_trader.errors import ConfigError, DataError
from gpt_trader.market.bars import Bars
from gpt_trader.market.granularity import Granularity
from gpt_trader.market.validation import iso_time

__all__ = ["Gap", "GapPolicy", "GapReport", "apply_gap_policy", "find_gaps"]


@dataclass(frozen=True)
class Gap:
    """A run of missing bars: open times `start`, `start + step`, ... up to `end` (exclusive)."""

    start: int
    """Open time of the first missing bar (Unix seconds)."""
    end: int
    """Open time of the first bar present again after the gap (Unix seconds)."""
    missing_bars: int

    def __str__(self) -> str:
        plural = "s" if self.missing_bars > 1 else ""
        return f"{iso_time(self.start)} to {iso_time(self.end)} ({self.missing_bars} bar{plural} missing)"


@dataclass(frozen=True)
class GapReport:
    """The gaps in one product's bars, oldest first."""

    product_id: str
    granularity: Granularity
    gaps: tuple[Gap, ...]

    @property
    def count(self) -> int:
        return len(self.gaps)

    @property
    def missing_bars(self) -> int:
        return sum(gap.missing_bars for gap in self.gaps)

    @property
    def longest(self) -> Gap | None:
        """The gap with the most missing bars (the earliest of equals); None without gaps."""
        return max(self.gaps, key=lambda gap: gap.missing_bars, default=None)

    def summary(self) -> str:
        """One line for a console: how many gaps, how many bars they miss, and the longest."""
        head = f"{self.product_id} {self.granularity.short}"
        if not self.gaps:
            return f"{head}: no gaps"
        plural = "s" if self.count > 1 else ""
        return (
            f"{head}: {self.count} gap{plural}, {self.missing_bars} bars missing; "
            f"longest {self.longest}"
        )


class GapPolicy(enum.Enum):
    """What to do with missing bars (the `--gaps` flag)."""

    KEEP = "keep"
    """Leave gaps as gaps (the default): the data says what the exchange said."""
    FILL_FLAT = "fill-flat"
    """Insert flat, zero-volume bars at the previous close, flagged synthetic."""
    FAIL = "fail"
    """Refuse data with gaps."""

    @classmethod
    def parse(cls, text: str | GapPolicy) -> GapPolicy:
        """Read `keep`, `fill-flat` (or `fill_flat`), `fail`, any case; a ConfigError names the choices."""
        if isinstance(text, GapPolicy):
            return text
        cleaned = text.strip().lower().replace("_", "-")
        for policy in cls:
            if policy.value == cleaned:
                return policy
        choices = ", ".join(policy.value for policy in cls)
        raise ConfigError(f"unknown gap policy {text!r}; choose one of {choices}")


def find_gaps(bars: Bars) -> GapReport:
    """Every run of missing bars between the first and the last bar.

    Expects bars that pass `validation.check` (sorted, unique, on the grid).
    """
    step = bars.granularity.seconds
    jumps = np.diff(bars.time)
    after = np.flatnonzero(jumps > step)
    gaps = tuple(
        Gap(int(bars.time[i]) + step, int(bars.time[i + 1]), int(jumps[i]) // step - 1) for i in after
    )
    return GapReport(bars.product_id, bars.granularity, gaps)


def apply_gap_policy(bars: Bars, policy: GapPolicy | str = GapPolicy.KEEP) -> Bars:
    """Apply `policy` to the gaps in `bars` (which must pass `validation.check`)."""
    policy = GapPolicy.parse(policy)
    if policy is GapPolicy.KEEP:
        return bars
    report = find_gaps(bars)
    if not report.gaps:
        return bars
    if policy is GapPolicy.FAIL:
        raise DataError(
            f"{bars.product_id}: {report.count} gap(s) in {bars.granularity.short} bars, the first from "
            f"{report.gaps[0]}; use `--gaps keep` to keep them as gaps or `--gaps fill-flat` to fill them "
            "with flat zero-volume bars"
        )
    return _fill_flat(bars)


def _fill_flat(bars: Bars) -> Bars:
    step = bars.granularity.seconds
    if (np.diff(bars.time) <= 0).any() or (bars.time % step).any():
        raise DataError(
            f"{bars.product_id}: cannot fill gaps in bars whose times are unsorted, repeated or off the "
            f"{bars.granularity.short} grid; validation.check names the rows to fix"
        )
    slots = (bars.time - bars.time[0]) // step
    present = np.zeros(int(slots[-1]) + 1, dtype=bool)
    present[slots] = True
    # Each slot takes the row of the latest present bar at or before it: itself when present, the
    # bar before the gap otherwise, whose close the flat bar repeats.
    source_row = np.cumsum(present) - 1
    close = bars.close[source_row]

    def column(values: np.ndarray, filler: np.ndarray | float) -> np.ndarray:
        return np.where(present, values[source_row], filler)

    inherited = np.zeros(len(present), dtype=bool) if bars.synthetic is None else bars.synthetic[source_row]
    return Bars(
        bars.product_id,
        bars.granularity,
        bars.time[0] + step * np.arange(len(present), dtype=np.int64),
        column(bars.open, close),
        column(bars.high, close),
        column(bars.low, close),
        close,
        column(bars.volume, 0.0),
        np.where(present, inherited, True),
        bars.price_increment,
    )

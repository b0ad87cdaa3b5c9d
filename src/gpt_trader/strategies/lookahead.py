"""Checks that a strategy is causal and that its `lookback` is long enough.

* `check_lookahead`: the signals computed on the history truncated after bar i must equal the
  full-history signals at every bar up to i. A strategy that peeks at a later bar (`close[i + 1]`,
  a centred window, a `shift(-1)`) changes its signals when the future is hidden, and the report names
  the first bar where that happened.
* `check_lookback`: the signal at bar i computed from only the trailing `lookback(params)` bars must
  equal the full-history one, as the event engine and paper trading evaluate it.

Each truncation runs with a fresh IndicatorCache, so cached indicators cannot carry the future over.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np

from gpt_trader.errors import UserError
from gpt_trader.market.bars import Bars
from gpt_trader.strategies.base import IndicatorCache, ParamValue, Strategy, checked_signals


@dataclass(frozen=True)
class LookaheadReport:
    """What a check compared and the first bar whose signal differed, if any."""

    check: Literal["lookahead", "lookback"]
    strategy: str
    params: dict[str, ParamValue]
    bar_count: int
    truncations: tuple[int, ...]
    """Index of the last bar kept by each truncation that was evaluated."""
    first_mismatch: int | None = None
    """Earliest bar whose signal differed from the full-history signal."""
    truncated_at: int | None = None
    """Last bar kept by the truncation that showed the difference."""
    full_signal: int = 0
    truncated_signal: int = 0
    mismatch_time: int | None = None
    """Open time (Unix seconds) of the first differing bar."""

    @property
    def passed(self) -> bool:
        return self.first_mismatch is None

    def summary(self) -> str:
        """One sentence for the console."""
        settings = ", ".join(f"{name}={value}" for name, value in self.params.items())
        subject = f"{self.strategy}({settings})"
        if self.passed:
            evaluated = f"{len(self.truncations)} truncations of {self.bar_count} bars"
            return f"{subject}: {self.check} check passed ({evaluated})"
        when = f" ({np.datetime64(self.mismatch_time, 's')}Z)" if self.mismatch_time is not None else ""
        seen = (
            f"with bars after {self.truncated_at} hidden"
            if self.check == "lookahead"
            else f"from only the trailing bars up to {self.truncated_at}"
        )
        cause = (
            "the signal at a bar reads later bars"
            if self.check == "lookahead"
            else "lookback() is shorter than the history the signal depends on"
        )
        return (
            f"{subject}: {self.check} check FAILED at bar {self.first_mismatch}{when}: signal "
            f"{self.full_signal} with the full history, {self.truncated_signal} {seen}; {cause}"
        )


def check_lookahead(
    strategy: Strategy, bars: Bars, params: Mapping[str, Any] | None = None, checkpoints: int = 20
) -> LookaheadReport:
    """Compare full-history signals with those of `checkpoints` truncated histories (spread over the
    bars, plus the last few, where peeking one bar ahead shows most plainly)."""
    resolved = strategy.resolve(params)
    full = _full_signals(strategy, bars, resolved)
    count = len(bars)
    spread = np.linspace(0, count - 2, max(checkpoints, 1)).round().astype(int).tolist()
    ends = sorted({*spread, count - 4, count - 3, count - 2} & set(range(count - 1)))
    mismatch: tuple[int, int, int, int] | None = None
    for end in ends:
        part = checked_signals(strategy, bars[: end + 1], resolved, IndicatorCache())
        differing = np.flatnonzero(part != full[: end + 1])
        if differing.size and (mismatch is None or differing[0] < mismatch[0]):
            bar = int(differing[0])
            mismatch = (bar, end, int(full[bar]), int(part[bar]))
    return _report("lookahead", strategy, bars, resolved, tuple(ends), mismatch)


def check_lookback(
    strategy: Strategy, bars: Bars, params: Mapping[str, Any] | None = None, checkpoints: int = 20
) -> LookaheadReport:
    """Compare full-history signals with the last signal of the trailing `lookback` bars, at
    `checkpoints` bars spread over the history (plus the last one)."""
    resolved = strategy.resolve(params)
    full = _full_signals(strategy, bars, resolved)
    window = strategy.lookback(resolved)
    if window < 1:
        raise UserError(f"strategy {strategy.name}: lookback() must be at least 1 bar, got {window}")
    count = len(bars)
    first = min(window - 1, count - 1)
    spread = np.linspace(first, count - 1, max(checkpoints, 1)).round().astype(int).tolist()
    ends = sorted({*spread, count - 1})
    mismatch: tuple[int, int, int, int] | None = None
    for end in ends:
        part = checked_signals(strategy, bars[max(end - window + 1, 0) : end + 1], resolved, IndicatorCache())
        if part[-1] != full[end]:
            mismatch = (end, end, int(full[end]), int(part[-1]))
            break
    return _report("lookback", strategy, bars, resolved, tuple(ends), mismatch)


def _full_signals(strategy: Strategy, bars: Bars, params: Mapping[str, ParamValue]) -> np.ndarray:
    if len(bars) < 2:
        raise UserError(f"checking strategy {strategy.name} needs at least 2 bars, got {len(bars)}")
    return checked_signals(strategy, bars, params, IndicatorCache())


def _report(
    check: Literal["lookahead", "lookback"],
    strategy: Strategy,
    bars: Bars,
    params: dict[str, ParamValue],
    truncations: tuple[int, ...],
    mismatch: tuple[int, int, int, int] | None,
) -> LookaheadReport:
    report = LookaheadReport(check, strategy.name, params, len(bars), truncations)
    if mismatch is None:
        return report
    bar, end, full_signal, truncated_signal = mismatch
    return replace(
        report,
        first_mismatch=bar,
        truncated_at=end,
        full_signal=full_signal,
        truncated_signal=truncated_signal,
        mismatch_time=int(bars.time[bar]),
    )

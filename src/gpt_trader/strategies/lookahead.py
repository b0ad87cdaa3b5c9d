"""Checks that a strategy is causal and that its `lookback` is long enough, on every bar.

* `check_lookahead`: at every bar i, the signal computed with the bars after i hidden must equal the
  full-history signal at i. A strategy that peeks at a later bar (`close[i + 1]`, a centred window, a
  `shift(-1)`) changes its signal when the future is hidden, and the report names the first such bar.
* `check_lookback`: at every bar i, the signal computed from only the trailing `lookback(params)` bars
  (all bars so far, while there are fewer) must equal the full-history one: what the event engine and
  paper trading act on when they evaluate a growing buffer each closed bar.

Neither samples: a strategy that disagrees at one bar in twenty thousand fails. Evaluating every
prefix would cost O(n²), so `check_lookahead` first evaluates the trailing `lookback` bars, which
already proves the bar causal when it agrees (that window holds no later bar), and widens the window
toward the whole prefix only at the bars where it does not. Each evaluation runs with a fresh
IndicatorCache, so cached indicators cannot carry the future over, and `check_lookback` evaluates
through `trailing_signal`, the very call the engine makes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np

from gpt_trader.errors import UserError
from gpt_trader.market.bars import Bars
from gpt_trader.strategies.base import (
    ParamValue,
    Strategy,
    checked_signals,
    declared_lookback,
    trailing_signal,
)

WIDENING = 4
"""How much `check_lookahead` widens a window whose last signal disagrees, up to the whole prefix."""


@dataclass(frozen=True)
class LookaheadReport:
    """What a check compared and the first bar whose signal differed, if any."""

    check: Literal["lookahead", "lookback"]
    strategy: str
    params: dict[str, ParamValue]
    bar_count: int
    """Bars in the history; each is compared, in order, until one differs."""
    first_mismatch: int | None = None
    """Earliest bar whose signal differed from the full-history signal."""
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
            return f"{subject}: {self.check} check passed (every one of {self.bar_count} bars)"
        when = f" ({np.datetime64(self.mismatch_time, 's')}Z)" if self.mismatch_time is not None else ""
        seen = (
            "with the bars after it hidden"
            if self.check == "lookahead"
            else "from only the trailing lookback() bars up to it"
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


def check_lookahead(strategy: Strategy, bars: Bars, params: Mapping[str, Any] | None = None) -> LookaheadReport:
    """Compare the full-history signal at every bar with the one computed from the bars up to it."""
    resolved = strategy.resolve(params)
    full = _full_signals(strategy, bars, resolved)
    window = declared_lookback(strategy, resolved)
    for end in range(len(bars)):
        span = window
        while True:
            start = max(end - span + 1, 0)
            last = int(checked_signals(strategy, bars[start : end + 1], resolved)[-1])
            if last == full[end]:
                break
            if start == 0:
                return _report("lookahead", strategy, bars, resolved, (end, int(full[end]), last))
            span *= WIDENING
    return _report("lookahead", strategy, bars, resolved, None)


def check_lookback(strategy: Strategy, bars: Bars, params: Mapping[str, Any] | None = None) -> LookaheadReport:
    """Compare the full-history signal at every bar with the last signal of the trailing `lookback` bars."""
    resolved = strategy.resolve(params)
    full = _full_signals(strategy, bars, resolved)
    window = declared_lookback(strategy, resolved)
    for end in range(len(bars)):
        last = trailing_signal(strategy, bars[max(end - window + 1, 0) : end + 1], resolved)
        if last != full[end]:
            return _report("lookback", strategy, bars, resolved, (end, int(full[end]), last))
    return _report("lookback", strategy, bars, resolved, None)


def _full_signals(strategy: Strategy, bars: Bars, params: Mapping[str, ParamValue]) -> np.ndarray:
    if len(bars) < 2:
        raise UserError(f"checking strategy {strategy.name} needs at least 2 bars, got {len(bars)}")
    return checked_signals(strategy, bars, params)


def _report(
    check: Literal["lookahead", "lookback"],
    strategy: Strategy,
    bars: Bars,
    params: dict[str, ParamValue],
    mismatch: tuple[int, int, int] | None,
) -> LookaheadReport:
    report = LookaheadReport(check, strategy.name, params, len(bars))
    if mismatch is None:
        return report
    bar, full_signal, truncated_signal = mismatch
    return replace(
        report,
        first_mismatch=bar,
        full_signal=full_signal,
        truncated_signal=truncated_signal,
        mismatch_time=int(bars.time[bar]),
    )

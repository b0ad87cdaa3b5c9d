"""Degrading under overload: the replay's clock slows while the WebSocket clients cannot take what it offers.

The stated rule: every market step, `lag` is the longest any message has waited in the send queue of a
connection that is still reading (`Connection.lag`; a client that stopped reading, or one held by a stall
fault, does not count: it is dropped as a slow consumer instead). While the lag is above `high`, the
pace — the share of `--speed` the market clock runs at — is cut by `cut` each step, down to `floor`; once
it is below `low` the pace grows back by `recover` each step, up to full speed. Nothing is skipped:
every client still gets every trade and book change, in order, with heartbeats on time; the market just
runs slower, and the sandbox says so (a warning in its log, `GET /sandbox/feed`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

REPORT_EVERY = 10.0
"""Seconds between two log lines about a slowed replay."""


class Pacer:
    """The replay's pace (0 < pace <= 1) from the lag seen each step; see the module doc."""

    def __init__(
        self,
        *,
        high: float = 0.25,
        low: float = 0.05,
        cut: float = 0.7,
        recover: float = 1.05,
        floor: float = 0.001,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0 < low < high:
            raise ValueError(f"the pacer needs 0 < low < high, not low={low}, high={high}")
        self.high, self.low, self.cut, self.recover, self.floor = high, low, cut, recover, floor
        self.clock = clock
        self.pace = 1.0
        self.lowest = 1.0
        """The lowest pace since the last report."""
        self._reported_at = -REPORT_EVERY
        self._reported_pace = 1.0

    def update(self, lag: float, speed: float) -> float:
        """The pace for the next step, after a step whose worst lag was `lag` seconds."""
        if lag > self.high:
            self.pace = max(self.floor, self.pace * self.cut)
        elif lag < self.low:
            self.pace = min(1.0, self.pace * self.recover)
        self.lowest = min(self.lowest, self.pace)
        self._report(speed)
        return self.pace

    def _report(self, speed: float) -> None:
        now = self.clock()
        if self.pace == self._reported_pace or now - self._reported_at < REPORT_EVERY:
            return
        if self.pace < 1:
            log.warning(
                "the WebSocket clients cannot take the replay at %gx: its clock is slowed to %.0f %% "
                "(%.0fx; lowest %.0f %% in the last %g s)",
                speed, self.pace * 100, self.pace * speed, self.lowest * 100, REPORT_EVERY,
            )
        else:
            log.warning("the replay is back at full speed (%gx)", speed)
        self._reported_at, self._reported_pace, self.lowest = now, self.pace, self.pace

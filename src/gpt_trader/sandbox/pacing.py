"""Degrading under overload: the replay's clock slows while the WebSocket clients cannot take what it offers.

The stated rule: every market step, `lag` is the longest any message has waited in the send queue of a
connection that is still reading (`Connection.lag`; a client whose write has been blocked for a second,
one ten seconds behind, or one held by a stall fault does not count: it is dropped as a slow consumer
at its queue bound instead). While the lag is above `high`, the
pace — the share of `--speed` the market clock runs at — is cut by `cut` each step, down to `floor`; once
it is below `low` the pace grows back by `recover` each step, up to full speed. Nothing is skipped:
every client still gets every trade and book change, in order, with heartbeats on time; the market just
runs slower, and the sandbox says so (a warning in its log, `GET /sandbox/feed`). The replay has its own
brake too: a step may use half the step interval (`MarketReplay.step`), so a market asked to run faster
than the server can replay it slows the same way.
"""

from __future__ import annotations


class Pacer:
    """The replay's pace (0 < pace <= 1) from the lag seen each step; see the module doc."""

    def __init__(
        self,
        *,
        high: float = 0.1,
        low: float = 0.03,
        cut: float = 0.5,
        recover: float = 1.02,
        floor: float = 0.001,
    ) -> None:
        if not 0 < low < high:
            raise ValueError(f"the pacer needs 0 < low < high, not low={low}, high={high}")
        self.high, self.low, self.cut, self.recover, self.floor = high, low, cut, recover, floor
        self.pace = 1.0

    def update(self, lag: float) -> float:
        """The pace for the next step, after a step whose worst lag was `lag` seconds."""
        if lag > self.high:
            self.pace = max(self.floor, self.pace * self.cut)
        elif lag < self.low:
            self.pace = min(1.0, self.pace * self.recover)
        return self.pace

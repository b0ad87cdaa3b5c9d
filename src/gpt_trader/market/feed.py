"""Feed health: what a live market feed reports about itself, and the bookkeeping that detects loss.

A feed (the Coinbase WebSocket client, or any other) emits `FeedHealth` events besides market data;
the engine records them in the store, so a run shows when its data was whole. The trackers here are
venue-neutral and pure, so they are tested on their own.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass, field
from enum import StrEnum


class HealthKind(StrEnum):
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    GAP = "gap"
    """Messages were lost (a sequence number or heartbeat counter jumped); the feed resyncs."""
    STALE = "stale"
    """Nothing arrived within the feed's deadline; the feed reconnects."""
    RESYNCED = "resynced"
    """Every order book has a fresh snapshot again after a gap, stall, disconnect or crossed book."""
    ERROR = "error"
    """The venue reported an error, or the feed found bad data (a crossed book); the feed carries on."""


@dataclass(frozen=True, slots=True)
class FeedHealth:
    kind: HealthKind
    detail: str = ""
    connection: int = 0
    """Which connection of the feed it concerns, counting from 1."""
    time: float = field(default_factory=time.time)
    """Wall-clock Unix seconds."""


class SequenceTracker:
    """Checks the sequence numbers of one connection, which count from `first` in steps of one.

    `check(n)` returns how many numbers were skipped before `n` (0 when `n` is the next one), or -1
    when `n` is not new (a duplicate, or a late message after a gap): such a message must be dropped.
    After a gap, counting goes on from `n`.
    """

    __slots__ = ("expected",)

    def __init__(self, first: int = 0) -> None:
        self.expected = first

    def check(self, number: int) -> int:
        skipped = number - self.expected
        if skipped < 0:
            return -1
        self.expected = number + 1
        return skipped


class CounterTracker:
    """A counter that should grow by one per observation (a heartbeat counter). Its first value is free."""

    __slots__ = ("last",)

    def __init__(self) -> None:
        self.last: int | None = None

    def check(self, value: int) -> int:
        """How many values were skipped before `value`; 0 for the first, the next, or a counter that restarted."""
        last, self.last = self.last, value
        if last is None or value <= last:
            return 0
        return value - last - 1


class RecentKeys:
    """Remembers the last `capacity` keys seen, to drop an event delivered twice (say, a trade that a
    reconnect's snapshot repeats). Constant work per key."""

    __slots__ = ("_keys", "_order")

    def __init__(self, capacity: int = 10_000) -> None:
        self._keys: set[Hashable] = set()
        self._order: deque[Hashable] = deque(maxlen=capacity)

    def add(self, key: Hashable) -> bool:
        """Remember `key`; True if it is new."""
        if key in self._keys:
            return False
        if len(self._order) == self._order.maxlen:
            self._keys.discard(self._order[0])
        self._order.append(key)
        self._keys.add(key)
        return True

    def __len__(self) -> int:
        return len(self._keys)

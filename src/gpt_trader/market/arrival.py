"""When the message behind the event in hand was read off the venue's socket: where message-to-decision
latency starts.

A live feed reads its socket in a thread of its own (`market/feed_thread.py`), ahead of the engine, which takes
each event when its event loop gets to it. So that latency still counts from the read, the feed notes the read's
moment as it hands an event over (`hand_over`) and the engine asks for it as it takes the event (`read_moment`).
An event from anywhere else (a replay, a test's script) was read the moment it was taken.
"""

from __future__ import annotations

import threading
import time

ReadMoment = tuple[float, float]
"""`time.perf_counter()` and `time.process_time()` when a message was read."""

_held = threading.local()


def now() -> ReadMoment:
    return time.perf_counter(), time.process_time()


def hand_over(moment: ReadMoment | None) -> None:
    """The event about to be handed over on this thread was read at `moment` (None: forget the last one)."""
    _held.moment = moment


def read_moment() -> ReadMoment | None:
    """When the event being taken on this thread was read, as handed over; None if it was not: it is read now."""
    moment: ReadMoment | None = getattr(_held, "moment", None)
    return moment

"""The token bucket's schedule, on an injected clock: no real waiting."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpt_trader.coinbase.ratelimit import TokenBucket


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_a_full_bucket_lets_a_burst_through_then_paces_at_the_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=10, capacity=10, clock=clock)
    waits = [bucket.reserve() for _ in range(13)]
    assert waits[:10] == [0.0] * 10
    assert waits[10:] == pytest.approx([0.1, 0.2, 0.3])


def test_tokens_refill_with_time_but_never_beyond_capacity() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=10, capacity=3, clock=clock)
    assert [bucket.reserve() for _ in range(3)] == [0.0, 0.0, 0.0]
    clock.now += 0.25  # refills two and a half tokens
    assert [bucket.reserve() for _ in range(3)] == pytest.approx([0.0, 0.0, 0.05])
    clock.now += 3600  # an hour idle still leaves only `capacity` tokens
    assert [bucket.reserve() for _ in range(4)] == pytest.approx([0.0, 0.0, 0.0, 0.1])


def test_hold_pauses_everyone_and_restarts_without_a_burst() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=10, capacity=10, clock=clock)
    bucket.hold(2.0)
    assert [bucket.reserve() for _ in range(3)] == pytest.approx([2.0, 2.1, 2.2])


async def test_acquire_sleeps_only_when_it_must() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=4, capacity=1, clock=clock, sleep=clock.sleep)
    for _ in range(3):
        await bucket.acquire()
    assert clock.slept == pytest.approx([0.25, 0.25])
    assert clock.now == pytest.approx(1000.5)


def test_nonsense_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="rate"):
        TokenBucket(rate=0)
    with pytest.raises(ValueError, match="capacity"):
        TokenBucket(rate=5, capacity=0.5)


@settings(max_examples=60, deadline=None)
@given(
    rate=st.sampled_from([1.0, 3.0, 10.0, 30.0]),
    capacity=st.integers(1, 12),
    gaps=st.lists(st.floats(0, 0.5, allow_nan=False), min_size=1, max_size=80),
)
def test_no_window_ever_holds_more_than_the_burst_plus_the_rate(
    rate: float, capacity: int, gaps: list[float]
) -> None:
    """Whatever the arrivals, sends in any span of length L number at most capacity + rate * L."""
    clock = FakeClock()
    bucket = TokenBucket(rate=rate, capacity=capacity, clock=clock)
    sends = []
    for gap in gaps:
        clock.now += gap
        sends.append(clock.now + bucket.reserve())
    sends.sort()
    for i, first in enumerate(sends):
        for j in range(i, len(sends)):
            span = sends[j] - first
            assert j - i + 1 <= capacity + rate * span + 1e-6

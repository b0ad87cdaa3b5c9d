"""The sandbox's token buckets: refill, bursts, peeking, and a table that made-up names cannot grow."""

from __future__ import annotations

from gpt_trader.sandbox.ratelimit import RateLimiter, RateLimits, Throttle


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_allows_a_seconds_burst_then_refills_at_its_rate() -> None:
    clock = Clock()
    limiter = RateLimiter(clock)
    assert [limiter.take("a", 4) for _ in range(4)] == [0.0] * 4
    assert limiter.take("a", 4) == 0.25
    clock.now += 0.5
    assert limiter.wait("a", 4) == 0.0 and limiter.take("a", 4) == 0.0 and limiter.take("a", 4) == 0.0
    assert limiter.take("a", 4) > 0


def test_waiting_takes_nothing() -> None:
    limiter = RateLimiter(Clock())
    assert limiter.wait("never-seen", 2) == 0.0 and len(limiter) == 0
    limiter.take("b", 2)
    assert [limiter.wait("b", 2) for _ in range(5)] == [0.0] * 5
    limiter.take("b", 2)
    assert limiter.wait("b", 2) == 0.5


def test_made_up_names_cannot_grow_the_table_past_its_bound() -> None:
    limiter = RateLimiter(Clock(), max_buckets=50)
    for n in range(1_000):
        limiter.take(f"kid-{n}", 30)
    assert len(limiter) == 50


def test_the_least_recently_used_bucket_is_the_one_forgotten() -> None:
    clock = Clock()
    limiter = RateLimiter(clock, max_buckets=2)
    limiter.take("busy", 1)
    limiter.take("idle", 1)
    assert limiter.take("busy", 1) > 0, "busy spent its one-request burst"
    limiter.take("newcomer", 1)
    assert limiter.take("busy", 1) > 0, "busy was used last, so idle made room, not busy"


def test_a_throttle_with_limits_off_never_refuses() -> None:
    throttle = Throttle(RateLimits.off(), RateLimiter(Clock()))
    for _ in range(100):
        throttle.refused("127.0.0.1:5000")
    assert throttle.public("127.0.0.1") == throttle.key("k") == throttle.refusals_pending("127.0.0.1:5000") == 0.0
    assert len(throttle.limiter) == 0

"""Backoff schedule and the retry rules."""

from __future__ import annotations

import pytest

from gpt_trader.coinbase.retry import RetryPolicy, retry_after_seconds, should_retry


def test_backoff_doubles_from_the_base_and_stops_at_the_cap() -> None:
    policy = RetryPolicy(attempts=8, base_delay=0.5, max_delay=4.0)
    longest = [policy.backoff(n, uniform=lambda: 1.0) for n in range(1, 7)]
    shortest = [policy.backoff(n, uniform=lambda: 0.0) for n in range(1, 7)]
    assert longest == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert shortest == [0.25, 0.5, 1.0, 2.0, 2.0, 2.0]


def test_jitter_spreads_waits_between_half_and_all_of_the_nominal_delay() -> None:
    policy = RetryPolicy(base_delay=1.0)
    waits = {policy.backoff(2) for _ in range(200)}
    assert all(1.0 <= wait <= 2.0 for wait in waits)
    assert len(waits) > 100, "each wait is drawn afresh"


def test_at_least_one_attempt() -> None:
    with pytest.raises(ValueError, match="attempts"):
        RetryPolicy(attempts=0)


@pytest.mark.parametrize(
    ("status", "idempotent", "retry"),
    [
        (429, True, True),
        (429, False, True),
        (500, True, True),
        (502, True, True),
        (503, True, True),
        (503, False, False),
        (400, True, False),
        (401, True, False),
        (403, True, False),
        (404, True, False),
        (409, True, False),
    ],
)
def test_which_statuses_are_retried(status: int, idempotent: bool, retry: bool) -> None:
    assert should_retry(status, idempotent) is retry


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("1", 1.0), (" 2.5 ", 2.5), ("0", 0.0), ("-3", 0.0), (None, None), ("soon", None), ("nan", None),
     ("inf", None), ("Wed, 21 Oct 2015 07:28:00 GMT", None)],
)
def test_retry_after_is_read_as_seconds(header: str | None, seconds: float | None) -> None:
    assert retry_after_seconds(header) == seconds

"""Exact cases for `trading/fees.py` that mutation testing asked for (`python -m bench.mutation --module fees`)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from gpt_trader.trading.fees import FeeRates, FeeSchedule


def test_zero_rates_are_allowed_and_a_negative_taker_rate_is_refused() -> None:
    free = FeeRates(maker=Decimal(0), taker=Decimal(0))
    assert (free.maker, free.taker) == (0, 0)
    with pytest.raises(ValueError, match="cannot be negative"):
        FeeRates(taker=Decimal("-0.001"))


def test_a_schedule_without_tiers_is_refused_with_the_reason() -> None:
    with pytest.raises(ValueError, match="first tier starting at a 30-day volume of 0"):
        FeeSchedule(())

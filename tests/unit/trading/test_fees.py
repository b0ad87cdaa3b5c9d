from __future__ import annotations

from decimal import Decimal

import pytest

from gpt_trader.coinbase.constants import FEE_TIERS, MAKER_FEE_RATE, TAKER_FEE_RATE
from gpt_trader.trading.fees import FeeRates, FeeSchedule, FeeTier, Liquidity


def test_a_new_account_pays_the_entry_tier() -> None:
    rates = FeeSchedule.coinbase().rates_for(Decimal(0))
    assert (rates.taker, rates.maker) == (TAKER_FEE_RATE, MAKER_FEE_RATE) == (Decimal("0.006"), Decimal("0.004"))
    assert rates.rate(Liquidity.TAKER) == TAKER_FEE_RATE
    assert rates.rate(Liquidity.MAKER) == MAKER_FEE_RATE


def test_the_tier_follows_thirty_day_volume_at_its_boundaries() -> None:
    schedule = FeeSchedule.coinbase()
    second_start, second_taker, second_maker = FEE_TIERS[1]
    assert schedule.rates_for(second_start - Decimal("0.01")).taker == TAKER_FEE_RATE
    assert schedule.rates_for(second_start) == FeeRates(maker=second_maker, taker=second_taker)
    top = schedule.rates_for(Decimal(10) ** 12)
    assert (top.taker, top.maker) == (FEE_TIERS[-1][1], FEE_TIERS[-1][2])


def test_rates_never_rise_with_volume() -> None:
    takers = [taker for _, taker, _ in FEE_TIERS]
    makers = [maker for _, _, maker in FEE_TIERS]
    assert takers == sorted(takers, reverse=True)
    assert makers == sorted(makers, reverse=True)
    assert all(maker <= taker for _, taker, maker in FEE_TIERS)


def test_flat_rates_apply_at_every_volume() -> None:
    rates = FeeRates(maker=Decimal("0.001"), taker=Decimal("0.002"))
    flat = FeeSchedule.flat(rates)
    assert flat.rates_for(Decimal(0)) == flat.rates_for(Decimal(10) ** 9) == rates


def test_bad_schedules_and_rates_are_refused_with_the_reason() -> None:
    with pytest.raises(ValueError, match="cannot be negative"):
        FeeRates(maker=Decimal("-0.001"))
    with pytest.raises(ValueError, match="starting at a 30-day volume of 0"):
        FeeSchedule((FeeTier(Decimal(5), FeeRates()),))
    with pytest.raises(ValueError, match="strictly increasing"):
        FeeSchedule((FeeTier(Decimal(0), FeeRates()), FeeTier(Decimal(0), FeeRates())))
    with pytest.raises(ValueError, match="cannot be negative"):
        FeeSchedule.coinbase().rates_for(Decimal(-1))

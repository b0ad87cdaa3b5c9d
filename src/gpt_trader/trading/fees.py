"""Coinbase's maker–taker fees: which rate a fill pays, by its liquidity and the account's 30-day volume.

A fill that takes liquidity (a market order, the part of a limit order that matches on arrival) pays the
taker rate; a resting order matched later pays the maker rate. The rate falls with the account's 30-day
USD volume along Coinbase's tier table (`coinbase/constants.py`); a new account sits in the entry tier.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from gpt_trader.coinbase.constants import FEE_TIERS, MAKER_FEE_RATE, TAKER_FEE_RATE


class Liquidity(StrEnum):
    """Whether a fill added liquidity to the book (maker) or took it (taker)."""

    MAKER = "MAKER"
    TAKER = "TAKER"


@dataclass(frozen=True, slots=True)
class FeeRates:
    """A maker and a taker rate, as fractions of a fill's value (0.006 is 0.6%)."""

    maker: Decimal = MAKER_FEE_RATE
    taker: Decimal = TAKER_FEE_RATE

    def __post_init__(self) -> None:
        if self.maker < 0 or self.taker < 0:
            raise ValueError(f"fee rates cannot be negative (maker {self.maker}, taker {self.taker})")

    def rate(self, liquidity: Liquidity) -> Decimal:
        return self.maker if liquidity is Liquidity.MAKER else self.taker


@dataclass(frozen=True, slots=True)
class FeeTier:
    volume_from: Decimal
    """30-day USD volume from which this tier applies."""
    rates: FeeRates


@dataclass(frozen=True, slots=True)
class FeeSchedule:
    """Fee tiers by 30-day volume, lowest first; `rates_for(volume)` is the tier an account pays at."""

    tiers: tuple[FeeTier, ...]

    def __post_init__(self) -> None:
        if not self.tiers or self.tiers[0].volume_from != 0:
            raise ValueError("a fee schedule needs a first tier starting at a 30-day volume of 0")
        starts = [tier.volume_from for tier in self.tiers]
        if starts != sorted(set(starts)):
            raise ValueError("fee tiers must start at strictly increasing 30-day volumes")

    @classmethod
    def coinbase(cls) -> FeeSchedule:
        return cls.from_table(FEE_TIERS)

    @classmethod
    def flat(cls, rates: FeeRates) -> FeeSchedule:
        """One tier for every volume: fixed rates (the backtest's `--fee`, or an account's known rates)."""
        return cls((FeeTier(Decimal(0), rates),))

    @classmethod
    def from_table(cls, table: Sequence[tuple[Decimal, Decimal, Decimal]]) -> FeeSchedule:
        """From rows of (volume from, taker rate, maker rate)."""
        return cls(tuple(FeeTier(start, FeeRates(maker=maker, taker=taker)) for start, taker, maker in table))

    def rates_for(self, volume_30d: Decimal) -> FeeRates:
        if volume_30d < 0:
            raise ValueError(f"a 30-day volume cannot be negative, got {volume_30d}")
        chosen = self.tiers[0]
        for tier in self.tiers:
            if tier.volume_from > volume_30d:
                break
            chosen = tier
        return chosen.rates

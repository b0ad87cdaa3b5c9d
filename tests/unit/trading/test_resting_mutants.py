"""Exact cases for `trading/resting.py` that mutation testing asked for (`bench.mutation --module resting`)."""

from __future__ import annotations

from decimal import Decimal

from gpt_trader.trading.resting import PriceLadder


def test_the_ladder_includes_the_probe_price_unless_told_not_to() -> None:
    ladder: PriceLadder[str] = PriceLadder()
    for price, name in ((4, "low"), (5, "at"), (6, "high")):
        ladder.add(Decimal(price), name)
    assert ladder.from_lowest(Decimal(5)) == ["low", "at"]
    assert ladder.from_highest(Decimal(5)) == ["high", "at"]
    assert ladder.from_lowest(Decimal(5), inclusive=False) == ["low"]
    assert ladder.from_highest(Decimal(5), inclusive=False) == ["high"]

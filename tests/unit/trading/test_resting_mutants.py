"""Exact cases for `trading/resting.py` that mutation testing asked for (`bench.mutation --module resting`)."""

from __future__ import annotations

from decimal import Decimal

from gpt_trader.trading.resting import PriceLadder, Waiting


def test_the_ladder_includes_the_probe_price_unless_told_not_to() -> None:
    ladder: PriceLadder[str] = PriceLadder()
    for price, name in ((4, "low"), (5, "at"), (6, "high")):
        ladder.add(Decimal(price), name)
    assert ladder.from_lowest(Decimal(5)) == ["low", "at"]
    assert ladder.from_highest(Decimal(5)) == ["high", "at"]
    assert ladder.from_lowest(Decimal(5), inclusive=False) == ["low"]
    assert ladder.from_highest(Decimal(5), inclusive=False) == ["high"]


def test_a_product_has_waiting_orders_while_any_of_its_four_ladders_holds_one() -> None:
    assert not Waiting()
    for ladder in ("buys", "sells", "buy_stops", "sell_stops"):
        waiting = Waiting()
        getattr(waiting, ladder).add(Decimal(5), "order")
        assert waiting, ladder
        getattr(waiting, ladder).remove(Decimal(5), "order")
        assert not waiting, ladder

"""The venue-neutral events: one Side vocabulary, and the few facts the events derive themselves."""

from __future__ import annotations

from decimal import Decimal

from gpt_trader.market.events import BarClosed, Quote, Side


def test_a_side_knows_its_opposite_and_its_sign() -> None:
    assert (Side.BUY.opposite, Side.SELL.opposite) == (Side.SELL, Side.BUY)
    assert (Side.BUY.sign, Side.SELL.sign) == (1, -1)
    assert Side("BUY") is Side.BUY


def test_a_quote_is_crossed_when_the_bid_reaches_the_ask() -> None:
    def quote(bid: str, ask: str) -> Quote:
        return Quote("BTC-USD", 0.0, Decimal(bid), Decimal(ask), Decimal(1), Decimal(1))

    assert not quote("99.99", "100.00").crossed
    assert quote("100.00", "100.00").crossed and quote("100.01", "100.00").crossed


def test_a_bar_ends_one_granularity_after_it_starts() -> None:
    assert BarClosed("BTC-USD", 60, 1_700_000_040, 1, 2, 0.5, 1.5, 10).end == 1_700_000_100

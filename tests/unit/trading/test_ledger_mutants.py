"""Exact cases of the ledger that mutation testing found unguarded (`python -m bench.mutation`)."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from gpt_trader.market.events import Side
from gpt_trader.trading.fees import FeeRates, FeeSchedule
from gpt_trader.trading.ledger import Account, LedgerError
from tests.unit.trading.conftest import COARSE, GRIDS, PRODUCT, fill

D = Decimal


def account(start: str = "10000", allow_short: bool = False) -> Account:
    return Account("a", D(start), GRIDS, FeeSchedule.flat(FeeRates()), allow_short=allow_short)


def test_a_buy_costing_exactly_the_cash_is_taken_and_leaves_none() -> None:
    ledger = account()
    exact = replace(fill(Side.BUY, D(1), D(9940), grid=COARSE), fee=D("60.00"))
    ledger.apply(exact)
    assert (ledger.cash, ledger.units(COARSE.product_id), ledger.fees) == (0, 1, 60)


def test_a_fill_without_a_fee_is_booked() -> None:
    ledger = account()
    ledger.apply(fill(Side.BUY, D(2), D(100), fee_rate=D(0), grid=COARSE))
    assert (ledger.cash, ledger.fees) == (9800, 0)


@pytest.mark.parametrize(("field", "value"), [("size", D(0)), ("price", D(0)), ("fee", D("-0.01"))])
def test_a_fill_of_nothing_at_no_price_or_with_a_negative_fee_is_refused(field: str, value: Decimal) -> None:
    ledger = account()
    with pytest.raises(LedgerError, match="must be positive and the fee not negative"):
        ledger.apply(replace(fill(Side.BUY, D(1), D(100), grid=COARSE), **{field: value}))
    assert ledger.cash == 10000 and ledger.positions.get(COARSE.product_id) is None


def test_a_round_trips_prices_are_its_values_per_unit() -> None:
    ledger = account()
    ledger.apply(fill(Side.BUY, D(4), D(100), fee_rate=D(0), grid=COARSE))
    trip = ledger.apply(fill(Side.SELL, D(4), D(125), fee_rate=D(0), grid=COARSE))
    assert trip is not None and (trip.entry_value, trip.exit_value) == (400, 500)
    assert (trip.entry_price, trip.exit_price) == (100, 125)


def test_an_account_is_a_spot_account_unless_told_otherwise() -> None:
    ledger = Account("a", D(10000), GRIDS)
    assert not ledger.allow_short and ledger.available_units(COARSE.product_id) == 0
    with pytest.raises(LedgerError, match="cannot sell 1 LINK-USD; it holds 0"):
        ledger.apply(fill(Side.SELL, D(1), D(100), grid=COARSE))


def test_an_account_may_start_with_no_cash_but_not_with_less() -> None:
    assert Account("a", D(0), GRIDS).cash == 0
    with pytest.raises(ValueError, match="starting cash cannot be negative, got -1"):
        Account("a", D(-1), GRIDS)


def test_a_dust_position_worth_nothing_at_entry_still_counts_at_its_mark() -> None:
    # 0.00000001 BTC at 100 is worth 0.000001, which rounds to a value (and cost) of 0.00 on the cent grid.
    ledger = account()
    ledger.apply(fill(Side.BUY, D("0.00000001"), D(100)))
    assert ledger.position(PRODUCT).cost == 0
    marks = {PRODUCT: D(300)}
    assert ledger.unrealised(marks) == D("0.000003")
    assert ledger.equity(marks) == ledger.start_cash + ledger.realised + ledger.unrealised(marks) - ledger.fees


def test_a_second_round_trip_after_a_full_close_starts_afresh() -> None:
    ledger = account()
    ledger.apply(fill(Side.BUY, D(1), D(100), grid=COARSE, time=1.0))
    ledger.apply(fill(Side.SELL, D(1), D(110), grid=COARSE, time=2.0))
    ledger.apply(fill(Side.BUY, D(2), D(100), grid=COARSE, time=3.0))
    second = ledger.apply(fill(Side.SELL, D(2), D(90), grid=COARSE, time=4.0))
    assert second is not None
    assert (second.side, second.entry_time, second.exit_time, second.size) == (Side.BUY, 3.0, 4.0, 2)
    assert second.fees == D("1.20") + D("1.08")


def test_a_partial_close_moves_out_only_its_share_of_the_cost() -> None:
    ledger = account()
    ledger.apply(fill(Side.BUY, D(2), D(100), fee_rate=D(0), grid=COARSE))
    ledger.apply(fill(Side.SELL, D("0.5"), D(110), fee_rate=D(0), grid=COARSE))
    position = ledger.position(COARSE.product_id)
    assert (position.units, position.cost, ledger.realised) == (D("1.5"), 150, 5)


def test_a_refused_buy_names_what_it_would_cost_fee_included() -> None:
    with pytest.raises(LedgerError, match=r"a buy costing 10060\.00 exceeds its cash 10000"):
        account().apply(fill(Side.BUY, D(1), D(10000), grid=COARSE))

"""The ledger's books balance exactly after every fill, against sums kept here independently."""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpt_trader.market.events import Side
from gpt_trader.trading.fees import FeeRates, FeeSchedule
from gpt_trader.trading.ledger import Account, LedgerError
from gpt_trader.trading.money import ZERO, is_multiple
from tests.unit.trading.conftest import COARSE, GRID, GRIDS, PRODUCT, fill

D = Decimal
START = D("10000")

trades = st.lists(
    st.tuples(
        st.sampled_from([Side.BUY, Side.SELL]),
        st.one_of(st.none(), st.decimals(min_value="0.01", max_value="40", places=2)),
        st.decimals(min_value="50", max_value="150", places=3),
        st.sampled_from(["signal", "stop_loss", "take_profit"]),
    ),
    max_size=30,
)


@dataclass
class Sums:
    """What the fills add up to, kept apart from the ledger."""

    cash: Decimal = START
    units: Decimal = ZERO
    buys: Decimal = ZERO
    sells: Decimal = ZERO
    fees: Decimal = ZERO


def account(allow_short: bool) -> Account:
    return Account("a", START, GRIDS, FeeSchedule.flat(FeeRates()), allow_short=allow_short)


@settings(max_examples=150, deadline=None)
@given(trades=trades, allow_short=st.booleans(), mark=st.decimals(min_value="1", max_value="300", places=3))
def test_books_balance_after_every_fill(
    trades: list[tuple[Side, Decimal | None, Decimal, str]], allow_short: bool, mark: Decimal
) -> None:
    """A size of None closes the whole position, so round trips end often."""
    ledger, sums = account(allow_short), Sums()
    for side, wanted, price, reason in trades:
        size = wanted
        if size is None:
            held = ledger.units(COARSE.product_id)
            if held == 0:
                continue
            side, size = (Side.SELL if held > 0 else Side.BUY), abs(held)
        each = fill(side, size, price, reason=reason, grid=COARSE)
        overdraws = side is Side.BUY and each.value + each.fee > ledger.cash
        sells_missing = side is Side.SELL and not allow_short and size > ledger.units(COARSE.product_id)
        if overdraws or sells_missing:
            before = (ledger.cash, ledger.units(COARSE.product_id), ledger.fees, ledger.realised)
            with pytest.raises(LedgerError):
                ledger.apply(each)
            assert (ledger.cash, ledger.units(COARSE.product_id), ledger.fees, ledger.realised) == before
            continue
        ledger.apply(each)
        sums.cash += each.value - each.fee if side is Side.SELL else -each.value - each.fee
        sums.units += size * side.sign
        sums.fees += each.fee
        sums.buys += each.value if side is Side.BUY else ZERO
        sums.sells += each.value if side is Side.SELL else ZERO

        marks = {COARSE.product_id: mark}
        assert ledger.cash == sums.cash >= 0
        assert ledger.units(COARSE.product_id) == sums.units
        assert is_multiple(sums.units, COARSE.base_increment)
        assert ledger.fees == sums.fees >= 0
        assert each.fee >= 0
        assert ledger.equity(marks) == START + ledger.realised + ledger.unrealised(marks) - ledger.fees
        if sums.units == 0:
            assert ledger.realised == sums.sells - sums.buys
            assert ledger.unrealised(marks) == 0
            assert sum((trip.pnl for trip in ledger.round_trips), ZERO) == ledger.realised
            assert sum((trip.fees for trip in ledger.round_trips), ZERO) == ledger.fees
    if not allow_short:
        assert ledger.units(COARSE.product_id) >= 0


def test_a_round_trip_closes_with_the_reason_of_the_order_that_closed_it() -> None:
    ledger = account(False)
    ledger.apply(fill(Side.BUY, D(1), D(100), grid=COARSE, time=1.0))
    assert ledger.apply(fill(Side.SELL, D("0.4"), D(110), grid=COARSE, reason="take_profit", time=2.0)) is None
    trip = ledger.apply(fill(Side.SELL, D("0.6"), D(90), grid=COARSE, reason="stop_loss", time=3.0))
    assert trip is not None and ledger.round_trips == [trip]
    assert (trip.side, trip.entry_time, trip.exit_time, trip.exit_reason) == (Side.BUY, 1.0, 3.0, "stop_loss")
    assert trip.size == 1 and trip.entry_price == 100 and trip.exit_price == 98
    assert trip.pnl == D("0.4") * 10 - D("0.6") * 10 == D(-2)
    assert trip.fees == D("0.60") + D("0.26") + D("0.32")
    assert trip.net_pnl == D(-2) - trip.fees
    assert ledger.cash == START - 100 - D("0.60") + 44 - D("0.26") + 54 - D("0.32")


def test_a_reversal_closes_the_long_and_opens_a_short_with_the_rest() -> None:
    ledger = account(True)
    ledger.apply(fill(Side.BUY, D(1), D(100), grid=COARSE))
    trip = ledger.apply(fill(Side.SELL, D(3), D(120), grid=COARSE, reason="signal"))
    assert trip is not None and trip.pnl == 20 and trip.fees == D("0.60") + D("0.72")
    position = ledger.position(COARSE.product_id)
    assert position.units == -2 and position.cost == -240 and position.entry_price == 120
    assert position.unrealised(D(110)) == 20
    closed = ledger.apply(fill(Side.BUY, D(2), D(110), grid=COARSE, reason="stop_loss"))
    assert closed is not None and closed.side is Side.SELL and closed.pnl == 20 and closed.exit_reason == "stop_loss"


def test_fills_the_account_cannot_take_are_refused_with_the_reason() -> None:
    ledger = account(False)
    with pytest.raises(LedgerError, match="exceeds its cash 10000"):
        ledger.apply(fill(Side.BUY, D(1), D(10000), grid=COARSE))
    with pytest.raises(LedgerError, match=r"cannot sell 1 LINK-USD; it holds 0"):
        ledger.apply(fill(Side.SELL, D(1), D(10), grid=COARSE))
    with pytest.raises(LedgerError, match="no grid for"):
        ledger.apply(fill(Side.BUY, D(1), D(10), grid=replace(GRID, product_id="DOGE-USD")))
    on_grid = fill(Side.BUY, D(1), D(10), grid=COARSE)
    with pytest.raises(LedgerError, match=r"off the base grid 0\.01"):
        ledger.apply(replace(on_grid, size=D("1.005")))
    with pytest.raises(LedgerError, match="must sit on the quote grid"):
        ledger.apply(replace(on_grid, fee=D("0.001")))
    with pytest.raises(LedgerError, match="never float"):
        ledger.apply(replace(on_grid, price=10.0))  # type: ignore[arg-type]
    assert ledger.cash == START and ledger.fees == 0


def test_the_fee_tier_follows_the_account_volume_over_thirty_days() -> None:
    ledger = Account("a", D(100_000), {PRODUCT: GRID})
    assert ledger.fee_rates(0.0).taker == D("0.006")
    ledger.apply(fill(Side.BUY, D("0.2"), D(50000), time=0.0))
    assert ledger.volume_30d(1.0) == 10000
    assert ledger.fee_rates(1.0).taker == D("0.004")
    assert ledger.fee_rates(30 * 86_400.0).taker == D("0.006")

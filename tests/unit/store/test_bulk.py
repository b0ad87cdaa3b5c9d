"""The prepared inserts bind every value exactly as SQLAlchemy would: the direct money and time conversions on
SQLite included, so a batch written by the writer reads back as the same rows one-at-a-time writes store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Column, Table

from gpt_trader.store import bulk
from gpt_trader.store.db import make_engine
from gpt_trader.store.schema import EquitySnapshot, FeedEvent, Fill, Order, PositionState, RoundTrip
from gpt_trader.store.types import ExactDecimal, UtcDateTime

SQLITE = make_engine("sqlite://").dialect
TABLES: list[Table] = [model.__table__ for model in (Order, Fill, RoundTrip, EquitySnapshot, PositionState, FeedEvent)]  # type: ignore[misc]
MONEY_COLUMNS = [column for table in TABLES for column in table.c if isinstance(column.type, ExactDecimal)]
TIME_COLUMNS = [column for table in TABLES for column in table.c if isinstance(column.type, UtcDateTime)]

money = st.decimals(
    min_value=Decimal("-99999999999999999999.999999999999999999"),
    max_value=Decimal("99999999999999999999.999999999999999999"),
    places=18,
)
offsets = st.timedeltas(min_value=timedelta(hours=-23, minutes=-59), max_value=timedelta(hours=23, minutes=59))
aware_times = st.builds(
    lambda moment, offset: moment.replace(tzinfo=timezone(offset)),
    st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(9998, 12, 30)),
    offsets,
)


def sqlalchemy_binds(column: Column[Any], value: object) -> object:
    processor = column.type.dialect_impl(SQLITE).bind_processor(SQLITE)
    return value if processor is None else processor(value)


def direct(column: Column[Any]) -> bulk.Converter:
    convert = bulk.converter(column, SQLITE)
    assert convert is not None, f"{column} should have a direct converter on SQLite"
    return convert


def test_the_money_and_time_columns_are_found() -> None:
    assert {column.name for column in MONEY_COLUMNS} >= {"price", "size", "fee", "cash", "equity", "pnl"}
    assert {column.name for column in TIME_COLUMNS} >= {"time", "created_at", "exit_time", "updated_at"}


@given(money)
def test_money_is_bound_as_sqlalchemy_binds_it(amount: Decimal) -> None:
    for column in MONEY_COLUMNS:
        assert direct(column)(amount) == sqlalchemy_binds(column, amount)


@given(aware_times)
def test_times_are_bound_as_sqlalchemy_binds_them(moment: datetime) -> None:
    for column in TIME_COLUMNS:
        assert direct(column)(moment) == sqlalchemy_binds(column, moment)
    assert direct(TIME_COLUMNS[0])(moment.astimezone(UTC)) == direct(TIME_COLUMNS[0])(moment)


def test_none_stays_null_and_a_naive_time_is_refused() -> None:
    for column in MONEY_COLUMNS + TIME_COLUMNS:
        assert direct(column)(None) is None
    with pytest.raises(ValueError, match="no timezone"):
        direct(TIME_COLUMNS[0])(datetime(2024, 1, 1))


def test_every_other_column_goes_through_sqlalchemy_s_own_processor() -> None:
    order = Order.__table__
    config, side = bulk.converter(order.c.config, SQLITE), bulk.converter(order.c.side, SQLITE)
    assert config is not None and config({"reason": "signal"}) == sqlalchemy_binds(order.c.config, {"reason": "signal"})
    assert side is not None and side("BUY") == sqlalchemy_binds(order.c.side, "BUY")
    with pytest.raises(LookupError):
        side("SIDEWAYS")

"""Money stays exact and times stay UTC through the column types, whatever the database."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Context, Decimal
from enum import Enum
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.dialects import postgresql, sqlite

from gpt_trader.store.types import ExactDecimal, UtcDateTime, exact_sum, json_dumps, to_decimal

SQLITE = sqlite.dialect()
POSTGRES = postgresql.dialect()

money = st.decimals(
    min_value=Decimal("-99999999999999999999.999999999999999999"),
    max_value=Decimal("99999999999999999999.999999999999999999"),
    places=18,
)


@given(money)
def test_every_amount_survives_the_sqlite_text_form_exactly(amount: Decimal) -> None:
    column = ExactDecimal()
    stored = column.process_bind_param(amount, SQLITE)
    assert isinstance(stored, str) and "E" not in stored.upper()
    assert column.process_result_value(stored, SQLITE) == amount


@given(money)
def test_postgres_gets_the_decimal_itself(amount: Decimal) -> None:
    assert ExactDecimal().process_bind_param(amount, POSTGRES) == amount


@given(money, money)
def test_exact_sum_never_rounds(first: Decimal, second: Decimal) -> None:
    wide = Context(prec=80)  # Decimal's own operators would round at 28 digits, in this test too
    total = wide.add(first, second)
    if wide.abs(total) < Decimal("1e20"):
        assert exact_sum(first, second) == total
        assert wide.subtract(exact_sum(first, second), second) == first


@pytest.mark.parametrize("value", [3, "0.00000001", "-12.50", Decimal("1E+3")])
def test_ints_strings_and_decimals_are_money(value: object) -> None:
    assert to_decimal(value) == Decimal(str(value))


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (0.1, "not the float 0.1"),
        (True, "not the bool"),
        ("1.2.3", "not '1.2.3'"),
        ("NaN", "finite"),
        (Decimal("Infinity"), "finite"),
        ("0.0000000000000000001", "at most 18 decimal places"),
        ("100000000000000000000", "too large"),
    ],
)
def test_amounts_no_database_keeps_exactly_are_refused(value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        to_decimal(value)


def test_trailing_zeros_beyond_18_places_are_still_exact() -> None:
    assert to_decimal("0.10000000000000000000000") == Decimal("0.1")


# Fixed offsets: a wall time inside a DST gap never compares equal across zones (PEP 495), by design.
fixed_offsets = st.builds(
    timezone, st.timedeltas(min_value=-timedelta(hours=14), max_value=timedelta(hours=14))
)


@given(st.datetimes(timezones=fixed_offsets, min_value=datetime(1971, 1, 1), max_value=datetime(2100, 1, 1)))
def test_aware_times_are_stored_as_utc_and_come_back_equal(moment: datetime) -> None:
    column = UtcDateTime()
    stored = column.process_bind_param(moment, SQLITE)
    assert stored is not None and stored.tzinfo is None
    back = column.process_result_value(stored, SQLITE)
    assert back == moment and back is not None and back.tzinfo == UTC


def test_postgres_times_come_back_in_utc() -> None:
    column = UtcDateTime()
    moment = datetime(2025, 1, 1, 9, tzinfo=timezone(timedelta(hours=9)))
    assert column.process_bind_param(moment, POSTGRES) == datetime(2025, 1, 1, tzinfo=UTC)
    back = column.process_result_value(moment, POSTGRES)
    assert back is not None and back.tzinfo == UTC and back.hour == 0


def test_naive_times_and_non_times_are_refused() -> None:
    with pytest.raises(ValueError, match="no timezone"):
        UtcDateTime().process_bind_param(datetime(2025, 1, 1), SQLITE)
    with pytest.raises(ValueError, match="must be a datetime"):
        UtcDateTime().process_bind_param("2025-01-01", SQLITE)


class Colour(Enum):
    RED = "red"


def test_json_takes_numpy_decimals_dates_enums_paths_and_sets() -> None:
    text = json_dumps(
        {
            "window": np.int64(20),
            "weights": np.array([0.5, 0.25]),
            "price": Decimal("64321.99"),
            "day": date(2025, 1, 2),
            "at": datetime(2025, 1, 2, 3, 4, tzinfo=UTC),
            "colour": Colour.RED,
            "file": Path("data/btc.parquet"),
            "tags": {"b", "a"},
        }
    )
    assert text == (
        '{"window":20,"weights":[0.5,0.25],"price":"64321.99","day":"2025-01-02",'
        '"at":"2025-01-02T03:04:00+00:00","colour":"red","file":"data/btc.parquet","tags":["a","b"]}'
    )


def test_json_refuses_nan_and_unknown_objects() -> None:
    with pytest.raises(ValueError):
        json_dumps({"sharpe": float("nan")})
    with pytest.raises(TypeError, match="object"):
        json_dumps({"thing": object()})

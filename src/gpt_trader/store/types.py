"""Column types that keep money exact and times in UTC on every database.

SQLite has no exact decimal type: its NUMERIC affinity turns `0.1` into a binary float. Money on the
order path is therefore stored as its decimal text there, and as NUMERIC on databases that have one.
Times go in and come out as timezone-aware UTC datetimes, whatever the database keeps.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Context, Decimal, InvalidOperation
from typing import Any

from sqlalchemy import DateTime, Numeric, String
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

from gpt_trader.store.plain import aware, json_dumps

__all__ = ["ExactDecimal", "UtcDateTime", "aware", "exact_sum", "json_dumps", "to_decimal"]

# Wide enough for any Coinbase size or price (increments down to 1e-8 and below) and for totals in the
# billions; the text form on SQLite has no limit of its own.
DECIMAL_PRECISION = 38
DECIMAL_SCALE = 18
_DECIMAL_TEXT_LENGTH = 64
_SMALLEST_UNIT = Decimal(1).scaleb(-DECIMAL_SCALE)
# Decimal's default context keeps 28 digits: too few for NUMERIC(38, 18), so money arithmetic uses this.
_EXACT = Context(prec=2 * DECIMAL_PRECISION)


class ExactDecimal(TypeDecorator[Decimal]):
    """A `Decimal` column: NUMERIC(38, 18) where the database has it, the exact decimal text on SQLite.

    Floats are refused: a price that already went through a binary float is no longer exact.
    """

    impl = String(_DECIMAL_TEXT_LENGTH)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(_DECIMAL_TEXT_LENGTH))
        return dialect.type_descriptor(Numeric(DECIMAL_PRECISION, DECIMAL_SCALE, asdecimal=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        exact = to_decimal(value)
        return format(exact, "f") if dialect.name == "sqlite" else exact

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        return None if value is None else Decimal(value)


def to_decimal(value: Any) -> Decimal:
    """`value` (a Decimal, int or decimal string) as a Decimal that every database stores exactly.

    ValueError for floats, NaN and infinity, more than 18 decimal places, or 20 digits or more before
    the point: NUMERIC(38, 18) would round or refuse those, so no database is given them.
    """
    if type(value) is Decimal:  # the common case first: a store write converts hundreds of thousands
        exact = value
    elif isinstance(value, (bool, float)):
        kind = type(value).__name__
        raise ValueError(f"money must be a Decimal, int or decimal string, not the {kind} {value}")
    else:
        try:
            exact = value if isinstance(value, Decimal) else Decimal(str(value))
        except InvalidOperation:
            raise ValueError(f"money must be a decimal number, not {value!r}") from None
    if not exact.is_finite():
        raise ValueError(f"money must be a finite number, not {value!r}")
    if exact.quantize(_SMALLEST_UNIT, context=_EXACT) != exact:
        raise ValueError(f"money has at most {DECIMAL_SCALE} decimal places; {value} has more")
    if exact.adjusted() >= DECIMAL_PRECISION - DECIMAL_SCALE:
        raise ValueError(f"money below 1e{DECIMAL_PRECISION - DECIMAL_SCALE} only; {value} is too large")
    return exact


def exact_sum(*amounts: Decimal) -> Decimal:
    """The sum of money amounts, with no rounding (Decimal's default context would round at 28 digits)."""
    total = Decimal(0)
    for amount in amounts:
        total = _EXACT.add(total, amount)
    return to_decimal(total)


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware datetime, stored in UTC; naive datetimes are refused as ambiguous."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        # SQLite's DATETIME text carries no offset, so there it holds naive UTC.
        return dialect.type_descriptor(DateTime(timezone=dialect.name != "sqlite"))

    def process_bind_param(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        utc = aware(value, "datetime").astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        stored: datetime = value
        return stored.replace(tzinfo=UTC) if stored.tzinfo is None else stored.astimezone(UTC)



"""Many rows of one table in one prepared statement: the trading record's batched inserts and upserts.

A replay hands the writer tens of thousands of rows (an order, a fill and often a round trip per trade).
SQLAlchemy's executemany builds each row's parameters through its statement machinery, which costs
several times what the database spends inserting it. Here the SQL of a table and set of columns is built
once, and each value goes through one converter chosen for its column: SQLAlchemy's own bind processor
for the column's type, except the money and time columns on SQLite, which get the direct conversions
below (the rows come from the builders in `writes.py`, which have already made every amount an exact,
checked Decimal); a test holds those equal to what SQLAlchemy would bind.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from operator import itemgetter
from typing import Any

from sqlalchemy import Column, Table
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session

from gpt_trader.store.base import StoreError
from gpt_trader.store.types import ExactDecimal, UtcDateTime, aware

Converter = Callable[[Any], Any]
_PLACEHOLDERS = {"qmark": "?", "format": "%s", "pyformat": "%s"}


def insert_many(
    session: Session, table: Table, rows: Sequence[dict[str, Any]], *, replace_on: tuple[str, ...] = ()
) -> None:
    """Insert `rows` (dicts with the same keys) into `table` in the session's transaction, in their order.

    With `replace_on` (the columns of a unique key), a row whose key is stored already replaces that
    row's other columns instead (ON CONFLICT ... DO UPDATE, as SQLite and PostgreSQL both spell it).
    """
    if not rows:
        return
    connection = session.connection()
    statement = _prepare(table, tuple(rows[0]), replace_on, connection.dialect)
    connection.exec_driver_sql(statement.sql, statement.parameters(rows))


@dataclass(frozen=True)
class PreparedInsert:
    sql: str
    columns: tuple[tuple[str, Converter | None], ...]
    """Each column's name and the converter its values go through (None: as they are)."""

    def parameters(self, rows: Sequence[dict[str, Any]]) -> list[tuple[Any, ...]]:
        """The rows as the driver's positional parameters, converted a column at a time."""
        values = []
        for name, convert in self.columns:
            column = map(itemgetter(name), rows)
            values.append(list(column if convert is None else map(convert, column)))
        return list(zip(*values, strict=True))


@lru_cache(maxsize=64)
def _prepare(table: Table, names: tuple[str, ...], replace_on: tuple[str, ...], dialect: Dialect) -> PreparedInsert:
    if dialect.name not in ("sqlite", "postgresql"):
        raise StoreError(f"the trading record needs SQLite or PostgreSQL; this database is {dialect.name}")
    quote = dialect.identifier_preparer.quote
    mark = _PLACEHOLDERS[dialect.paramstyle]
    sql = (
        f"INSERT INTO {dialect.identifier_preparer.format_table(table)} ({', '.join(map(quote, names))}) "
        f"VALUES ({', '.join(mark for _ in names)})"
    )
    if replace_on:
        replaced = ", ".join(f"{quote(name)} = excluded.{quote(name)}" for name in names if name not in replace_on)
        sql += f" ON CONFLICT ({', '.join(map(quote, replace_on))}) DO UPDATE SET {replaced}"
    return PreparedInsert(sql, tuple((name, converter(table.c[name], dialect)) for name in names))


def converter(column: Column[Any], dialect: Dialect) -> Converter | None:
    """How a value of `column` is bound on `dialect`."""
    if dialect.name == "sqlite":
        if isinstance(column.type, ExactDecimal):
            return sqlite_decimal
        if isinstance(column.type, UtcDateTime):
            return sqlite_datetime
    processor: Converter | None = column.type.dialect_impl(dialect).bind_processor(dialect)
    return processor


def sqlite_decimal(value: Decimal | None) -> str | None:
    """An amount checked by `types.to_decimal`, as the decimal text `ExactDecimal` keeps on SQLite."""
    return None if value is None else format(value, "f")


def sqlite_datetime(value: datetime | None) -> str | None:
    """An aware datetime as the naive UTC text SQLAlchemy's SQLite DATETIME stores."""
    if value is None:
        return None
    utc = value if value.tzinfo is UTC else aware(value, "datetime").astimezone(UTC)
    return utc.replace(tzinfo=None).isoformat(" ", "microseconds")

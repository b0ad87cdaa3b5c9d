"""What every group of queries shares: the engine, short read and write transactions, the store's errors."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from types import TracebackType
from typing import Self

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from gpt_trader.store.plain import StoreError

__all__ = ["WRITE_TRANSACTION", "StoreBase", "StoreError", "utc_now"]


# Execution option that makes a transaction on SQLite take the write lock at BEGIN (see db.py).
WRITE_TRANSACTION = "gpt_trader_write"


class StoreBase:
    """Holds the engine; each query runs in its own short transaction, so no lock is held between calls.

    Objects returned by queries are detached snapshots: reading their attributes is free, changing
    them changes nothing in the database.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._read_sessions = sessionmaker(engine, expire_on_commit=False)
        write_engine = engine.execution_options(**{WRITE_TRANSACTION: True})
        self._write_sessions = sessionmaker(write_engine, expire_on_commit=False)

    @property
    def url(self) -> str:
        """The database URL with any password hidden: safe to print."""
        return self.engine.url.render_as_string(hide_password=True)

    def close(self) -> None:
        """Close every pooled connection. The store may not be used afterwards."""
        self.engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"

    @contextmanager
    def _reading(self) -> Iterator[Session]:
        with self._read_sessions() as session, session.begin():
            yield session

    @contextmanager
    def _writing(self) -> Iterator[Session]:
        """A transaction that commits when the block ends and rolls back if it raises."""
        with self._write_sessions() as session, session.begin():
            yield session


def utc_now() -> datetime:
    return datetime.now(UTC)

"""Opening the database: engine set-up for many processes at once, and migration to the newest schema.

SQLite is the embedded default. Every connection runs in WAL mode (readers never block the writer nor
each other), with `synchronous=NORMAL` (a commit survives a process crash; only a power cut may lose the
last few), a 30 s busy timeout, and foreign keys enforced. Writes begin with `BEGIN IMMEDIATE`, so two
writing processes queue on the busy timeout instead of failing with "database is locked" when a read
turns into a write. Any other SQLAlchemy URL (PostgreSQL) is used as given.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, create_engine, event, make_url
from sqlalchemy.engine import URL
from sqlalchemy.exc import ArgumentError, DBAPIError

from gpt_trader.store.base import WRITE_TRANSACTION, StoreError
from gpt_trader.store.migrations import HEAD
from gpt_trader.store.plain import BUSY_TIMEOUT_MS as BUSY_TIMEOUT_MS  # read by tests and tools from here
from gpt_trader.store.plain import configure_sqlite_connection
from gpt_trader.store.runs import RunQueries
from gpt_trader.store.trading import TradingRecords
from gpt_trader.store.types import json_dumps

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# Any constant: serialises concurrent migrations of one PostgreSQL database.
_POSTGRES_MIGRATION_LOCK = 0x67707474


class Store(RunQueries, TradingRecords):
    """The performance database: runs and backtest results, and the paper/simulation trading record.

    Open one with `open_store(url)`. Each method is one short transaction, so any number of processes
    may hold a Store on the same database at once.
    """


def open_store(url: str) -> Store:
    """Open (creating if needed) the database at `url` and migrate it to the newest schema.

    `url` is a SQLAlchemy URL: `sqlite:///path/to/file.db` (the folder is created), `sqlite://` for an
    in-memory database private to one thread, or e.g. `postgresql+psycopg://user@host/db`.
    """
    engine = make_engine(url)
    try:
        upgrade(engine)
    except BaseException:
        engine.dispose()
        raise
    return Store(engine)


def make_engine(url: str) -> Engine:
    """An engine for `url`, with the SQLite settings above applied to every new connection."""
    parsed = _parse(url)
    if parsed.get_backend_name() != "sqlite":
        try:
            return create_engine(parsed, json_serializer=json_dumps, pool_pre_ping=True)
        except (ArgumentError, ImportError) as error:
            # An unknown dialect, or a known one whose driver is not installed.
            raise StoreError(
                f"cannot use the database {parsed.render_as_string(hide_password=True)} ({error}); "
                "check the database URL, or install the driver it names"
            ) from None
    parsed = _prepare_sqlite_file(parsed)
    engine = create_engine(parsed, json_serializer=json_dumps)
    event.listen(engine, "connect", configure_sqlite_connection)
    event.listen(engine, "begin", _begin_sqlite_transaction)
    return engine


def _parse(url: str) -> URL:
    try:
        return make_url(url)
    except Exception as error:
        raise StoreError(
            f"database URL {url!r} is not a SQLAlchemy URL ({error}); "
            "use e.g. sqlite:///path/to/gpt-trader.db or postgresql+psycopg://user@host/dbname"
        ) from None


def _prepare_sqlite_file(url: URL) -> URL:
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return url
    path = Path(database).expanduser()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise StoreError(f"cannot create the database folder {path.parent}: {error.strerror}") from None
    return url.set(database=str(path))


def _begin_sqlite_transaction(connection: Connection) -> None:
    immediate = connection.get_execution_options().get(WRITE_TRANSACTION, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration for the migrations shipped in this package; no alembic.ini is needed.

    With `connection`, migration commands run on it. To write a new migration after changing
    `schema.py`: `alembic.command.revision(alembic_config(connection), message=..., autogenerate=True)`.
    """
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str | None:
    """The newest schema revision this code knows, as Alembic reads it from the migration scripts."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(connection: Connection) -> str | None:
    """The schema revision of the database on `connection`, or None when it has not been migrated."""
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine) -> None:
    """Migrate the database to the newest schema; a no-op, taking no write lock, when it is there already.

    The usual case, a database at `HEAD`, is answered with one query and without importing Alembic.
    """
    if _recorded_revision(engine) == HEAD:
        return
    from alembic import command
    from alembic.script import ScriptDirectory

    head = head_revision()
    where = engine.url.render_as_string(hide_password=True)
    known = {script.revision for script in ScriptDirectory.from_config(alembic_config()).walk_revisions()}
    try:
        with engine.connect() as connection:
            revision = current_revision(connection)
            connection.rollback()
            if revision == head:
                return
            if revision is not None and revision not in known:
                raise StoreError(
                    f"the database {where} has schema revision {revision}, newer than this GPT-Trader "
                    f"knows (newest {head}); upgrade gpt-trader, or point the database URL elsewhere"
                )
            connection.execution_options(**{WRITE_TRANSACTION: True})
            with connection.begin():
                if engine.dialect.name == "postgresql":
                    connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_POSTGRES_MIGRATION_LOCK})")
                # Another process may have migrated while this one waited for the lock: upgrade re-reads.
                command.upgrade(alembic_config(connection), "head")
    except DBAPIError as error:
        raise StoreError(
            f"cannot open the database {where}: {error.orig}; check the URL, that the file is a "
            "GPT-Trader database (not another kind of file), and that you may read and write it"
        ) from None


def _recorded_revision(engine: Engine) -> str | None:
    """The revision Alembic recorded in the database, or None (no table yet, or unreadable: `upgrade` says why)."""
    try:
        with engine.connect() as connection:
            revision = connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
            connection.rollback()
    except DBAPIError:
        return None
    return None if revision is None else str(revision)

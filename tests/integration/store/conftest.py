"""Databases for the store tests: a SQLite file always; PostgreSQL when GPT_TRADER_TEST_POSTGRES_URL is set.

The PostgreSQL URL names a server and a database to connect to as an administrator (for example
`postgresql+psycopg://postgres@127.0.0.1:5432/postgres`); each test gets a fresh database created
there and dropped afterwards, so nothing already on the server is touched.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url

POSTGRES_URL_VARIABLE = "GPT_TRADER_TEST_POSTGRES_URL"


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    # A folder that does not exist yet: opening the store must create it.
    return f"sqlite:///{tmp_path / 'not-yet' / 'gpt-trader.db'}"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    admin_url = os.environ.get(POSTGRES_URL_VARIABLE)
    if not admin_url:
        pytest.skip(f"{POSTGRES_URL_VARIABLE} is not set (a PostgreSQL URL to create test databases on)")
    name = f"gpt_trader_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest) -> str:
    """Each test using this runs on SQLite, and again on PostgreSQL when one is configured."""
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    url: str = request.getfixturevalue(fixture)
    return url

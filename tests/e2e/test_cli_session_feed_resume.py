"""Crash resume of a paper session on the sandbox's live feed: `session run` against `sandbox serve`, kill -9
at ten random points, `session resume` after each (and once after `session stop`), and the final record
equals an uninterrupted session's on the same market (both sessions trade the same sandbox at once). On
SQLite, and on PostgreSQL too when GPT_TRADER_TEST_POSTGRES_URL names a server to create a database on."""

from __future__ import annotations

import json
import os
import random
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.exc import DBAPIError

from gpt_trader.store import open_store
from gpt_trader.trading.session_records import SessionRecords
from tests.support.sandbox_serve import serve
from tests.support.session_forks import kill_9, start

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

START = 1_717_200_000  # 2024-06-01T00:00:00Z, where the sandbox's replay starts
HOURS = 8
KILLS = 10
SPEED = 300
WAIT_SECONDS = 240.0
POSTGRES_URL_VARIABLE = "GPT_TRADER_TEST_POSTGRES_URL"


def session_toml(ws_url: str) -> str:
    return f"""\
name = "feed resume"
duration_hours = {HOURS}

[accounts]
capital = 10000
slots = 2
fee_rate = 0.001

[feed]
source = "sandbox"
url = "{ws_url}"
granularity = "1m"
start = "{datetime.fromtimestamp(START, UTC).isoformat()}"

[rotation]
every_hours = 1
history_hours = 1
min_round_trips = 1
min_sharpe = 0.5

[[candidates]]
strategy = "ma_crossover"
products = ["BTC-USD", "ETH-USD"]
params = [{{ fast = 2, slow = 5 }}, {{ fast = 3, slow = 8 }}, {{ fast = 5, slow = 20 }}]
"""


def market_time(url: str) -> int:
    """The market time session 1 has reached, from its heartbeat state (0 before its tables exist); read with
    plain SQL, since the two crash loops poll at once and opening a store may migrate it."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            state = connection.execute(text("SELECT state FROM sessions WHERE id = 1")).scalar()
    except DBAPIError:
        return 0
    finally:
        engine.dispose()
    loaded = json.loads(state) if isinstance(state, str) else state
    return int(loaded.get("market_time", 0)) if loaded else 0


def wait_for(condition: Callable[[], bool], what: str, process: BaseProcess) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if condition():
            return
        if not process.is_alive():
            raise AssertionError(f"the session process ended (code {process.exitcode}) before {what}")
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _plain(value: Any) -> Any:
    """Values as both backends compare equal: datetimes in naive UTC."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def ledger(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Everything the session recorded, per account name (ids left out where they depend on insert order)."""
    with open_store(url) as store:
        accounts = store.accounts(1)
        record: dict[str, list[tuple[Any, ...]]] = {
            "accounts": [(a.name, a.status.value) for a in accounts],
            "orders": [(a.name, o.client_order_id, o.side.value, o.base_size, o.status, o.created_at)
                       for a in accounts for o in store.orders(a.id)],
            "fills": [(a.name, f.trade_id, f.price, f.size, f.fee, f.time)
                      for a in accounts for f in store.fills(a.id)],
            "round_trips": [(a.name, t.entry_time, t.exit_time, t.units, t.entry_price, t.exit_price, t.pnl,
                             t.exit_reason) for a in accounts for t in store.round_trips(a.id)],
            "equity": [(a.name, e.time, e.cash, e.units, e.equity) for a in accounts for e in store.equity_curve(a.id)],
            "positions": [(a.name, p.units, p.entry_price, p.stop_loss_level, p.trailing_best, p.last_bar_time)
                          for a in accounts if (p := store.position_state(a.id)) is not None],
            "rotations": [(r.time, r.candidate, r.decision, r.reason, r.numbers)
                          for r in SessionRecords(store).rotations(1)],
        }  # fmt: skip
    return {table: [tuple(_plain(v) for v in row) for row in rows] for table, rows in record.items()}


def crash_loop(url: str, session_file: Path, seed: int) -> list[int]:
    """Run the session, kill -9 it KILLS times at random points (each after a random stretch of progress),
    resume it after each, stop it gracefully once, and let the last resume finish; returns the market times
    of the kills."""
    draw = random.Random(seed)
    process = start(url, "session", "run", str(session_file))
    killed_at: list[int] = []
    reached = START
    try:
        for _ in range(KILLS):
            point = reached + 60 * draw.randint(1, 5)
            wait_for(lambda point=point: market_time(url) >= point, f"market time {point} on {url.split(':')[0]}",
                     process)  # fmt: skip
            time.sleep(draw.uniform(0, 0.3))  # anywhere between two heartbeats, not only at one
            kill_9(process)
            reached = market_time(url)
            killed_at.append(reached)
            process = start(url, "session", "resume", "1")
        # Then a graceful stop, from another process, and a last resume that runs to the end.
        wait_for(lambda: market_time(url) > reached, "progress after the last kill", process)
        stop = start(url, "session", "stop", "1")
        stop.join(WAIT_SECONDS)
        process.join(WAIT_SECONDS)
        assert (stop.exitcode, process.exitcode) == (0, 0), "session stop, or the stopped session, failed"
        process = start(url, "session", "resume", "1")
        process.join(WAIT_SECONDS)
        assert process.exitcode == 0, f"the last resume ended with {process.exitcode}"
    finally:
        if process.is_alive():
            kill_9(process)
    return killed_at


@contextmanager
def postgres_database() -> Iterator[str | None]:
    admin_url = os.environ.get(POSTGRES_URL_VARIABLE)
    if not admin_url:
        yield None
        return
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


def test_kill_9_at_ten_points_of_a_sandbox_feed_session_then_resume_gives_the_uninterrupted_record(
    tmp_path: Path,
) -> None:
    flags = ["--source", "synthetic:11", "--products", "BTC-USD,ETH-USD", "--speed", str(SPEED),
             "--start", str(START), "--days", "0.5", "--history-days", "0.1",
             "--state-dir", str(tmp_path / "sandbox")]  # fmt: skip
    with serve(*flags) as sandbox, postgres_database() as postgres_url:
        session_file = tmp_path / "session.toml"
        session_file.write_text(session_toml(sandbox.ws_url))
        reference_url = f"sqlite:///{tmp_path / 'reference.db'}"
        crashed = {"sqlite": f"sqlite:///{tmp_path / 'crashed.db'}"}
        if postgres_url is not None:
            crashed["postgresql"] = postgres_url
        reference = start(reference_url, "session", "run", str(session_file))
        try:
            with ThreadPoolExecutor(len(crashed)) as pool:
                loops = {name: pool.submit(crash_loop, url, session_file, seed)
                         for seed, (name, url) in enumerate(crashed.items())}  # fmt: skip
                kills = {name: loop.result() for name, loop in loops.items()}
            reference.join(WAIT_SECONDS)
            assert reference.exitcode == 0
        finally:
            if reference.is_alive():
                kill_9(reference)

        expected = ledger(reference_url)
        assert expected["fills"] and expected["round_trips"], "the reference session traded nothing"
        for name, url in crashed.items():
            got = ledger(url)
            for table, rows in expected.items():
                assert got[table] == rows, f"{name}: {table} differs after kills at market times {kills[name]}"
            print(f"\n{name}: kill -9 x{len(kills[name])} at market minutes "
                  f"{[(t - START) // 60 for t in kills[name]]}: {len(got['fills'])} fills and "
                  f"{len(got['round_trips'])} round trips as uninterrupted, 0 lost, 0 doubled")  # fmt: skip
        if postgres_url is None:
            print(f"\npostgresql: not run ({POSTGRES_URL_VARIABLE} is not set)")

"""`gpt-trader monitor` driven by Textual's pilot at 80×24 while a writer thread, or a real simulation, trades."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from textual.widgets import DataTable, Sparkline, Static

from gpt_trader.monitor import tui
from gpt_trader.monitor.tui import AccountScreen, MonitorApp
from gpt_trader.store import Store, open_store
from gpt_trader.store.views import StoreViews
from gpt_trader.store.writer import StoreWriter
from tests.support.monitor_records import START, plant
from tests.support.paced_sim import paced_sim


@pytest.fixture
def store(tmp_path: Path) -> Store:
    opened = open_store(f"sqlite:///{tmp_path / 'tui.db'}")
    yield opened
    opened.close()


async def until(condition: Callable[[], bool], what: str, seconds: float = 20) -> None:
    for _ in range(int(seconds / 0.05)):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def cells(app: MonitorApp, table_id: str) -> list[list[str]]:
    table = app.query_one(table_id, DataTable)
    return [[str(cell) for cell in table.get_row_at(index)] for index in range(table.row_count)]


async def test_the_monitor_follows_a_session_being_written(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tui, "REFRESH_SECONDS", 0.1)
    planted = plant(store)
    account = planted.accounts["a"]
    app = MonitorApp(StoreViews.of(store))
    async with app.run_test(size=(80, 24)) as pilot:
        await until(lambda: app.refreshes > 0, "the first refresh")
        assert [row[0] for row in cells(app, "#accounts")] == ["a", "b"]
        assert cells(app, "#accounts")[0][3:5] == ["10,040.00", "+0.40%"]
        with StoreWriter(store) as writer:
            writer.add_equity_snapshot(account, cash=9_000, position_value=1_500, time=START + timedelta(hours=1))
            writer.flush(timeout=10)
        await until(lambda: cells(app, "#accounts")[0][3] == "10,500.00", "the new equity")
        assert app.query_one("#spark", Sparkline).data[-1] == 10_500
        screen = app.export_screenshot()
        for shown in ("10,500.00", "+5.00%", "9,960.00", "-0.40%", "BTC-USD", "gap"):
            assert shown.replace(" ", "&#160;") in screen or shown in screen, shown
        assert len(cells(app, "#fills")) == 4
        rotation = str(app.query_one("#rotation", Static).render())
        assert rotation.startswith("rotation 01-05 04:00:00: keep ma_crossover:BTC-USD")
        assert "retire momentum:ETH-USD (drawdown 12.0% reached the limit 10.0%)" in rotation
        assert "start" not in rotation  # the first rotation is not the latest
        assert "rotation&#160;01-05&#160;04:00:00" in screen or "rotation 01-05 04:00:00" in screen

        await pilot.press("slash")
        await pilot.press(*"momentum", "enter")
        await until(lambda: [r[0] for r in cells(app, "#accounts")] == ["b"], "the filtered accounts")

        await pilot.press("enter")
        await until(lambda: isinstance(app.screen, AccountScreen), "the account screen")
        orders = app.screen.query_one("#account-orders", DataTable)
        assert orders.row_count == 3 and app.screen.query_one("#account-trips", DataTable).row_count == 1
        await pilot.press("escape")
        await until(lambda: not isinstance(app.screen, AccountScreen), "back to the sessions")
        await pilot.press("q")
    assert app.return_code == 0


async def test_switching_sessions_and_an_empty_store(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tui, "REFRESH_SECONDS", 0.1)
    empty = MonitorApp(StoreViews.of(store))
    async with empty.run_test(size=(80, 24)):
        await until(lambda: empty.refreshes > 0, "the first refresh")
        assert "No trading sessions" in str(empty.query_one("#session").render())
    first = plant(store)
    second_run = store.start_run("simulation", "replay")
    second = store.start_session(second_run, "simulation", ["breakout"])
    store.add_account(second, "c", strategy="breakout", product_id="SOL-USD", starting_cash=500, quote_currency="USD")
    app = MonitorApp(StoreViews.of(store))
    async with app.run_test(size=(80, 24)) as pilot:
        await until(lambda: app.refreshes > 0 and app.session_id == second, "the newest session")
        assert str(app.query_one("#rotation", Static).render()) == "rotation: none yet"
        await pilot.press("n")
        await until(lambda: app.session_id == first.session and len(cells(app, "#accounts")) == 2, "the next session")
        await pilot.press("p")
        await until(lambda: [r[0] for r in cells(app, "#accounts")] == ["c"], "the previous session")


def test_a_writer_thread_and_the_monitor_share_the_store(store: Store) -> None:
    planted = plant(store)
    done = threading.Event()

    def trade() -> None:
        with StoreWriter(store) as writer:
            for minute in range(20):
                writer.add_equity_snapshot(
                    planted.accounts["b"],
                    cash=9_000,
                    position_value=900 + minute,
                    time=START + timedelta(hours=2, minutes=minute),
                )
        done.set()

    async def watch() -> list[float]:
        app = MonitorApp(StoreViews.of(store))
        async with app.run_test(size=(80, 24)) as pilot:
            await until(lambda: app.refreshes > 0, "the first refresh")
            await pilot.press("down")  # highlight b: the sparkline follows it
            thread = threading.Thread(target=trade)
            thread.start()
            await until(done.is_set, "the writer")
            thread.join(timeout=10)
            await until(lambda: app.query_one("#spark", Sparkline).data[-1:] == [9_919.0], "b's last snapshot")
            return list(app.query_one("#spark", Sparkline).data)

    drawn = asyncio.run(watch())
    assert drawn[-20:] == [9_900.0 + minute for minute in range(20)]


@pytest.mark.slow
async def test_the_monitor_follows_a_running_simulation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tui, "REFRESH_SECONDS", 0.2)
    database = tmp_path / "sim.db"
    with paced_sim(database) as sim, open_store(f"sqlite:///{database}") as store:
        app = MonitorApp(StoreViews.of(store))
        async with app.run_test(size=(80, 24)) as pilot:
            await until(lambda: app.refreshes > 0 and len(cells(app, "#accounts")) == 1, "the simulation's account")
            spark = app.query_one("#spark", Sparkline)
            before = len(spark.data)
            await until(lambda: len(spark.data) >= before + 3, "new equity points", seconds=120)
            assert sim.snapshots() >= len(spark.data)  # drawn from the store the simulation writes
            row = cells(app, "#accounts")[0]
            assert row[0] == "ma_crossover/BTC-USD/1" and row[2] == "BTC-USD"
            assert cells(app, "#fills") and cells(app, "#fills")[0][1] == "ma_crossover/BTC-USD/1"
            await pilot.press("q")
    assert app.return_code == 0

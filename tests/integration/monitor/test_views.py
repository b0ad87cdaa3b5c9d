"""The store's views against a real SQLite file filled as the backtester and a paper session fill it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal

import pytest

from gpt_trader.store import Store, open_store
from gpt_trader.store.views import ACCOUNT_COLUMNS, RUN_COLUMNS, StoreViews
from gpt_trader.store.writer import StoreWriter

# The store tests' databases: every test here runs on SQLite, and on PostgreSQL when one is configured.
from tests.integration.store.conftest import postgres_url, sqlite_url, store_url  # noqa: F401
from tests.support.monitor_records import LATEST_ROTATION, REGIME_ROWS, START, Planted, plant


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:  # noqa: F811
    opened = open_store(store_url)
    yield opened
    opened.close()


@pytest.fixture
def planted(store: Store) -> Planted:
    return plant(store)


def test_runs_are_newest_first_with_their_best_result(store: Store, planted: Planted) -> None:
    rows = StoreViews.of(store).runs()
    assert [row["id"] for row in rows] == [planted.paper_run, planted.sweep_run, planted.backtest_run]
    sweep = rows[1]
    assert sweep["results"] == 9
    assert sweep["best_sharpe"] == pytest.approx(3 - 1)  # lookback 30, threshold 1
    assert sweep["best_return"] == pytest.approx(30 * 3 / 100)
    assert sweep["source"] == "coinbase"
    assert rows[0]["results"] == 0 and rows[0]["best_sharpe"] is None


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"kind": "sweep"}, ["sweep_run"]),
        ({"strategy": "ma_crossover"}, ["paper_run", "backtest_run"]),
        ({"strategy": "momentum", "product": "eth-usd"}, ["paper_run", "sweep_run"]),
        ({"product": "SOL-USD"}, []),
        ({"source": "synthetic"}, ["backtest_run"]),
        ({"kind": "paper", "strategy": "momentum"}, ["paper_run"]),
    ],
)
def test_runs_filter(store: Store, planted: Planted, filters: dict[str, str], expected: list[str]) -> None:
    rows = StoreViews.of(store).runs(**filters)
    assert [row["id"] for row in rows] == [getattr(planted, name) for name in expected]


def test_runs_filter_by_start_time(store: Store, planted: Planted) -> None:
    views = StoreViews.of(store)
    started = {row["id"]: row["started_at"] for row in views.runs()}
    middle = started[planted.sweep_run]
    assert [r["id"] for r in views.runs(since=middle)] == [planted.paper_run, planted.sweep_run]
    assert [r["id"] for r in views.runs(until=middle)] == [planted.backtest_run]
    assert views.runs(since=middle + timedelta(days=1)) == []


def test_runs_frame_has_every_column(store: Store, planted: Planted) -> None:
    frame = StoreViews.of(store).runs_frame(kind="backtest")
    assert list(frame.columns) == list(RUN_COLUMNS)
    assert frame["id"].tolist() == [planted.backtest_run]
    assert StoreViews.of(store).runs_frame(kind="live").empty


def test_run_details_and_results_sorted(store: Store, planted: Planted) -> None:
    views = StoreViews.of(store)
    run = views.run(planted.sweep_run)
    assert run is not None
    assert (run["kind"], run["trials"], run["results"], run["sessions"]) == ("sweep", 9, 9, [])
    assert views.run(10_000) is None
    results = views.results(planted.sweep_run, sort="total_return")
    returns = [row["total_return"] for row in results]
    assert returns == sorted(returns, reverse=True)
    one = views.result(results[0]["id"])
    assert one is not None and one["run_id"] == planted.sweep_run and one["params"] == {"lookback": 30, "threshold": 3}
    with pytest.raises(ValueError, match="cannot sort results by 'nonsense'"):
        views.results(planted.sweep_run, sort="nonsense")


def test_session_accounts_hold_latest_equity_pnl_position_and_open_orders(store: Store, planted: Planted) -> None:
    (session,) = StoreViews.of(store).sessions()
    assert (session["id"], session["mode"], session["status"]) == (planted.session, "paper", "running")
    accounts = {account["name"]: account for account in session["accounts"]}
    for name, account in accounts.items():
        assert account["equity"] == planted.final_equity[name]
        assert account["pnl"] == planted.final_equity[name] - 10_000
        assert account["pnl_pct"] == pytest.approx(float(planted.final_equity[name] - 10_000) / 10_000)
        assert account["equity_time"] == START + timedelta(minutes=4)
        assert (account["units"], account["open_orders"], account["fills"], account["round_trips"]) == (
            Decimal("0.02"),
            1,
            2,
            1,
        )
    assert accounts["a"]["win_rate"] == 1.0 and accounts["b"]["win_rate"] == 0.0
    frame = StoreViews.of(store).accounts_frame(planted.session)
    assert list(frame.columns) == list(ACCOUNT_COLUMNS) and len(frame) == 2


def test_fills_orders_equity_and_feed_health(store: Store, planted: Planted) -> None:
    views = StoreViews.of(store)
    fills = views.fills(session_id=planted.session)
    assert len(fills) == 4
    assert [f["time"] for f in fills] == sorted((f["time"] for f in fills), reverse=True)
    assert {f["client_order_id"] for f in views.fills(account_id=planted.accounts["a"])} == {"a-1", "a-2"}
    assert [o["client_order_id"] for o in views.orders(session_id=planted.session, open_only=True)] == ["b-3", "a-3"]
    curve = views.equity(planted.accounts["a"])
    assert [p["equity"] for p in curve] == [Decimal(10_000 + 10 * m) for m in range(5)]
    assert views.equity(planted.accounts["a"], after_id=curve[2]["id"]) == curve[3:]
    frame = views.equity_frame(planted.accounts["b"])
    assert frame["equity"].tolist()[-1] == planted.final_equity["b"]
    health = views.feed_health(planted.session)
    assert [(row["kind"], row["product_id"]) for row in health["latest"]] == [("gap", "BTC-USD")]
    assert [row["kind"] for row in health["events"]] == ["gap", "connected"]
    assert views.round_trips(planted.accounts["b"])[0]["pnl"] == Decimal("0.02") * -1_000 - 3


def test_strategy_runs_line_up_backtests_and_paper_accounts(store: Store, planted: Planted) -> None:
    rows = StoreViews.of(store).strategy_runs("ma_crossover")
    kinds = sorted(row["kind"] for row in rows)
    assert kinds == ["backtest", "paper"]
    paper = next(row for row in rows if row["kind"] == "paper")
    assert paper["total_return"] == pytest.approx(40 / 10_000)
    assert paper["closed_trades"] == 1


def test_equity_written_by_a_live_writer_is_seen_as_it_arrives(store: Store, planted: Planted) -> None:
    views = StoreViews.of(store)
    account = planted.accounts["a"]
    last = views.equity(account)[-1]["id"]
    with StoreWriter(store) as writer:
        writer.add_equity_snapshot(account, cash=9_000, position_value=1_100, time=START + timedelta(hours=1))
        writer.flush(timeout=10)
        new = views.equity(account, after_id=last)
    assert [p["equity"] for p in new] == [Decimal(10_100)]
    assert views.accounts(planted.session)[0]["equity"] == Decimal(10_100)


def test_rotations_newest_first_with_their_accounts_and_the_latest_alone(store: Store, planted: Planted) -> None:
    views = StoreViews.of(store)
    rows = views.rotations(planted.session)
    assert [(row["time"], row["decision"]) for row in rows] == [
        (LATEST_ROTATION, "keep"),
        (LATEST_ROTATION, "retire"),
        (START - timedelta(minutes=1), "start"),
        (START - timedelta(minutes=1), "start"),
    ]
    assert [row["account"] for row in rows] == ["a", "b", None, None]
    assert rows[1]["reason"] == "drawdown 12.0% reached the limit 10.0%"
    assert rows[1]["numbers"] == {"drawdown": 0.12, "round_trips": 1}
    assert views.latest_rotation(planted.session) == rows[:2]
    assert views.rotations(planted.session, limit=1) == rows[:1]
    assert views.rotations() == rows
    other = store.start_session(store.start_run("simulation", "no rotation"), "simulation", ["breakout"])
    assert views.rotations(other) == [] and views.latest_rotation(other) == []


def test_regimes_are_the_runs_stored_breakdown(store: Store, planted: Planted) -> None:
    views = StoreViews.of(store)
    rows = views.regimes(planted.sweep_run)
    assert [(row["regime"], row["bars"], row["total_return"]) for row in rows] == [
        (r["regime"], r["bars"], r["total_return"]) for r in REGIME_ROWS
    ]
    assert rows[0]["params"] == {"lookback": 30, "threshold": 1}
    assert views.regimes(planted.backtest_run) == []

"""Rotation on planted data: the session promotes the candidate with a real edge, retires the random walks,
and stores each decision with its reason and numbers (a real SQLite file, the session run in full)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gpt_trader.store import RunStatus, open_store
from gpt_trader.store.db import Store
from gpt_trader.store.schema import AccountStatus
from gpt_trader.trading.session import SessionRunner, create_session
from gpt_trader.trading.session_file import parse_session_file
from gpt_trader.trading.session_records import SessionError, SessionRecords
from tests.support.planted_sessions import EDGE, planted_candles, session_toml


@pytest.fixture(scope="module")
def finished_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, int]]:
    tmp_path = tmp_path_factory.mktemp("rotation")
    candles = planted_candles(tmp_path / "planted.csv")
    store = open_store(f"sqlite:///{tmp_path / 'sessions.db'}")
    session_id = create_session(store, parse_session_file(session_toml(candles)))
    assert SessionRunner(store, session_id).run() is RunStatus.FINISHED
    yield store, session_id
    store.close()


def test_the_edge_is_promoted_and_the_noise_retired_with_reasons(finished_session: tuple[Store, int]) -> None:
    store, session_id = finished_session
    decisions = SessionRecords(store).rotations(session_id)
    edge = f"ma_crossover(fast=6,slow=24)@{EDGE}"
    promoted = [d for d in decisions if d.decision == "promote"]
    assert [d.candidate for d in promoted] == [edge]
    (promotion,) = promoted
    assert promotion.numbers["round_trips"] >= 3
    assert promotion.numbers["deflated_sharpe"] >= 1.0
    assert "round trips with deflated Sharpe" in promotion.reason

    started_noise = {d.candidate for d in decisions if d.decision == "start" and d.candidate != edge}
    retired = {d.candidate: d for d in decisions if d.decision == "retire"}
    assert started_noise, "no random walk was ever started: the planted data tests nothing"
    assert set(retired) == started_noise
    for decision in retired.values():
        assert decision.numbers["round_trips"] >= 3
        assert decision.numbers["deflated_sharpe"] < 1.0
        assert "no edge" in decision.reason or "drawdown" in decision.reason


def test_every_start_names_its_rank_and_backtest(finished_session: tuple[Store, int]) -> None:
    store, session_id = finished_session
    starts = [d for d in SessionRecords(store).rotations(session_id) if d.decision == "start"]
    assert starts
    for start in starts:
        assert start.numbers["backtest_sharpe"] > 0
        assert start.numbers["backtest_trades"] > 0
        assert start.reason.startswith(f"ranked {start.numbers['rank']} of ")


def test_a_finished_session_has_stopped_accounts_with_their_record(finished_session: tuple[Store, int]) -> None:
    store, session_id = finished_session
    accounts = store.accounts(session_id)
    assert accounts and all(account.status is AccountStatus.STOPPED for account in accounts)
    for account in accounts:
        trips = store.round_trips(account.id)
        curve = store.equity_curve(account.id)
        assert curve, f"{account.name} wrote no equity"
        # Cash at the end is the starting cash plus every closed round trip's net result, when flat.
        state = store.position_state(account.id)
        assert state is not None
        if state.units == 0:
            assert curve[-1].equity == account.starting_cash + sum(trip.pnl for trip in trips)


def test_a_finished_session_cannot_be_resumed(finished_session: tuple[Store, int]) -> None:
    store, session_id = finished_session
    with pytest.raises(SessionError, match=rf"session {session_id} \(planted\) finished at .* cannot be resumed"):
        SessionRunner(store, session_id).run()

"""A long session: trade the candidates the rotation chose, rotate on schedule, beat, stop, resume.

    session_id = create_session(store, load_session_file("session.toml"))
    SessionRunner(store, session_id).run()          # until its end, a stop request, or Ctrl-C
    SessionRunner(store, session_id).run()          # after a crash: carries on where the store says

Everything a session decides is derived from the store and the market clock, never from memory: the
market time it has reached (its heartbeat state), its accounts (one per candidate that ever started, named
after it), and its rotations (at fixed market times: the session's start, then every `every_hours`). A
rotation's decisions are stored in one transaction *before* they are applied, and applying them is
idempotent; a step's trading writes are idempotent too (see `session_replay`). So a session killed at any
point and resumed takes no decision twice and writes no fill twice.
"""

from __future__ import annotations

import threading
import time as wall_clock
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from gpt_trader.backtest.api import DataSpec
from gpt_trader.backtest.settings import SimulationSettings
from gpt_trader.market.bars import Bars
from gpt_trader.store.db import Store
from gpt_trader.store.schema import Account, AccountStatus, RunKind, RunStatus, SessionMode
from gpt_trader.store.writer import StoreWriter
from gpt_trader.trading.live_broker import stopped_by_kill_switch
from gpt_trader.trading.live_guard import LiveGuard
from gpt_trader.trading.rotation import (
    Evidence,
    PaperAccount,
    backtest_on,
    decide,
    equity_evidence,
    score_candidates,
)
from gpt_trader.trading.session_file import Candidate, SessionFile, session_config
from gpt_trader.trading.session_records import SessionError, SessionRecords, new_owner
from gpt_trader.trading.session_replay import SNAPSHOT_SECONDS, ReplayTrader, market_time

HEARTBEAT_SECONDS = 2.0
"""Wall-clock seconds between heartbeats (and stop-request checks) of a paced session."""


def live_guard(session_file: SessionFile, cli_live: bool) -> LiveGuard | None:
    """None for a paper session (neither opt-in); the guard of a live one (both); `LiveOrdersDisabled`,
    naming the missing opt-in, when only one is given: then nothing runs, and no order leaves the process."""
    if not session_file.live and not cli_live:
        return None
    return LiveGuard.from_flags(session_live=session_file.live, cli_live=cli_live)


def create_session(store: Store, session_file: SessionFile) -> int:
    """Record a new session (its run, with the whole file as config) and return its id; it runs nobody yet."""
    config = {"session": session_config(session_file)}
    if session_file.live:
        kind, mode = RunKind.LIVE, SessionMode.LIVE
    elif session_file.feed.source == "replay":
        kind, mode = RunKind.SIMULATION, SessionMode.SIMULATION
    else:
        kind, mode = RunKind.PAPER, SessionMode.PAPER
    run_id = store.start_run(kind, session_file.name, config, trials=len(session_file.all_candidates()))
    rotation = session_file.rotation.model_dump(mode="json")
    names = [candidate.name for candidate in session_file.all_candidates()]
    return store.start_session(run_id, mode, names, rotation)


def session_runner(
    store: Store,
    session_id: int,
    *,
    stop: threading.Event | None = None,
    heartbeat_seconds: float = HEARTBEAT_SECONDS,
    live: bool = False,
) -> SessionRunner:
    """The runner for a stored session: the kernel's replay trader on a replay, the engine on a feed (its
    orders on paper, or, with `live = true` in the file and `live` here, on the exchange)."""
    session_file = session_file_of(store, session_id)
    guard = live_guard(session_file, live)
    if session_file.feed.source == "replay":
        return SessionRunner(store, session_id, stop=stop, heartbeat_seconds=heartbeat_seconds)
    from gpt_trader.trading.session_feed import FeedSessionRunner

    if guard is not None:
        _check_not_killed(store, session_id)
    return FeedSessionRunner(store, session_id, stop=stop, heartbeat_seconds=heartbeat_seconds, guard=guard)


def killed(store: Store, session_id: int) -> bool:
    """Whether the kill switch stopped the session (see `live_broker.kill_session`)."""
    return stopped_by_kill_switch(store.accounts(session_id))


def _check_not_killed(store: Store, session_id: int) -> None:
    if killed(store, session_id):
        raise SessionError(f"session {session_id} was stopped by the kill switch; it trades no more: start a "
                           "new session")  # fmt: skip


def session_file_of(store: Store, session_id: int) -> SessionFile:
    """The session file a stored session was started with."""
    row = store.get_session(session_id)
    if row is None:
        raise SessionError(f"there is no session {session_id}; `gpt-trader session list` shows them")
    run = store.get_run(row.run_id)
    assert run is not None  # a session belongs to its run (foreign key)
    return SessionFile.model_validate(run.config["session"])


@dataclass(frozen=True)
class Schedule:
    """The session's market-time span and its rotation times (Unix seconds)."""

    start: int
    end: int
    every: int
    at_start: bool

    def rotations(self) -> list[int]:
        first = self.start if self.at_start else self.start + self.every
        return list(range(first, self.end, self.every))

    def next_rotation(self, after: int) -> int:
        """The first rotation time later than `after`, or the end."""
        return next((time for time in self.rotations() if time > after), self.end)


class SessionRunner:
    """Runs (or resumes) one stored session in this process; `stop` ends it gracefully from another thread."""

    def __init__(
        self,
        store: Store,
        session_id: int,
        *,
        stop: threading.Event | None = None,
        heartbeat_seconds: float = HEARTBEAT_SECONDS,
    ) -> None:
        self.store = store
        self.session_id = session_id
        self.records = SessionRecords(store)
        self.file = session_file_of(store, session_id)
        self.candidates = {candidate.name: candidate for candidate in self.file.all_candidates()}
        self.stop = stop or threading.Event()
        self.heartbeat_seconds = heartbeat_seconds
        self.owner = new_owner()
        accounts = self.file.accounts
        defaults = SimulationSettings()
        fee_rate = defaults.fee_rate if accounts.fee_rate is None else accounts.fee_rate
        self.settings = SimulationSettings(initial_cash=accounts.capital, fee_rate=fee_rate)
        self._last_beat = 0.0

    def run(self) -> RunStatus:
        """Trade until the session's end (finished) or a stop request or Ctrl-C (interrupted); returns which."""
        self.records.take_ownership(self.session_id, self.owner)
        try:
            status = self._run()
        except KeyboardInterrupt:
            self.records.release(self.session_id, self.owner, RunStatus.INTERRUPTED)
            return RunStatus.INTERRUPTED
        except BaseException as error:
            self.records.release(self.session_id, self.owner, RunStatus.FAILED, f"{type(error).__name__}: {error}")
            raise
        self.records.release(self.session_id, self.owner, status)
        return status

    def _run(self) -> RunStatus:
        bars = self._load_bars()
        schedule = self._schedule(bars)
        state = self.store.get_session(self.session_id)
        reached = int((state.state or {}).get("market_time", schedule.start)) if state else schedule.start
        rotation_times = set(schedule.rotations())
        with StoreWriter(self.store) as writer:
            trader = ReplayTrader(bars, self.settings, writer)
            now = reached
            while now < schedule.end:
                if now in rotation_times:
                    self._rotate(now, bars)
                step_end = min(now + SNAPSHOT_SECONDS - now % SNAPSHOT_SECONDS, schedule.next_rotation(now))
                for account in self._active_accounts():
                    candidate = self.candidates[account.name]
                    trader.advance(account.id, candidate, _started(account), now, step_end)
                writer.flush()
                self._pace(step_end - now)
                now = step_end
                self._beat({"market_time": now}, force=True)
                if self.stop.is_set() or self.records.stop_requested(self.session_id):
                    return RunStatus.INTERRUPTED
            for account in self._active_accounts():
                writer.set_account_status(account.id, AccountStatus.STOPPED)
        return RunStatus.FINISHED

    def _load_bars(self) -> dict[str, Bars]:
        feed, rotation = self.file.feed, self.file.rotation
        products = sorted({candidate.product_id for candidate in self.candidates.values()})
        if feed.start is not None:
            start = feed.start.timestamp() - rotation.history_hours * 3600
            end = feed.start.timestamp() + self.file.duration(feed.start).total_seconds()
            spec = DataSpec(source=feed.candles, granularity=feed.granularity, days=None, start=start, end=end)
        else:
            # Without a start, a replay plays the last `duration_hours` of the candles (`SessionFile` checks).
            hours = rotation.history_hours + (self.file.duration_hours or 0)
            spec = DataSpec(source=feed.candles, granularity=feed.granularity, days=hours / 24)
        return spec.load(products)

    def _schedule(self, bars: dict[str, Bars]) -> Schedule:
        rotation = self.file.rotation
        if self.file.feed.start is not None:
            start = int(self.file.feed.start.timestamp())
        else:
            start = max(b.start for b in bars.values()) + int(rotation.history_hours * 3600)
            start -= start % SNAPSHOT_SECONDS
        end = min(start + int(self.file.duration(market_time(start)).total_seconds()), *(b.end for b in bars.values()))
        if end <= start:
            raise SessionError(
                f"the candles from {self.file.feed.candles} end before the session would start "
                f"({market_time(start):%Y-%m-%d %H:%M} UTC, after {rotation.history_hours:g} hours of history); "
                "give a longer source or an earlier feed.start"
            )
        return Schedule(start, end, int(rotation.every_hours * 3600), rotation.at_start)

    def _rotate(self, now: int, bars: dict[str, Bars]) -> None:
        time = market_time(now)
        if not self.records.rotation_taken(self.session_id, time):
            history = {
                product: product_bars.slice(now - int(self.file.rotation.history_hours * 3600), now)
                for product, product_bars in bars.items()
            }
            scores = score_candidates(list(self.candidates.values()), history, self.settings)
            accounts = self.store.accounts(self.session_id)
            trading = [self._paper_account(account, now, bars) for account in accounts if _active(account)]
            decisions = decide(
                self.file.rotation,
                self.file.accounts.slots,
                scores,
                trading,
                traded_before={account.name for account in accounts},
                trials=len(self.candidates),
            )
            self.records.record_decisions(self.session_id, time, decisions)
        self._apply(time, now)

    def _apply(self, time: datetime, now: int) -> None:
        """Carry out the decisions stored for the rotation at `time`; doing it twice changes nothing."""
        existing = {account.name: account for account in self.store.accounts(self.session_id)}
        for decision in self.records.rotations(self.session_id):
            if decision.time != time:
                continue
            if decision.decision == "start" and decision.candidate not in existing:
                self._add_account(self.candidates[decision.candidate], now)
            elif decision.decision == "retire" and decision.account_id is not None:
                self.store.set_account_status(decision.account_id, AccountStatus.STOPPED)

    def _add_account(self, candidate: Candidate, now: int) -> None:
        accounts = self.file.accounts
        self.store.add_account(
            self.session_id,
            candidate.name,
            strategy=candidate.strategy,
            product_id=candidate.product_id,
            starting_cash=str(accounts.capital),
            quote_currency=accounts.quote_currency,
            params=candidate.params,
            settings={"started_at": now, "fee_rate": self.settings.fee_rate, "fill": self.settings.fill},
        )

    def _paper_account(self, account: Account, now: int, bars: dict[str, Bars]) -> PaperAccount:
        candidate = self.candidates[account.name]
        started = _started(account)
        starting = float(account.starting_cash)
        curve = self.store.equity_curve(account.id)
        times = np.array([started, *(snapshot.time.timestamp() for snapshot in curve)], dtype=float)
        equity = np.array([starting, *(float(snapshot.equity) for snapshot in curve)])
        sharpe, returns, periods_per_year, drawdown = equity_evidence(times, equity)
        backtest_return, _ = backtest_on(candidate, bars[candidate.product_id].slice(None, now), started, self.settings)
        evidence = Evidence(
            round_trips=len(self.store.round_trips(account.id)),
            paper_return=float(equity[-1] / starting - 1),
            sharpe=sharpe,
            returns=returns,
            periods_per_year=periods_per_year,
            drawdown=drawdown,
            backtest_return=backtest_return,
        )
        latest = [row for row in self.records.rotations(self.session_id) if row.account_id == account.id]
        numbers: dict[str, Any] = latest[-1].numbers if latest else {}
        return PaperAccount(
            account.name,
            account.id,
            promoted=bool(numbers.get("promoted", False)),
            evidence=evidence,
            shortfall_streak=int(numbers.get("shortfall_streak", 0)),
        )

    def _active_accounts(self) -> list[Account]:
        return [account for account in self.store.accounts(self.session_id) if _active(account)]

    def _pace(self, market_seconds: int) -> None:
        """At `feed.speed`, wait as long as the step lasts in market time divided by the speed, beating."""
        speed = self.file.feed.speed
        if speed <= 0:
            return
        deadline = wall_clock.monotonic() + market_seconds / speed
        while (left := deadline - wall_clock.monotonic()) > 0 and not self.stop.is_set():
            self.stop.wait(min(left, self.heartbeat_seconds))
            self._beat(None)
            if self.records.stop_requested(self.session_id):
                self.stop.set()

    def _beat(self, state: dict[str, Any] | None, force: bool = False) -> None:
        if not force and wall_clock.monotonic() - self._last_beat < self.heartbeat_seconds:
            return
        if not self.records.beat(self.session_id, self.owner, state):
            raise SessionError(f"session {self.session_id} was taken over by another process; this one stops")
        self._last_beat = wall_clock.monotonic()


def _active(account: Account) -> bool:
    return account.status is AccountStatus.ACTIVE


def _started(account: Account) -> int:
    return int(account.settings["started_at"])

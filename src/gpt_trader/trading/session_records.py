"""What a long session keeps in the store beyond the trading record: who runs it, stop requests, rotations.

Ownership makes a resume safe: a running session's `owner` names its process (`host:pid:nonce`); a resume
takes the session over only from an owner that is gone (its process no longer exists on this host, or its
heartbeat is older than `STALLED_AFTER`), and takes it with a compare-and-swap on the owner it saw, so of
two resumes started at once exactly one wins. The loser, and any process that outlived its ownership,
finds its fenced heartbeat refused and stops.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, insert, select, update
from sqlalchemy.orm import sessionmaker

from gpt_trader.errors import UserError
from gpt_trader.store.base import WRITE_TRANSACTION, utc_now
from gpt_trader.store.db import Store
from gpt_trader.store.schema import Rotation, Run, RunStatus, TradingSession
from gpt_trader.trading.rotation import Decision

STALLED_AFTER = timedelta(seconds=30)
"""A heartbeat older than this (wall clock) marks a session stalled; a running session beats every few seconds."""


class SessionError(UserError):
    """A session command that cannot be done as asked: the message says which session and why."""


def new_owner() -> str:
    """This process's owner name: host, process id and a nonce (a recycled pid is not the same owner)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def owner_alive(owner: str | None) -> bool:
    """Whether the process an owner name names is still running on this host (another host: assume so)."""
    if not owner:
        return False
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return True
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_stalled(heartbeat_at: datetime | None, now: datetime | None = None) -> bool:
    return heartbeat_at is None or (now or utc_now()) - heartbeat_at > STALLED_AFTER


class SessionRecords:
    """The session queries on one store; each method is one short transaction."""

    def __init__(self, store: Store) -> None:
        self.store = store
        engine: Engine = store.engine
        self._read = sessionmaker(engine, expire_on_commit=False)
        self._write = sessionmaker(engine.execution_options(**{WRITE_TRANSACTION: True}), expire_on_commit=False)

    def take_ownership(self, session_id: int, owner: str) -> None:
        """Make `owner` the session's runner: refused for a finished session and for one that still runs."""
        with self._write() as db, db.begin():
            row = db.get(TradingSession, session_id)
            if row is None:
                raise SessionError(f"there is no session {session_id}; `gpt-trader session list` shows them")
            run = db.get(Run, row.run_id)
            assert run is not None  # a session belongs to its run (foreign key)
            if run.status is not RunStatus.RUNNING and run.status is not RunStatus.INTERRUPTED:
                raise SessionError(
                    f"session {session_id} ({run.name}) {run.status.value} at {run.ended_at:%Y-%m-%d %H:%M:%S} UTC "
                    "and cannot be resumed; start a new one with `gpt-trader session run FILE`"
                )
            if row.owner is not None and owner_alive(row.owner) and not is_stalled(row.heartbeat_at):
                raise SessionError(
                    f"session {session_id} ({run.name}) is running (process {row.owner.split(':')[1]}, "
                    f"heartbeat {row.heartbeat_at:%H:%M:%S} UTC); stop it with `gpt-trader session stop "
                    f"{session_id}` before resuming it"
                )
            taken = db.execute(
                update(TradingSession)
                .where(TradingSession.id == session_id, _owner_is(row.owner))
                .values(owner=owner, heartbeat_at=utc_now(), stop_requested_at=None)
            )
            if taken.rowcount != 1:  # type: ignore[attr-defined]
                raise SessionError(f"session {session_id} was just resumed by another process; only one may run it")
            db.execute(update(Run).where(Run.id == run.id).values(status=RunStatus.RUNNING, ended_at=None))

    def beat(self, session_id: int, owner: str, state: dict[str, Any] | None = None) -> bool:
        """Mark the session alive and save its resume state; False when `owner` no longer owns it."""
        values: dict[str, Any] = {"heartbeat_at": utc_now()}
        if state is not None:
            values["state"] = state
        with self._write() as db, db.begin():
            result = db.execute(
                update(TradingSession)
                .where(TradingSession.id == session_id, TradingSession.owner == owner)
                .values(values)
            )
            return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    def release(self, session_id: int, owner: str, status: RunStatus, error: str | None = None) -> None:
        """End `owner`'s run of the session: finished, failed or interrupted (a crash leaves it running)."""
        with self._write() as db, db.begin():
            row = db.get(TradingSession, session_id)
            if row is None or row.owner != owner:
                return
            db.execute(update(TradingSession).where(TradingSession.id == session_id).values(owner=None))
        self.store.finish_run(row.run_id, status, error)

    def request_stop(self, session_id: int) -> TradingSession:
        """Ask a running session to stop; it sees the request at its next heartbeat."""
        with self._write() as db, db.begin():
            row = db.get(TradingSession, session_id)
            if row is None:
                raise SessionError(f"there is no session {session_id}; `gpt-trader session list` shows them")
            run = db.get(Run, row.run_id)
            assert run is not None
            if run.status is not RunStatus.RUNNING:
                raise SessionError(f"session {session_id} ({run.name}) is not running: it {run.status.value}")
            db.execute(
                update(TradingSession).where(TradingSession.id == session_id).values(stop_requested_at=utc_now())
            )
            return row

    def stop_requested(self, session_id: int) -> bool:
        with self._read() as db:
            requested = db.scalar(
                select(TradingSession.stop_requested_at).where(TradingSession.id == session_id)
            )
            return requested is not None

    def record_decisions(self, session_id: int, time: datetime, decisions: Sequence[Decision]) -> None:
        """Store one rotation's decisions, all or none (a resumed session checks `rotation_taken` first)."""
        if not decisions:
            return
        rows = [
            {
                "session_id": session_id,
                "time": time,
                "candidate": decision.candidate,
                "account_id": decision.account_id,
                "decision": decision.decision,
                "reason": decision.reason,
                "numbers": dict(decision.numbers),
            }
            for decision in decisions
        ]
        with self._write() as db, db.begin():
            db.execute(insert(Rotation), rows)

    def rotation_taken(self, session_id: int, time: datetime) -> bool:
        with self._read() as db:
            statement = select(func.count()).select_from(Rotation)
            found = db.scalar(statement.where(Rotation.session_id == session_id, Rotation.time == time))
            return bool(found)

    def rotations(self, session_id: int) -> list[Rotation]:
        """Every decision of the session, oldest rotation first."""
        with self._read() as db:
            statement = select(Rotation).where(Rotation.session_id == session_id).order_by(Rotation.time, Rotation.id)
            return list(db.scalars(statement))

    def sessions(self, limit: int = 50) -> list[tuple[TradingSession, Run]]:
        """The newest sessions first, each with its run."""
        with self._read() as db:
            statement = (
                select(TradingSession, Run)
                .join(Run, TradingSession.run_id == Run.id)
                .order_by(TradingSession.id.desc())
                .limit(limit)
            )
            return [(row[0], row[1]) for row in db.execute(statement)]


def _owner_is(owner: str | None) -> Any:
    return TradingSession.owner.is_(None) if owner is None else TradingSession.owner == owner

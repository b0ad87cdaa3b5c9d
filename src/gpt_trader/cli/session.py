"""`gpt-trader session ...`: run a session file, resume one after a crash, stop one, kill a live one, list them.

A session writes everything to the database (`database_url`, default the SQLite file in the data
directory), so `session stop` and `gpt-trader status` work from any other terminal.
"""

from __future__ import annotations

import json
import signal
import threading
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from gpt_trader.store import RunStatus, Store

app = typer.Typer(no_args_is_help=True)

SessionId = Annotated[int, typer.Argument(metavar="ID", help="The session's id, as `session list` shows it.")]
Live = Annotated[
    bool,
    typer.Option("--live", help="Send real orders to the exchange; the session file must say `live = true` too."),
]


@app.command()
def run(
    file: Annotated[Path, typer.Argument(metavar="FILE.toml", help="The session file (see docs/sessions.md).")],
    live: Live = False,
) -> None:
    """Start the session FILE describes and run it until its end, `session stop ID`, or Ctrl-C."""
    from gpt_trader.trading.session import create_session, live_guard
    from gpt_trader.trading.session_file import load_session_file

    session_file = load_session_file(file)
    # Refused before anything is recorded unless both opt-ins are given, and a key is configured for them.
    if live_guard(session_file, live) is not None:
        from gpt_trader.coinbase.auth import load_key

        load_key()
    with _open_store() as store:
        session_id = create_session(store, session_file)
        kind = "live session" if live else "session"
        typer.echo(
            f"{kind} {session_id} ({session_file.name}) started; stop it with `gpt-trader session stop "
            f"{session_id}`{_kill_hint(session_id) if live else ''}",
            err=True,
        )
        _run(store, session_id, live)


@app.command()
def resume(session_id: SessionId, live: Live = False) -> None:
    """Carry on a session whose process died, from where its store record stands."""
    with _open_store() as store:
        typer.echo(f"resuming session {session_id}", err=True)
        _run(store, session_id, live)


@app.command()
def kill(session_id: SessionId) -> None:
    """The kill switch of a live session: stop its accounts, cancel every open order, and stop its process."""
    import asyncio

    from gpt_trader.config import load_settings
    from gpt_trader.trading.live import feed_endpoints
    from gpt_trader.trading.live_broker import kill as kill_session
    from gpt_trader.trading.session import session_file_of
    from gpt_trader.trading.session_records import SessionError, SessionRecords

    with _open_store() as store:
        session_file = session_file_of(store, session_id)
        if not session_file.live:
            raise SessionError(f"session {session_id} trades on paper and has no live orders to cancel; stop it "
                               f"with `gpt-trader session stop {session_id}`")  # fmt: skip
        rest_url = feed_endpoints(session_file.feed.venue, load_settings()).rest_url
        try:
            SessionRecords(store).request_stop(session_id)
            stopping = "; its process stops within seconds"
        except SessionError:  # not running: its orders may still be open on the exchange
            stopping = ""
        report = asyncio.run(kill_session(store, session_id, rest_url))
    typer.echo(f"session {session_id} killed: {len(report.accounts_stopped)} accounts stopped, "
               f"{len(report.cancelled)} open orders cancelled{stopping}")  # fmt: skip
    for client_order_id, status in report.already_done:
        typer.echo(f"order {client_order_id} had already ended on the exchange ({status}) before it could be cancelled")
    for client_order_id, why in report.not_cancelled:
        typer.echo(f"order {client_order_id} was not cancelled: {why}; cancel it on the exchange", err=True)
    if report.not_cancelled:
        raise typer.Exit(1)


def _kill_hint(session_id: int) -> str:
    return f", or cancel its orders and stop it with `gpt-trader session kill {session_id}`"


@app.command()
def stop(session_id: SessionId) -> None:
    """Ask a running session to stop; it ends gracefully at its next heartbeat (it may be resumed later)."""
    from gpt_trader.trading.session_records import SessionRecords

    with _open_store() as store:
        SessionRecords(store).request_stop(session_id)
    typer.echo(f"stop requested for session {session_id}; it stops within seconds (see `gpt-trader status`)")


@app.command("list")
def list_sessions(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    limit: Annotated[int, typer.Option(min=1, help="How many of the newest sessions to show.")] = 50,
) -> None:
    """The newest sessions: id, name, state (running, stalled, finished, interrupted, failed), heartbeat."""
    from gpt_trader.store.base import utc_now
    from gpt_trader.trading.session_records import SessionRecords
    from gpt_trader.trading.session_status import session_state

    now = utc_now()
    with _open_store() as store:
        records = SessionRecords(store)
        rows = [
            {
                "id": row.id,
                "name": run.name,
                "mode": row.mode.value,
                "state": session_state(run, row.heartbeat_at, now),
                "started_at": run.started_at.isoformat(),
                "ended_at": run.ended_at.isoformat() if run.ended_at else None,
                "heartbeat_at": row.heartbeat_at.isoformat() if row.heartbeat_at else None,
                "accounts": len(store.accounts(row.id)),
            }
            for row, run in records.sessions(limit)
        ]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        typer.echo("no sessions yet; start one with `gpt-trader session run FILE.toml`")
        return
    from rich.table import Table

    from gpt_trader.cli.output import console

    table = Table("id", "name", "mode", "state", "started", "ended", "heartbeat", "accounts", box=None)
    for shown in rows:
        table.add_row(
            str(shown["id"]),
            str(shown["name"]),
            str(shown["mode"]),
            str(shown["state"]),
            _short(shown["started_at"]),
            _short(shown["ended_at"]),
            _short(shown["heartbeat_at"]),
            str(shown["accounts"]),
        )
    console().print(table)


def _short(iso: object) -> str:
    return "-" if iso is None else str(iso)[:19].replace("T", " ")


def _run(store: Store, session_id: int, live: bool = False) -> None:
    from gpt_trader.trading.session import session_runner

    stop_event = threading.Event()

    def graceful(signum: int, frame: FrameType | None) -> None:
        stop_event.set()

    previous = signal.signal(signal.SIGTERM, graceful)
    try:
        status = session_runner(store, session_id, stop=stop_event, live=live).run()
    finally:
        signal.signal(signal.SIGTERM, previous)
    _report(session_id, status)


def _report(session_id: int, status: RunStatus) -> None:
    ended = (
        "ran to its end"
        if status.value == "finished"
        else f"stopped ({status.value}); resume it with `gpt-trader session resume {session_id}`"
    )
    typer.echo(f"session {session_id} {ended}; `gpt-trader status --session {session_id}` shows its accounts")


def _open_store() -> Store:
    from gpt_trader.config import load_settings
    from gpt_trader.store import open_store

    return open_store(load_settings().database)

"""`gpt-trader status`: running sessions and their accounts (equity, PnL, positions, open orders), the last
heartbeat (a late one shows the session as stalled), feed health and the latest rotation."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer


def status(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
    session: Annotated[
        list[int] | None,
        typer.Option("--session", metavar="ID", help="Show this session (repeatable), running or not.",
                     show_default=False),
    ] = None,
) -> None:
    """Show every running session (or those --session names) as the database records it now."""
    from gpt_trader.config import load_settings
    from gpt_trader.errors import UserError
    from gpt_trader.store import open_store
    from gpt_trader.trading.session_status import session_status

    with open_store(load_settings().database) as store:
        report = session_status(store, session_ids=session)
    unknown = sorted(set(session or ()) - {shown["id"] for shown in report["sessions"]})
    if unknown:
        raise UserError(
            f"no session {', '.join(map(str, unknown))} in {report['database']}; "
            "`gpt-trader session list` shows the sessions there"
        )
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    if not report["sessions"]:
        typer.echo("no running session; `gpt-trader session list` shows the others")
        return
    for shown in report["sessions"]:
        _print_session(shown)


def _print_session(shown: dict[str, Any]) -> None:
    from rich.table import Table

    from gpt_trader.cli.output import console

    out = console()
    age = shown["heartbeat_age_seconds"]
    beat = "never" if age is None else f"{age:.0f} s ago"
    out.print(
        f"session {shown['id']} {shown['name']}: {shown['state'].upper()} ({shown['mode']}), heartbeat {beat}, "
        f"market time {shown['market_time'] or '-'}" + (", stop requested" if shown["stop_requested"] else ""),
        markup=False,
    )
    accounts = Table("account", "status", "equity", "pnl", "position", "open orders", box=None, padding=(0, 2))
    for account in shown["accounts"]:
        position = account["position"]
        held = "flat" if position is None else f"{position['units']} @ {position['entry_price']}"
        accounts.add_row(
            account["name"], account["status"], account["equity"], account["pnl"], held,
            str(len(account["open_orders"])),
        )
    out.print(accounts)
    feed = shown["feed"]
    out.print(
        "feed: " + (", ".join(f"{e['product_id'] or 'all'} {e['kind']} at {e['time'][:19]}" for e in feed)
                    if feed else "no health events recorded"),
        markup=False,
    )
    rotation = shown["latest_rotation"]
    if rotation is None:
        out.print("rotation: none yet", markup=False)
        return
    out.print(f"latest rotation at {rotation['time'][:19]}:", markup=False)
    for decision in rotation["decisions"]:
        out.print(f"  {decision['decision']:<8} {decision['candidate']}: {decision['reason']}", markup=False)

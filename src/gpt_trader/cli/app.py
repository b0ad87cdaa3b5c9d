"""The `gpt-trader` command: the root Typer app, one sub-module per command group.

Sub-modules import their heavy dependencies (NumPy, Numba, pandas) inside the commands, so that
`gpt-trader --help` and the fast paths start quickly.
"""

from __future__ import annotations

import sys
from typing import Any

import typer

from gpt_trader import __version__
from gpt_trader.cli import data, runs, sandbox, session
from gpt_trader.cli.backtest import EPILOG, backtest
from gpt_trader.cli.dashboard import dashboard
from gpt_trader.cli.demo import demo
from gpt_trader.cli.monitor import monitor
from gpt_trader.cli.optimize import optimize
from gpt_trader.cli.paper import paper
from gpt_trader.cli.report import report
from gpt_trader.cli.sim import sim
from gpt_trader.cli.speedtest import speedtest
from gpt_trader.cli.status import status
from gpt_trader.cli.strategies import strategies
from gpt_trader.errors import UserError

app = typer.Typer(
    name="gpt-trader",
    help="Research and paper-trade crypto strategies on Coinbase: rapid backtests, a sandbox exchange, "
    "paper trading.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
app.command("backtest", help="Backtest strategies × products × parameters and rank them.", epilog=EPILOG)(backtest)
app.command("optimize", help="Search a strategy's parameters; say whether the winner is luck.")(optimize)
app.command("strategies", help="List the strategies: parameters, defaults and ranges.")(strategies)
app.add_typer(data.app, name="data", help="Fetch, import, inspect and verify cached candles.")
app.add_typer(sandbox.app, name="sandbox", help="Run the local Coinbase-compatible sandbox exchange; make keys for it.")
app.add_typer(runs.app, name="runs", help="Ask the performance database: list, show and compare runs.")
app.command("dashboard", help="Serve the read-only web dashboard (127.0.0.1:8888 by default).")(dashboard)
app.command("monitor", help="Watch trading sessions in the terminal (Textual; works at 80×24 over SSH).")(monitor)
app.command("report", help="Write a run's self-contained HTML report and PNG charts.")(report)
app.command("sim", help="Simulate many accounts trading replayed candles through the paper engine.")(sim)
app.add_typer(session.app, name="session", help="Run, resume, stop and list paper-trading sessions.")
app.command("status", help="Running sessions: accounts, equity, positions, heartbeat, feed, rotation.")(status)
app.command("paper", help="Paper-trade strategies on the live market (Coinbase or a sandbox), one feed for all.")(paper)
app.command("speedtest", help="Time five strategies paper-traded, simulated and backtested, side by side.")(speedtest)
app.command("demo", help="Run the offline tour: a backtest, then paper trading on a local sandbox (no keys).")(demo)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"gpt-trader {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """GPT-Trader: which strategy, with which parameters, on which product, is worth trading?"""
    from gpt_trader.config import load_settings
    from gpt_trader.log import configure_logging

    # Every command logs through one handler, whose filter masks registered secrets.
    configure_logging(load_settings().log_level)


def _name_metavars(command: Any) -> None:
    """Show each option's value as its name (`--cache-dir CACHE_DIR`) where none is given, not `<path>`."""
    for param in command.params:
        if param.metavar is None and not getattr(param, "is_flag", False) and param.name:
            param.metavar = param.name.upper()
    for sub in getattr(command, "commands", {}).values():
        _name_metavars(sub)


def main() -> None:
    command = typer.main.get_command(app)
    _name_metavars(command)
    try:
        command(prog_name="gpt-trader")
    except UserError as error:
        typer.secho(f"error: {error}", fg="red", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        typer.secho("interrupted", fg="yellow", err=True)
        sys.exit(130)

"""The `gpt-trader` command: the root Typer app, one sub-module per command group.

Only the module of the command being run is imported (see `COMMANDS`), and those modules import their
heavy dependencies (NumPy, Numba, pandas) inside the commands, so that `gpt-trader --help` and the fast
paths start quickly.
"""

from __future__ import annotations

import gc
import importlib
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from typing import Any

import typer
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

from gpt_trader import __version__
from gpt_trader.errors import UserError

METRICS_EPILOG = (
    "Every metric and its convention (Sharpe, CAGR, win rate, buy & hold...) is defined in "
    "docs/metrics.md."
)


@dataclass(frozen=True)
class Lazy:
    """A command whose module is imported only when it runs or shows its own help: `module:attribute` is a
    command function or a Typer group."""

    target: str
    help: str
    epilog: str | None = None


# Name → command, in the order `gpt-trader --help` lists them. Adding a command is one line here.
COMMANDS = {
    "backtest": Lazy("backtest:backtest", "Backtest strategies × products × parameters and rank them.", METRICS_EPILOG),
    "optimize": Lazy("optimize:optimize", "Search a strategy's parameters; say whether the winner is luck."),
    "strategies": Lazy("strategies:strategies", "List the strategies: parameters, defaults and ranges."),
    "data": Lazy("data:app", "Fetch, import, inspect and verify cached candles."),
    "sandbox": Lazy("sandbox:app", "Run the local Coinbase-compatible sandbox exchange; make keys for it."),
    "runs": Lazy("runs:app", "Ask the performance database: list, show and compare runs."),
    "dashboard": Lazy("dashboard:dashboard", "Serve the read-only web dashboard (127.0.0.1:8888 by default)."),
    "monitor": Lazy("monitor:monitor", "Watch trading sessions in the terminal (Textual; works at 80×24 over SSH)."),
    "report": Lazy("report:report", "Write a run's self-contained HTML report and PNG charts."),
    "sim": Lazy("sim:sim", "Simulate many accounts trading replayed candles through the paper engine."),
    "session": Lazy("session:app", "Run, resume, stop and list paper-trading sessions."),
    "status": Lazy("status:status", "Running sessions: accounts, equity, positions, heartbeat, feed, rotation."),
    "paper": Lazy(
        "paper:paper", "Paper-trade strategies on the live market (Coinbase or a sandbox), "
        "one feed for all."
    ),
    "speedtest": Lazy(
        "speedtest:speedtest", "Time five strategies paper-traded, simulated and backtested, side by side."
    ),
    "demo": Lazy("demo:demo", "Run the offline tour: a backtest, then paper trading on a local sandbox (no keys)."),
}


@cache
def load_command(name: str) -> Any:
    """The Click command `name`, built exactly as registering it on the root app would build it."""
    lazy = COMMANDS[name]
    module, _, attribute = lazy.target.partition(":")
    target = getattr(importlib.import_module(f"gpt_trader.cli.{module}"), attribute)
    holder = typer.Typer(add_completion=False, pretty_exceptions_enable=False, rich_markup_mode=None)
    holder.callback()(lambda: None)  # a callback makes `holder` a group, whatever it holds
    if isinstance(target, typer.Typer):
        holder.add_typer(target, name=name, help=lazy.help)
    else:
        holder.command(name, cls=PlainCommand, help=lazy.help, epilog=lazy.epilog)(target)
    command = typer.main.get_group(holder).commands[name]
    _readable_help(command)
    return command


class _CommandsByName(Mapping[str, Any]):
    """The root group's commands, loaded on first use; listing their names imports nothing."""

    def __getitem__(self, name: str) -> Any:
        if name not in COMMANDS:
            raise KeyError(name)
        return load_command(name)

    def __iter__(self) -> Iterator[str]:
        return iter(COMMANDS)

    def __len__(self) -> int:
        return len(COMMANDS)


class LazyGroup(TyperGroup):
    """The root group: `gpt-trader backtest` imports the backtest command's module and no other."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self.commands = _CommandsByName()  # type: ignore[assignment]  # read-only: every command is in COMMANDS

    def list_commands(self, ctx: Any) -> list[str]:
        return list(COMMANDS)

    def get_help_option(self, ctx: Any) -> Any:
        return _plain(super().get_help_option(ctx))

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        """The command list of `gpt-trader --help`, from the one-line helps above (no command is imported)."""
        from typer._click.utils import make_default_short_help

        limit = formatter.width - 6 - max(map(len, COMMANDS))
        with formatter.section("Commands"):
            formatter.write_dl([(name, make_default_short_help(lazy.help, limit)) for name, lazy in COMMANDS.items()])


app = typer.Typer(
    name="gpt-trader",
    help="Research and paper-trade crypto strategies on Coinbase: rapid backtests, a sandbox exchange, "
    "paper trading.",
    cls=LazyGroup,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


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


_UNCONVERTED = (str, int, float)


def _processed_as_given(param: Any, ctx: Any, value: Any) -> tuple[bool, Any]:
    """(True, the processed value) where Typer's conversion would leave `value` unchanged, else (False, None).

    Typer converts and checks every parameter's value with a Pydantic `TypeAdapter`, built as the command
    parses its line, for the options left at their defaults too; importing Pydantic to build the first costs
    a tenth of a second at every start. An optional value that is absent, or already of the one type its
    parameter declares and within its bounds, comes out of that conversion as it went in, so it skips it;
    any other value is Typer's to convert, and to reject with its own message. A parameter's callback
    (the root's `--version`, given no value) runs on the value as Typer would run it.
    """
    if param.required:
        return False, None
    if value is None:
        value = () if param.multiple or param.nargs == -1 else None
    else:
        declared = getattr(param, "type_descriptor", None)
        if declared is None or param.multiple or param.nargs != 1 or type(value) not in _UNCONVERTED:
            return False, None
        rules = declared.parameter_info
        if type(value) is not declared.annotation or rules.parser is not None:
            return False, None
        if (rules.min is not None and not value >= rules.min) or (rules.max is not None and not value <= rules.max):
            return False, None
    return True, value if param.callback is None else param.callback(ctx, param, value)


class PlainOption(TyperOption):
    """An option whose value skips Typer's conversion where it would not change it."""

    def process_value(self, ctx: Any, value: Any) -> Any:
        done, processed = _processed_as_given(self, ctx, value)
        return processed if done else super().process_value(ctx, value)


class ReadableArgument(TyperArgument):
    """A positional argument shown as its name, as Click shows it: `PRODUCTS...` (required) or `[FILE.py]...`
    in the usage line, `PRODUCTS...` in the Arguments list, without Typer's `{PRODUCTS}` and `<list[str]>`;
    its value skips Typer's conversion where that would not change it."""

    def _rich_display_name(self) -> str:
        return self.display_name_raw + ("..." if self.nargs != 1 else "")

    def get_usage_pieces(self, ctx: Any) -> list[str]:
        name = self.display_name_raw if self.required else f"[{self.display_name_raw}]"
        return [name + ("..." if self.nargs != 1 else "")]

    def display_type_rich(self, ctx: Any) -> str | None:
        return None  # the name says what to give; the help says the rest

    def process_value(self, ctx: Any, value: Any) -> Any:
        done, processed = _processed_as_given(self, ctx, value)
        return processed if done else super().process_value(ctx, value)


def _readable_help(command: Any) -> None:
    """Show each value as its name (`--cache-dir CACHE_DIR`, `PRODUCTS...`) where none is given, not `<path>`."""
    for param in command.params:
        if param.metavar is None and not getattr(param, "is_flag", False) and param.name:
            param.metavar = param.name.upper()
    _plain_parameters(command)
    for sub in getattr(command, "commands", {}).values():
        _readable_help(sub)


class PlainCommand(TyperCommand):
    """A command whose help option, which Click makes as it parses, is a `PlainOption` too."""

    def get_help_option(self, ctx: Any) -> Any:
        return _plain(super().get_help_option(ctx))


def _plain_parameters(command: Any) -> None:
    for param in command.params:
        _plain(param)


def _plain(param: Any) -> Any:
    """Typer builds the parameters; these classes change how arguments are shown and which values it converts."""
    if type(param) is TyperArgument:
        param.__class__ = ReadableArgument
    elif type(param) is TyperOption:
        param.__class__ = PlainOption
    return param


_own_process = False
"""Whether `main` runs the command: the process is then the command's, and ends with it."""


@contextmanager
def imports_kept() -> Iterator[None]:
    """Imports inside are kept out of the garbage collector's work, when the process is the command's own.

    Modules live as long as the process, yet the collector walks their objects as they are made and again at
    each full collection (NumPy's, Numba's and pyarrow's: a quick backtest's collections took 80 ms, 20 ms
    without them). Here it waits while they are imported, then freezes them, so that no collection walks them
    again. Run by another program (a test's `CliRunner`), nothing changes, as that program's garbage of the
    moment would be frozen with them.
    """
    if not _own_process or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()


def main() -> None:
    global _own_process
    _own_process = True
    command = typer.main.get_command(app)
    _plain_parameters(command)  # not `_readable_help`, which would list, and so import, every command
    try:
        command(prog_name="gpt-trader")
    except UserError as error:
        typer.secho(f"error: {error}", fg="red", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        typer.secho("interrupted", fg="yellow", err=True)
        sys.exit(130)
    finally:
        # Python's shutdown runs full garbage collections over every object left: 130,000 after a quick
        # backtest, most of them Numba's (its compiler, readied by the first kernel call), a quarter of a
        # second. They skip frozen objects; the process's memory goes back to the system all the same,
        # and whatever holds a file or a database open closes it before the command returns.
        gc.freeze()

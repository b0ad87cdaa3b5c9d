"""`gpt-trader strategies`: every strategy a run can name, with its parameters, defaults and ranges."""

from __future__ import annotations

from typing import Annotated

import typer


def strategies(
    files: Annotated[
        list[str] | None,
        typer.Argument(metavar="FILE.py", help="Strategy files to list as well.", show_default=False),
    ] = None,
) -> None:
    """List the built-in and plugin strategies (and those of FILE.py): parameters, defaults and ranges.

    Any parameter can be swept with `backtest --param NAME=start:stop:step` within its range.
    """
    from rich.table import Table

    from gpt_trader.cli.output import console
    from gpt_trader.strategies.registry import list_strategies, load_spec

    out = console()
    found = list_strategies() + [strategy for spec in files or [] for strategy in load_spec(spec)]
    for strategy in found:
        out.print(f"{strategy.name}: {strategy.description or type(strategy).__name__}", markup=False)
        if not strategy.params:
            out.print("  no parameters", markup=False)
            continue
        # A float default or bound reads 2.0, an integer one 2: the type a --param value must have.
        table = Table("parameter", "default", "range", "meaning", box=None, padding=(0, 2))
        for name, param in strategy.params.items():
            table.add_row(name, str(param.default), f"{param.low} .. {param.high}", param.help)
        out.print(table)

"""`gpt-trader demo`: the offline tour, no keys and no network."""

from __future__ import annotations

from typing import Annotated

import typer

from gpt_trader.cli.backtest import QUICK, WORKERS_HELP, backtest


def demo(
    seed: Annotated[int, typer.Option(metavar="N", help="Seed of the synthetic market.")] = 7,
    workers: Annotated[int | None, typer.Option(min=1, metavar="N", help=WORKERS_HELP)] = None,
) -> None:
    """Run the offline demo: the quick backtest (5 strategies × 5 products × 30 days) on a synthetic market."""
    typer.echo(f"GPT-Trader demo: the quick backtest on a synthetic market (seed {seed}); no keys, no network.")
    backtest(symbols=QUICK, source=f"synthetic:{seed}", workers=workers)

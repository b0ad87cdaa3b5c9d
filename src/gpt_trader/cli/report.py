"""`gpt-trader report RUN_ID`: a run as a self-contained HTML report, and its charts as PNGs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def report(
    run_id: Annotated[int, typer.Argument(help="The run's id, as `gpt-trader runs list` shows it.")],
    out: Annotated[Path, typer.Option(help="Where to write the HTML report.")] = Path("report.html"),
    png: Annotated[Path | None, typer.Option(help="Also write the charts as PNGs into this folder.")] = None,
    result: Annotated[
        int | None, typer.Option(help="Which result of a backtest or sweep (default: the best by Sharpe).")
    ] = None,
) -> None:
    """Write a self-contained HTML report of a run (opens with no internet) and optionally its PNG charts."""
    from gpt_trader.config import load_settings
    from gpt_trader.monitor.report import write_report
    from gpt_trader.store import open_store
    from gpt_trader.store.views import StoreViews

    with open_store(load_settings().database) as store:
        written = write_report(StoreViews.of(store), run_id, out, png_folder=png, result_id=result)
    typer.echo(f"Wrote {out} ({out.stat().st_size / 1e6:.1f} MB, self-contained).")
    if png is not None:
        typer.echo(f"Wrote {len(written) - 1} PNG charts to {png}: {', '.join(path.name for path in written[1:])}.")

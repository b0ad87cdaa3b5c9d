"""A report's charts as PNG files, drawn with matplotlib's Agg backend: no browser, no display, offline."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from gpt_trader.errors import UserError
from gpt_trader.monitor.report import ReportMaterial, Series, monthly_returns

if TYPE_CHECKING:
    from matplotlib.figure import Figure

WIDTH, HEIGHT, DPI = 1200, 600, 100
"""Every PNG is WIDTH × HEIGHT pixels."""


def write_pngs(material: ReportMaterial, folder: Path) -> list[Path]:
    """Write equity, drawdown, trades (when priced), monthly returns and heat map (for a sweep) PNGs."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UserError(f"cannot create the PNG folder {folder}: {error.strerror}; choose another --png") from None
    charts: dict[str, Figure] = {
        "equity": _lines("Equity", material.equity),
        "drawdown": _lines("Drawdown", material.drawdown, percent=True),
    }
    if material.price is not None:
        charts["trades"] = _trades(material.price, material.trades)
    if material.equity and material.equity[0].values:
        charts["monthly_returns"] = _months(material.equity[0])
    if material.heatmap is not None:
        charts["heatmap"] = _heat(material.heatmap)
    written = []
    for name, figure in charts.items():
        path = folder / f"{name}.png"
        figure.savefig(path, dpi=DPI)
        written.append(path)
    return written


def _figure() -> tuple[Figure, Any]:
    from matplotlib.figure import Figure

    # A bare Figure (not pyplot) needs no GUI backend and keeps no global state between reports.
    figure = Figure(figsize=(WIDTH / DPI, HEIGHT / DPI), dpi=DPI, layout="constrained")
    return figure, figure.add_subplot()


def _times(series: Series) -> Any:
    import pandas as pd

    return pd.to_datetime(series.times, utc=True)


def _lines(title: str, lines: list[Series], percent: bool = False) -> Figure:
    from matplotlib.ticker import PercentFormatter

    figure, axes = _figure()
    for line in lines:
        axes.plot(_times(line), line.values, label=line.name, linewidth=1.2)
    axes.set_title(title)
    axes.grid(alpha=0.3)
    if percent:
        axes.yaxis.set_major_formatter(PercentFormatter(1.0))
    if len(lines) > 1:
        axes.legend()
    return figure


def _trades(price: Series, trades: list[dict[str, Any]]) -> Figure:
    import pandas as pd

    figure, axes = _figure()
    axes.plot(_times(price), price.values, color="#6b7383", linewidth=1, label=f"{price.name} close")
    if trades:
        axes.scatter(
            pd.to_datetime([t["entry_time"] for t in trades], utc=True),
            [t["entry_price"] for t in trades],
            marker="^",
            color="#137a3a",
            s=60,
            label="entry",
            zorder=3,
        )
        axes.scatter(
            pd.to_datetime([t["exit_time"] for t in trades], utc=True),
            [t["exit_price"] for t in trades],
            marker="v",
            color="#b3261e",
            s=60,
            label="exit",
            zorder=3,
        )
    axes.set_title("Trades on the price")
    axes.grid(alpha=0.3)
    axes.legend()
    return figure


def _months(equity: Series) -> Figure:
    table = monthly_returns(equity)
    figure, axes = _figure()
    values = table.to_numpy()
    limit = max(float(abs(table).max().max()), 1e-9) if table.notna().any().any() else 1.0
    image = axes.imshow(values, cmap="RdYlGn", vmin=-limit, vmax=limit, aspect="auto")
    axes.set_xticks(range(12), ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"])
    axes.set_yticks(range(len(table.index)), [str(year) for year in table.index])
    for row, year_values in enumerate(values):
        for column, value in enumerate(year_values):
            if value == value:  # not NaN: a month with data
                axes.text(column, row, f"{value:+.1%}", ha="center", va="center", fontsize=9)
    axes.set_title("Monthly returns")
    figure.colorbar(image, ax=axes)
    return figure


def _heat(heat: dict[str, Any]) -> Figure:
    import numpy as np

    figure, axes = _figure()
    values = np.array([[np.nan if v is None else v for v in row] for row in heat["z"]], dtype=float)
    image = axes.imshow(values, cmap="RdYlGn", aspect="auto", origin="lower")
    axes.set_xticks(range(len(heat["xs"])), [str(v) for v in heat["xs"]])
    axes.set_yticks(range(len(heat["ys"])), [str(v) for v in heat["ys"]])
    axes.set_xlabel(heat["x"])
    axes.set_ylabel(heat["y"])
    axes.set_title(f"Sweep: {heat['metric']} over {heat['y']} × {heat['x']}")
    figure.colorbar(image, ax=axes, label=heat["metric"])
    return figure

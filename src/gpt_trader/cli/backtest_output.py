"""What `gpt-trader backtest` prints: what was tested, how long it took, and the results beside buy-and-hold."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from gpt_trader.cli.output import console

if TYPE_CHECKING:
    from rich.table import Table

    from gpt_trader.backtest.api import SweepResult
    from gpt_trader.backtest.settings import SimulationSettings
    from gpt_trader.market.bars import Bars

BUY_AND_HOLD_NOTE = (
    "b&h (buy and hold): all-in at the first fill, sold at the last close, same fees and spread both ways. "
    "Every metric is defined in docs/metrics.md."
)
METRIC_COLUMNS = ("return", "b&h", "sharpe", "max dd", "trades", "win")


def print_report(result: SweepResult, source: str, top: int, sort: str) -> None:
    out = console()
    out.print(tested_header(result.bars, source, result.settings), markup=False)
    out.print(timing_line(result), markup=False)
    for note in skipped_notes(result):
        out.print(note, markup=False)
    if not result.backtests:
        return
    summary = _table("Per strategy (averages over its backtests)", ("strategy",), ("backtests",), ())
    for row in result.summary_rows():
        summary.add_row(
            row["strategy"], str(row["backtests"]), _pct(row["avg_return"]), _pct(row["avg_buy_and_hold_return"]),
            _num(row["avg_sharpe"]), _pct(row["avg_max_drawdown"]), _num(row["avg_trades"], 1),
            _pct(row["avg_win_rate"]),
        )
    out.print(summary)
    if top:
        table = _table(f"Top {min(top, result.backtests)} by {sort}", ("strategy", "product"), (), ("params",))
        for number in result.ranked(sort)[:top]:
            row = result.row(number)
            table.add_row(
                row["strategy"], row["product_id"], _pct(row["total_return"]), _pct(row["buy_and_hold_return"]),
                _num(row["sharpe"]), _pct(row["max_drawdown"]), str(row["trades"]), _pct(row["win_rate"]),
                _params(row["params"]),
            )
        out.print(table)
    out.print(BUY_AND_HOLD_NOTE, markup=False)


def _table(title: str, labels: tuple[str, ...], counts: tuple[str, ...], trailing: tuple[str, ...]) -> Table:
    """A compact table that fits 80 columns: `labels`, `counts` and the metrics (numbers never broken), then
    `trailing` (text that wraps at spaces, one parameter a line when narrow)."""
    from rich import box
    from rich.table import Table

    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, padding=(0, 0), pad_edge=False)
    for label in labels:
        table.add_column(label, overflow="fold")
    for column in (*counts, *METRIC_COLUMNS):
        table.add_column(column, justify="right", no_wrap=True)
    for label in trailing:
        table.add_column(label, min_width=14)
    return table


def tested_header(bars: dict[str, Bars], source: str, settings: SimulationSettings) -> str:
    """One line: where the candles came from, their range and count, and what each fill costs."""
    return f"Data: {source}, {_ranges(bars)}. Costs: {_costs(settings)}."


def _ranges(bars: dict[str, Bars]) -> str:
    first = next(iter(bars.values()))
    size = first.granularity.short
    shapes = {(b.start, b.end, len(b)) for b in bars.values()}
    if len(shapes) == 1:
        each = " per product" if len(bars) > 1 else ""
        return f"{_span(first.start, first.end)} UTC, {len(first):,} {size} bars{each}"
    return "; ".join(f"{p} {_span(b.start, b.end)} UTC ({len(b):,} {size} bars)" for p, b in bars.items())


def _span(start: int, end: int) -> str:
    from datetime import UTC, datetime

    def shown(seconds: int) -> str:
        return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M")

    return f"{shown(start)} → {shown(end)}"


def _costs(settings: SimulationSettings) -> str:
    parts = [
        f"fee {settings.fee_rate:.2%} per fill",
        f"fill {settings.fill}",
        f"half-spread {settings.half_spread_bps:g} bps",
        f"slippage {settings.slippage_bps:g} bps",
        f"starting cash {settings.initial_cash:,.2f}",
    ]
    for name, label in (("stop_loss", "stop-loss"), ("take_profit", "take-profit"), ("trailing_stop", "trailing stop")):
        level = getattr(settings, name)
        if level is not None:
            parts.append(f"{label} {level:.2%}")
    if settings.fraction != 1.0:
        parts.append(f"{settings.fraction:.0%} of equity per entry")
    if settings.allow_short:
        parts.append("shorts allowed")
    return ", ".join(parts)


def timing_line(result: SweepResult) -> str:
    count = result.backtests
    rate = count / max(result.seconds, 1e-9)
    size = next(iter(result.bars.values())).granularity.short
    return (
        f"{_count(count, 'backtest')} ({_count(len(result.strategies), 'strategy', 'strategies')} × "
        f"{_count(len(result.bars), 'product')}, {size} candles) in {result.seconds:.2f} s: {rate:,.0f} backtests/s; "
        f"kernels compiled or loaded from cache in {result.compile_seconds:.2f} s beforehand"
    )


def skipped_notes(result: SweepResult) -> list[str]:
    """A line per strategy whose grid held combinations it refuses (e.g. fast >= slow), saying how many."""
    return [
        f"{space.strategy.name}: {space.refused:,} of {space.grid_size:,} combinations skipped, "
        f"refused by the strategy (first: {space.refusal})"
        for space in result.spaces
        if space.refused
    ]


def _count(number: int, singular: str, plural: str | None = None) -> str:
    return f"{number:,} {singular if number == 1 else plural or singular + 's'}"


def _pct(value: float) -> str:
    return "—" if value is None or math.isnan(value) else f"{value:+.1%}"


def _num(value: float, digits: int = 2) -> str:
    return "—" if value is None or math.isnan(value) else f"{value:.{digits}f}"


def _params(params: dict[str, Any]) -> str:
    return " ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())

"""The tables of a trading run: one live table per strategy while it runs, the summary when it ends.

Both read `Engine.status()` (`trading.engine.InstanceStatus`): money in the quote currency, win rate over
closed round trips, drawdown as a fraction of the peak.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from gpt_trader.trading.engine import InstanceStatus

SIGNALS = {1: "buy", -1: "sell", 0: "-"}


def live_tables(statuses: Sequence[InstanceStatus], feed_health: str, elapsed: float, left: float | None) -> Group:
    """One table per strategy (equity, PnL, position, trades, fees, last signal), under a line on the feed."""
    remaining = "until Ctrl-C" if left is None else f"{max(left, 0.0):.0f} s left"
    header = Text(f"paper trading: {elapsed:.0f} s, {remaining}; feed: {feed_health}")
    tables: list[Table | Text] = [header]
    for strategy, rows in _by_strategy(statuses).items():
        table = Table(title=strategy, title_justify="left", expand=False)
        for column in ("product", "account", "equity", "PnL", "position", "trades", "fees", "last signal"):
            table.add_column(column, justify="left" if column in ("product", "account") else "right")
        for row in rows:
            table.add_row(
                row.product_id, row.account, _money(row.equity), _signed(row.pnl), _units(row.units),
                str(row.trades), _money(row.fees),
                SIGNALS.get(row.last_signal, str(row.last_signal)) if row.error is None else "failed",
            )
        tables.append(table)
    return Group(*tables)


def summary_table(statuses: Sequence[InstanceStatus]) -> Table:
    """Return, trades, fees, win rate over closed round trips and max drawdown, per instance."""
    table = Table(title="paper trading summary", title_justify="left")
    for column in ("strategy", "product", "account", "return", "trades", "fees", "win rate", "max drawdown",
                   "final equity"):
        table.add_column(column, justify="left" if column in ("strategy", "product", "account") else "right")
    for row in statuses:
        win_rate = "-" if row.win_rate is None else f"{row.win_rate:.0%}"
        table.add_row(
            row.strategy, row.product_id, row.account, f"{row.total_return:+.2%}", str(row.trades), _money(row.fees),
            win_rate, f"{row.max_drawdown:.2%}", _money(row.equity) if row.error is None else f"failed: {row.error}",
        )
    return table


def instance_rows(statuses: Sequence[InstanceStatus]) -> list[dict[str, Any]]:
    """One JSON-ready row per instance, for --json and --csv: the backtest's names where they exist."""
    return [
        {
            "strategy": row.strategy, "product": row.product_id, "params": dict(row.params), "account": row.account,
            "trades": row.trades, "closed_trades": row.closed_trades, "starting_cash": str(row.capital),
            "final_equity": str(row.equity), "pnl": str(row.pnl), "total_return": row.total_return,
            "fees": str(row.fees), "win_rate": row.win_rate, "max_drawdown": row.max_drawdown, "error": row.error,
        }
        for row in statuses
    ]


def _by_strategy(statuses: Sequence[InstanceStatus]) -> Mapping[str, list[InstanceStatus]]:
    grouped: dict[str, list[InstanceStatus]] = {}
    for row in statuses:
        grouped.setdefault(row.strategy, []).append(row)
    return grouped


def _money(amount: Decimal) -> str:
    return f"{amount:,.2f}"


def _signed(amount: Decimal) -> str:
    return f"{amount:+,.2f}"


def _units(units: Decimal) -> str:
    return "flat" if not units else f"{units.normalize():f}"

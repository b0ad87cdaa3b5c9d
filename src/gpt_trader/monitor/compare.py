"""One strategy across kinds of run: what its backtests promised beside what simulation and paper delivered.

Rows are `StoreViews.strategy_runs`: one per backtest result and per trading account. Returns are over
each run's own period, so the gap reads as "paper earned this much less (or more) than the backtests of
the same product", not as a per-day rate.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from statistics import fmean
from typing import Any

# The kinds `compare` lines up, in the order evidence grows: research, replay, then the market itself.
COMPARED_KINDS = (
    ("backtest", ("backtest", "sweep")),
    ("simulation", ("simulation",)),
    ("paper", ("paper",)),
    ("live", ("live",)),
)


def summarise(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per compared kind: how many runs and records, their mean return and win rate, closed trades."""
    summary = []
    for label, kinds in COMPARED_KINDS:
        chosen = [row for row in rows if row["kind"] in kinds]
        summary.append(
            {
                "kind": label,
                "runs": len({row["run_id"] for row in chosen}),
                "records": len(chosen),
                "mean_return": _mean(row["total_return"] for row in chosen),
                "mean_win_rate": _mean(row["win_rate"] for row in chosen),
                "closed_trades": sum(row["closed_trades"] or 0 for row in chosen) if chosen else None,
            }
        )
    return summary


def gaps(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per product with both: the mean paper return minus the mean backtest return."""
    returns: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        side = "backtest" if row["kind"] in ("backtest", "sweep") else row["kind"]
        if row["total_return"] is not None:
            returns[row["product_id"]][side].append(float(row["total_return"]))
    found = []
    for product, by_side in sorted(returns.items()):
        if by_side.get("backtest") and by_side.get("paper"):
            backtest, paper = fmean(by_side["backtest"]), fmean(by_side["paper"])
            found.append(
                {"product_id": product, "backtest_return": backtest, "paper_return": paper, "gap": paper - backtest}
            )
    return found


def _mean(values: Iterable[Any]) -> float | None:
    present = [float(value) for value in values if value is not None]
    return fmean(present) if present else None

"""Shaping a sweep's results for a picture: the parameter heat map."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from statistics import fmean
from typing import Any

from gpt_trader.errors import UserError
from gpt_trader.store.schema import METRIC_COLUMNS


def parameter_names(results: Sequence[dict[str, Any]]) -> list[str]:
    """Every parameter that takes more than one value across `results`, in first-seen order."""
    values: dict[str, set[str]] = {}
    for row in results:
        for name, value in row["params"].items():
            values.setdefault(name, set()).add(repr(value))
    return [name for name, seen in values.items() if len(seen) > 1]


def heatmap(
    results: Sequence[dict[str, Any]], x: str | None = None, y: str | None = None, metric: str = "sharpe"
) -> dict[str, Any]:
    """The mean of `metric` for each (x, y) pair of parameter values, over every other parameter.

    `x` and `y` default to the first two parameters that vary. Cells with no finite value are None.
    UserError names what is missing: a metric that does not exist, or a parameter the results lack.
    """
    if metric not in METRIC_COLUMNS:
        raise UserError(f"metric {metric!r} does not exist; choose one of {', '.join(METRIC_COLUMNS)}")
    varying = parameter_names(results)
    x = x or (varying[0] if varying else None)
    y = y or next((name for name in varying if name != x), None)
    if x is None or y is None or x == y:
        raise UserError(
            "a heat map needs two different parameters that vary across the results; "
            f"this run varies {', '.join(varying) or 'none'}"
        )
    for axis, name in (("x", x), ("y", y)):
        if not any(name in row["params"] for row in results):
            raise UserError(
                f"{axis} parameter {name!r} is not a parameter of these results; choose from {', '.join(varying)}"
            )
    cells: dict[tuple[Any, Any], list[float]] = defaultdict(list)
    for row in results:
        if x in row["params"] and y in row["params"]:
            value = row[metric]
            if value is not None and math.isfinite(value):
                cells[row["params"][x], row["params"][y]].append(float(value))
            else:
                cells.setdefault((row["params"][x], row["params"][y]), [])
    xs = sorted({key[0] for key in cells}, key=_order)
    ys = sorted({key[1] for key in cells}, key=_order)
    z = [[fmean(cells[(a, b)]) if cells.get((a, b)) else None for a in xs] for b in ys]
    return {"x": x, "y": y, "metric": metric, "xs": xs, "ys": ys, "z": z, "parameters": varying}


def _order(value: Any) -> tuple[int, Any]:
    """Numbers in numeric order, then everything else by its text."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (0, value)
    return (1, str(value))

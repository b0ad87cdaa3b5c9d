"""`backtest --json/--csv`: every result row with the data range and settings that produced it.

`check_writable` runs before the work starts, so a mistyped folder fails in a second, not after the sweep.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gpt_trader.errors import UserError

if TYPE_CHECKING:
    import pandas as pd

    from gpt_trader.backtest.api import SweepResult


def check_writable(path: Path, flag: str) -> None:
    """A UserError now if `path` could not be written later (missing or read-only folder, a folder's name)."""
    folder = path.parent
    if not folder.is_dir():
        raise UserError(f"{flag} {path}: the folder {folder} does not exist; create it or choose another path")
    if path.is_dir():
        raise UserError(f"{flag} {path}: is a folder; give a file name, e.g. {path / 'results'}{path.suffix}")
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise UserError(f"{flag} {path}: not writable; choose a path in a folder you may write to")


def data_description(result: SweepResult, source: str) -> dict[str, Any]:
    """The candles a sweep read: source, granularity, and each product's range and bar count."""
    from gpt_trader.market.bars import iso_time

    granularity = next(iter(result.bars.values())).granularity
    return {
        "source": source,
        "granularity": granularity.short,
        "products": {
            product: {"start": iso_time(bars.start), "end": iso_time(bars.end), "bars": len(bars)}
            for product, bars in result.bars.items()
        },
    }


def write_json(result: SweepResult, source: str, path: Path) -> None:
    document = {
        "data": data_description(result, source),
        "settings": asdict(result.settings),
        "run_id": result.run_id,
        "seconds": result.seconds,
        "compile_seconds": result.compile_seconds,
        "trials": result.trials,
        "skipped": {
            space.strategy.name: {"count": space.refused, "reason": space.refusal}
            for space in result.spaces
            if space.refused
        },
        "failures": result.failures,
        "results": _rows(result.table),
    }
    _write(path, lambda: path.write_text(json.dumps(document, indent=1, default=str)))


def write_csv(result: SweepResult, source: str, path: Path) -> None:
    """One row per backtest: its metrics, then the product's range and bar count, then the settings."""
    products = data_description(result, source)["products"]
    frame = result.table.copy()
    frame["params"] = [json.dumps(p) for p in frame["params"]]
    for field in ("start", "end", "bars"):
        frame[field] = [products[product][field] for product in frame["product_id"]]
    frame["granularity"] = next(iter(result.bars.values())).granularity.short
    frame["source"] = source
    for name, value in asdict(result.settings).items():
        frame[name] = value
    _write(path, lambda: frame.to_csv(path, index=False))


def _rows(table: pd.DataFrame) -> list[dict[str, Any]]:
    records = table.to_dict(orient="records")
    for record in records:
        for key, value in record.items():
            if isinstance(value, float) and not math.isfinite(value):
                # JSON has no NaN or infinity: NaN (undefined) becomes null, infinities stay readable.
                record[key] = None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return records


def _write(path: Path, write: Callable[[], object]) -> None:
    try:
        write()
    except OSError as error:
        raise UserError(f"cannot write {path}: {error.strerror or error}") from None

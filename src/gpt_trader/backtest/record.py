"""Recording a sweep in the performance database: one run, one result row per backtest."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from gpt_trader.backtest.metrics import METRIC_NAMES
from gpt_trader.config import Settings, load_settings
from gpt_trader.market.sources import source_url
from gpt_trader.store.plain import RunKind, RunStatus
from gpt_trader.store.sqlite_runs import RunRecorder, open_run_recorder

if TYPE_CHECKING:
    from gpt_trader.backtest.api import SweepResult


def record_sweep(
    result: SweepResult,
    *,
    name: str,
    config: Mapping[str, Any],
    data_fingerprint: str,
    data_range: tuple[datetime, datetime],
    store: RunRecorder | None = None,
    settings: Settings | None = None,
) -> SweepResult:
    """Store the run and every result row in `store` (default: the database `settings` name); returns the
    result with its `run_id` set.

    The config gains `source_url`, the address the candles of its `source` came from (a sandbox or Coinbase).
    """
    settings = settings or load_settings()
    if store is None:
        with open_run_recorder(settings.database) as opened:
            return record_sweep(
                result, name=name, config=config, data_fingerprint=data_fingerprint, data_range=data_range,
                store=opened, settings=settings,
            )
    source = config.get("source")
    config = {**config, "source_url": source_url(source, settings) if isinstance(source, str) else None}
    granularity = next(iter(result.bars.values())).granularity
    rows = [
        {
            "strategy": record["strategy"],
            "product_id": record["product_id"],
            "granularity": granularity,
            "params": record["params"],
            **{metric: _plain(record[metric]) for metric in METRIC_NAMES},
        }
        for record in map(result.row, range(result.backtests))
    ]
    kind = RunKind.SWEEP if result.trials > len(result.strategies) * len(result.bars) else RunKind.BACKTEST
    run_id = store.start_run(
        kind, name, dict(config), data_fingerprint=data_fingerprint, data_range=data_range, trials=result.trials
    )
    store.add_backtest_results(run_id, rows)
    store.finish_run(run_id, RunStatus.FINISHED)
    return dataclasses.replace(result, run_id=run_id)


def _plain(value: Any) -> Any:
    # inf (a profit factor without losses) has no SQL form; stored as NULL like NaN.
    return None if isinstance(value, float) and not math.isfinite(value) else value

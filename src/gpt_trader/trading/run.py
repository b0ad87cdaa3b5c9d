"""A trading run in the store: its run record, its session and one account per strategy instance.

`sim` and `paper` both start here: `start_trading_run` records the run (config and code version, through
the store's run record), the session and the accounts with how each trades; the engine writes the trading
record into them; `finish_trading_run` stores the final state the session ends with (final equity per
account, the engine's and the feed's statistics) and how the run ended.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict
from datetime import datetime
from typing import Any, Literal

from gpt_trader.store.db import Store
from gpt_trader.store.schema import RunKind, RunStatus, SessionMode
from gpt_trader.trading.engine import EngineSummary
from gpt_trader.trading.instance import InstanceSpec

RunKindName = Literal["simulation", "paper"]


def start_trading_run(
    store: Store,
    kind: RunKindName,
    specs: Sequence[InstanceSpec],
    config: Mapping[str, Any],
    *,
    name: str | None = None,
    data_fingerprint: str | None = None,
    data_range: tuple[datetime, datetime] | None = None,
    quote_currency: str = "USD",
) -> tuple[int, int, dict[str, int]]:
    """Record a run of `specs`: returns (run id, session id, store account id by account name)."""
    strategies = sorted({spec.strategy for spec in specs})
    run_id = store.start_run(
        RunKind(kind), name or f"{kind}: {', '.join(strategies)}", config,
        data_fingerprint=data_fingerprint, data_range=data_range,
    )  # fmt: skip
    session_id = store.start_session(run_id, SessionMode(kind), strategies)
    account_ids = {}
    for spec in specs:
        account_ids[spec.account] = store.add_account(
            session_id, spec.account, strategy=spec.strategy, product_id=spec.product_id,
            starting_cash=spec.capital, quote_currency=quote_currency, params=dict(spec.params),
            settings=account_settings(spec),
        )  # fmt: skip
    return run_id, session_id, account_ids


def finish_trading_run(
    store: Store,
    run_id: int,
    session_id: int,
    summary: EngineSummary | None,
    *,
    status: RunStatus | str = RunStatus.FINISHED,
    error: str | None = None,
    feed: Mapping[str, Any] | None = None,
) -> None:
    """Store the session's final state and end the run with `status` (and `error` when it failed).

    `feed` adds the feed's own statistics (messages, gaps, reconnects) to what the engine counted.
    """
    if summary is not None:
        store.heartbeat(session_id, final_state(summary, feed))
    store.finish_run(run_id, status, error)


def final_state(summary: EngineSummary, feed: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """What a finished session stores as its state: JSON-ready numbers."""
    return {
        "final_equity": {status.account: str(status.equity) for status in summary.statuses},
        "failed": {status.account: status.error for status in summary.statuses if status.error},
        "engine": {
            "bars": summary.bars,
            "instance_bars": summary.instance_bars,
            "messages": summary.messages,
            "orders": summary.orders,
            "fills": summary.fills,
            "rejected_orders": summary.rejected_orders,
            "latency_p50_seconds": summary.latency_p50,
            "latency_p99_seconds": summary.latency_p99,
            "seconds": summary.seconds,
        },
        "feed": {
            **dict(feed or {}),
            "health": {str(connection): health.kind.value for connection, health in summary.feed_health.items()},
        },
    }


def account_settings(spec: InstanceSpec) -> dict[str, Any]:
    """How an instance trades, as its account row keeps it."""
    settings = asdict(spec.settings)
    settings.pop("initial_cash", None)
    return settings

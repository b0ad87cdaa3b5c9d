"""Batched writes of the trading record on a thread of their own, so the database never slows a feed.

A running engine calls the writer as it would call `Store` (same method names and arguments); each call
only queues a row and returns at once. A background thread writes whatever has queued in one
transaction per batch, through the same functions as `Store` (`writes.py`): each kind of row in one
statement, the kinds in the order their rows depend on each other (orders before their fills), and the
rows of a kind in the order the calls were made. Rows the caller gives no time take the writer's clock:
inject the market clock in a replay, so the record carries market times rather than the moment of the
replay.

Nothing is dropped quietly: if a batch cannot be written, the writer stops, and every later call and
`flush()` raise a `StoreError` naming the cause.

    with StoreWriter(store, clock=lambda: market_time) as writer:
        writer.add_equity_snapshot(account_id, cash=cash, position_value=value, units=units)
        writer.flush()      # everything queued so far is committed
"""

from __future__ import annotations

import queue
import threading
import time as wall_clock
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any, Self

from sqlalchemy.orm import Session

from gpt_trader.store import writes
from gpt_trader.store.base import StoreError, utc_now
from gpt_trader.store.db import Store
from gpt_trader.store.schema import AccountStatus, FeedEventKind, Liquidity, OrderSide

Money = writes.Money
_WRITERS: dict[str, Callable[[Session, Sequence[writes.Row]], object]] = {
    "order": writes.insert_orders,
    "order_update": writes.update_orders,
    "fill": writes.insert_fills,
    "round_trip": writes.insert_round_trips,
    "position": writes.upsert_position_states,
    "equity": writes.upsert_equity_snapshots,
    "account_status": writes.set_account_statuses,
    "feed_event": writes.insert_feed_events,
}
"""Each kind of row and its writer, in the order a batch writes them (a fill or update needs its order)."""
_FLUSH = "flush"
_STOP = "stop"


@dataclass(frozen=True, slots=True)
class WriterStats:
    rows: int
    batches: int
    largest_batch: int
    seconds_writing: float
    queued: int
    """Rows waiting now."""


class StoreWriter:
    """Queues trading-record writes and commits them in batches on a background thread."""

    def __init__(self, store: Store, *, clock: Callable[[], datetime] = utc_now, max_batch: int = 20_000) -> None:
        self.store = store
        self.clock = clock
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        self._error: BaseException | None = None
        self._closed = False
        self._rows = self._batches = self._largest = 0
        self._seconds = 0.0
        self._thread = threading.Thread(target=self._run, name="store-writer", daemon=True)
        self._thread.start()

    # The trading record, as on `Store`: each call queues one row.

    def record_order(
        self,
        account_id: int,
        client_order_id: str,
        *,
        product_id: str,
        side: OrderSide | str,
        order_type: str,
        status: str,
        config: Mapping[str, Any] | None = None,
        base_size: Money | None = None,
        quote_size: Money | None = None,
        limit_price: Money | None = None,
        stop_price: Money | None = None,
        exchange_order_id: str | None = None,
        time: datetime | None = None,
    ) -> None:
        self._put(
            "order",
            writes.order_row(
                account_id,
                client_order_id,
                product_id=product_id,
                side=side,
                order_type=order_type,
                status=status,
                time=time or self.clock(),
                config=config,
                base_size=base_size,
                quote_size=quote_size,
                limit_price=limit_price,
                stop_price=stop_price,
                exchange_order_id=exchange_order_id,
            ),
        )

    def update_order(
        self,
        client_order_id: str,
        status: str,
        *,
        exchange_order_id: str | None = None,
        reject_reason: str | None = None,
        time: datetime | None = None,
    ) -> None:
        self._put(
            "order_update",
            writes.order_update_row(
                client_order_id,
                status,
                time=time or self.clock(),
                exchange_order_id=exchange_order_id,
                reject_reason=reject_reason,
            ),
        )

    def add_fill(
        self,
        client_order_id: str,
        *,
        trade_id: str,
        price: Money,
        size: Money,
        fee: Money,
        liquidity: Liquidity | str,
        time: datetime | None = None,
        bid: Money | None = None,
        ask: Money | None = None,
    ) -> None:
        """Queue a fill; one whose trade id is already recorded for its order is skipped when written."""
        self._put(
            "fill",
            writes.fill_row(
                client_order_id,
                trade_id=trade_id,
                price=price,
                size=size,
                fee=fee,
                liquidity=liquidity,
                time=time or self.clock(),
                bid=bid,
                ask=ask,
            ),
        )

    def add_equity_snapshot(
        self,
        account_id: int,
        *,
        cash: Money,
        position_value: Money,
        units: Money = 0,
        time: datetime | None = None,
    ) -> None:
        row = writes.equity_row(
            account_id, cash=cash, position_value=position_value, units=units, time=time or self.clock()
        )
        self._put("equity", row)

    def save_position_state(
        self,
        account_id: int,
        *,
        product_id: str,
        units: Money,
        entry_price: Money | None = None,
        entry_time: datetime | None = None,
        stop_loss_level: float | None = None,
        take_profit_level: float | None = None,
        trailing_best: float | None = None,
        pending_signal: int | None = None,
        last_bar_time: datetime | None = None,
        time: datetime | None = None,
    ) -> None:
        self._put(
            "position",
            writes.position_row(
                account_id,
                product_id=product_id,
                units=units,
                time=time or self.clock(),
                entry_price=entry_price,
                entry_time=entry_time,
                stop_loss_level=stop_loss_level,
                take_profit_level=take_profit_level,
                trailing_best=trailing_best,
                pending_signal=pending_signal,
                last_bar_time=last_bar_time,
            ),
        )

    def add_round_trip(
        self,
        account_id: int,
        *,
        product_id: str,
        side: OrderSide | str,
        units: Money,
        entry_time: datetime,
        entry_price: Money,
        exit_time: datetime,
        exit_price: Money,
        fees: Money,
        pnl: Money,
        exit_reason: str,
    ) -> None:
        self._put(
            "round_trip",
            writes.round_trip_row(
                account_id,
                product_id=product_id,
                side=side,
                units=units,
                entry_time=entry_time,
                entry_price=entry_price,
                exit_time=exit_time,
                exit_price=exit_price,
                fees=fees,
                pnl=pnl,
                exit_reason=exit_reason,
            ),
        )

    def set_account_status(self, account_id: int, status: AccountStatus | str, error: str | None = None) -> None:
        self._put("account_status", writes.account_status_row(account_id, status, error))

    def record_feed_event(
        self,
        kind: FeedEventKind | str,
        detail: Mapping[str, Any] | None = None,
        *,
        session_id: int | None = None,
        product_id: str | None = None,
        connection: int | None = None,
        time: datetime | None = None,
    ) -> None:
        self._put(
            "feed_event",
            writes.feed_event_row(
                kind,
                time=time or self.clock(),
                detail=detail,
                session_id=session_id,
                product_id=product_id,
                connection=connection,
            ),
        )

    # Control.

    def flush(self, timeout: float | None = None) -> None:
        """Wait until every row queued before this call is committed; raise if writing failed."""
        self._check()
        done = threading.Event()
        self._queue.put((_FLUSH, done))
        if not done.wait(timeout):
            raise StoreError(f"the store writer did not finish writing within {timeout} s ({self.store.url})")
        self._check()

    def close(self) -> None:
        """Write everything queued, then stop the thread. Raises if any write failed."""
        if self._closed:
            return
        self._closed = True
        self._queue.put((_STOP, None))
        self._thread.join()
        if self._error is not None:
            raise StoreError(f"writing the trading record to {self.store.url} failed: {self._error}") from None

    @property
    def stats(self) -> WriterStats:
        return WriterStats(self._rows, self._batches, self._largest, self._seconds, self._queue.qsize())

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def _put(self, kind: str, row: writes.Row) -> None:
        self._check()
        if self._closed:
            raise StoreError("the store writer is closed")
        self._queue.put((kind, row))

    def _check(self) -> None:
        if self._error is not None:
            raise StoreError(f"writing the trading record to {self.store.url} failed: {self._error}")

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < self.max_batch:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            rows = [(kind, item) for kind, item in batch if kind in _WRITERS]
            if rows and self._error is None:
                self._write(rows)
            for kind, item in batch:
                if kind == _FLUSH:
                    item.set()
                elif kind == _STOP:
                    return

    def _write(self, rows: list[tuple[str, writes.Row]]) -> None:
        """One transaction for the batch: each kind's rows go to its writer in one call, in the order queued.

        Kinds are written in `_WRITERS`' order, so an order precedes its fills and updates even when they
        were queued in between other rows; no kind's rows depend on a later kind's.
        """
        started = wall_clock.perf_counter()
        by_kind: dict[str, list[writes.Row]] = {kind: [] for kind in _WRITERS}
        for kind, row in rows:
            by_kind[kind].append(row)
        try:
            with self.store._writing() as session:
                for kind, kind_rows in by_kind.items():
                    if kind_rows:
                        _WRITERS[kind](session, kind_rows)
        except Exception as error:  # kept, and raised to the caller by the next call (see _check)
            self._error = error
            return
        self._seconds += wall_clock.perf_counter() - started
        self._rows += len(rows)
        self._batches += 1
        self._largest = max(self._largest, len(rows))

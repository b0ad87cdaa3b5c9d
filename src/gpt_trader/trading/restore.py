"""Resuming a session's engine after a crash: its state re-derived, its record neither lost nor doubled.

With the bar fill model an instance's whole state (its ledger, its position, the stop and take-profit
levels, the trailing best, a pending signal, the rule cash) is a function of the bars it traded and the
rotation decisions that started and retired it. Both are durable: the decisions are in the store, and the
bars are the venue's candles. So a resumed session re-trades the bars from its start, as a crash-free run
would have, and the store tells which decisions it took already: the k-th order of an account is the
k-th decision of that account whatever process took it. `SessionWriter` gives every order the id
`s<session>-a<account>-<k>` and does not record again an order the store holds (its fills and round trips
are idempotent in the store too); one the crash kept from the store is recorded now, once.

If the re-derived k-th order is not the one the store holds (another side or size), the market's candles
no longer say what they said when the session traded them, and the session stops with a `SessionError`
rather than trade on a state the record contradicts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from gpt_trader.store.db import Store
from gpt_trader.store.schema import Order
from gpt_trader.store.writer import StoreWriter
from gpt_trader.trading.session_records import SessionError


class SessionWriter(StoreWriter):
    """A `StoreWriter` for a session's engine: order ids by account and sequence, and the orders the store
    holds already (from before a crash) checked rather than recorded twice."""

    def __init__(self, store: Store, session_id: int, account_ids: Sequence[int]) -> None:
        super().__init__(store)
        self.session_id = session_id
        self._recorded: dict[int, list[Order]] = {account_id: store.orders(account_id) for account_id in account_ids}
        self._sequence: dict[int, int] = {}
        self._ids: dict[str, str] = {}
        """The engine's client order id -> the session's."""
        self.confirmed = 0
        """Orders re-derived and found in the store already."""

    def track(self, account_id: int) -> None:
        """Follow an account that starts during the run (it has no orders yet, or had them before a crash)."""
        if account_id not in self._recorded:
            self._recorded[account_id] = self.store.orders(account_id)

    def record_order(self, account_id: int, client_order_id: str, *args: Any, **row: Any) -> None:
        number = self._sequence.get(account_id, 0) + 1
        self._sequence[account_id] = number
        session_id = f"s{self.session_id}-a{account_id}-{number}"
        self._ids[client_order_id] = session_id
        recorded = self._recorded.get(account_id, [])
        if number <= len(recorded):
            _check_same(recorded[number - 1], session_id, row)
            self.confirmed += 1
            return
        super().record_order(account_id, session_id, *args, **row)

    def update_order(self, client_order_id: str, *args: Any, **row: Any) -> None:
        super().update_order(self._ids.get(client_order_id, client_order_id), *args, **row)

    def add_fill(self, client_order_id: str, *args: Any, trade_id: str, **row: Any) -> None:
        session_id = self._ids.get(client_order_id, client_order_id)
        super().add_fill(session_id, *args, trade_id=trade_id.replace(client_order_id, session_id, 1), **row)


def _check_same(recorded: Order, session_id: str, row: Mapping[str, Any]) -> None:
    side, size = str(getattr(row.get("side"), "value", row.get("side"))), row.get("base_size")
    same_size = size is None or recorded.base_size is None or Decimal(str(size)) == recorded.base_size
    if recorded.client_order_id != session_id or recorded.side.value != side or not same_size:
        raise SessionError(
            f"resuming re-derived order {session_id} as {side} {size}, but the session recorded "
            f"{recorded.client_order_id} as {recorded.side.value} {recorded.base_size}: the feed's candles differ "
            "from those the session traded, so it cannot resume exactly; start a new session"
        )

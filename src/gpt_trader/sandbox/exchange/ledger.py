"""Balances per API key and currency, and the holds that open orders place on them.

Each key (a CDP key name) gets one account per currency the catalogue trades, created on first use with the
configured starting balances. `balance` is what the account owns; `hold` is the part reserved by open
orders; `available = balance - hold` is what a new order may spend. The engine keeps `available >= 0`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from gpt_trader.sandbox.exchange.model import ZERO

DEFAULT_STARTING_BALANCES: Mapping[str, Decimal] = {"USD": Decimal(100_000)}
_NAMESPACE = uuid.UUID("6f1c1d0e-5a55-4a7e-9d4c-6a1b0c5e2f31")
"""Fixed, so that a key's user, portfolio and account ids are the same on every run of the sandbox."""


def stable_id(*parts: str) -> str:
    """A UUID derived from `parts`: the same key always has the same user, portfolio and account ids."""
    return str(uuid.uuid5(_NAMESPACE, "/".join(parts)))


@dataclass(slots=True, eq=False)
class Account:
    """One currency's balance for one key."""

    sequence: int
    """Order of opening (a key's accounts are listed, and paged, in this order)."""
    uuid: str
    key_name: str
    currency: str
    balance: Decimal
    hold: Decimal
    created_at: datetime
    updated_at: datetime

    @property
    def available(self) -> Decimal:
        return self.balance - self.hold


class Ledger:
    """Every key's accounts. Callers (the engine) keep holds within balances; the ledger just records."""

    def __init__(
        self,
        currencies: Iterable[str],
        starting_balances: Mapping[str, Decimal],
        clock: Callable[[], datetime],
    ) -> None:
        funded = list(starting_balances)
        # Funded currencies first, so the first page of GET /accounts shows what a new key can trade with.
        self._currencies = funded + sorted(set(currencies) - set(funded))
        self._starting = dict(starting_balances)
        self._clock = clock
        self._accounts: dict[str, dict[str, Account]] = {}
        self._by_uuid: dict[str, Account] = {}

    def every_account(self) -> list[Account]:
        """Every key's accounts, in the order they were opened."""
        return sorted(self._by_uuid.values(), key=lambda account: account.sequence)

    def restore(self, accounts: Iterable[Account]) -> None:
        """Take back accounts saved by an earlier run (on a ledger that has opened none yet)."""
        for account in sorted(accounts, key=lambda account: account.sequence):
            self._accounts.setdefault(account.key_name, {})[account.currency] = account
            self._by_uuid[account.uuid] = account

    def accounts(self, key_name: str) -> list[Account]:
        """The key's accounts in a fixed order, opened with the starting balances on first use."""
        return list(self._book(key_name).values())

    def account(self, key_name: str, currency: str) -> Account:
        return self._book(key_name)[currency]

    def by_uuid(self, key_name: str, account_uuid: str) -> Account | None:
        """The key's account with that uuid; None for another key's account, as for an unknown one."""
        self._book(key_name)
        found = self._by_uuid.get(account_uuid)
        return found if found is not None and found.key_name == key_name else None

    def place_hold(self, account: Account, amount: Decimal) -> None:
        account.hold += amount
        account.updated_at = self._clock()

    def release_hold(self, account: Account, amount: Decimal) -> None:
        account.hold -= amount
        account.updated_at = self._clock()

    def move(self, account: Account, amount: Decimal) -> None:
        """Credit (`amount > 0`) or debit the balance."""
        account.balance += amount
        account.updated_at = self._clock()

    def _book(self, key_name: str) -> dict[str, Account]:
        book = self._accounts.setdefault(key_name, {})
        for currency in self._currencies:
            # A restored key may lack a currency the catalogue has gained since.
            if currency not in book:
                book[currency] = self._open(key_name, currency)
        return book

    def _open(self, key_name: str, currency: str) -> Account:
        now = self._clock()
        account = Account(
            sequence=len(self._by_uuid),
            uuid=stable_id(key_name, "account", currency),
            key_name=key_name,
            currency=currency,
            balance=self._starting.get(currency, ZERO),
            hold=ZERO,
            created_at=now,
            updated_at=now,
        )
        self._by_uuid[account.uuid] = account
        return account

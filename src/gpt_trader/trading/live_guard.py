"""What stands between a strategy and real money: the two opt-ins and the limits of a live session.

Live orders are off unless the session file says `live = true` *and* the command was given `--live`;
`LiveGuard.from_flags` is the one way to get the guard a `CoinbaseBroker` needs, and it refuses, naming
the opt-in that is missing, unless both are given::

    guard = LiveGuard.from_flags(session_live=session_file.live, cli_live=options.live)
    limits = session_file.live_limits.limits()     # the file's [live_limits] table

`LiveLimits` are checked before every order leaves the process: the notional of one order, the notional
of a UTC day, the day's loss, and the number of open orders. A breach raises `LimitExceeded`, whose message
names the limit, the numbers, and what to do.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from decimal import Decimal

from gpt_trader.errors import ConfigError, UserError

SESSION_OPT_IN = "`live = true` in the session file"
COMMAND_OPT_IN = "`--live` on the command"


class LiveOrdersDisabled(UserError):
    """Live orders were asked for without both opt-ins."""


class LimitExceeded(UserError):
    """An order would break one of the session's live limits; nothing was sent.

    `limit` is the name of the limit (`max_order_notional`, `max_daily_notional`, `max_daily_loss`,
    `max_open_orders`), as the session file spells it.
    """

    def __init__(self, limit: str, message: str) -> None:
        self.limit = limit
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class LiveGuard:
    """Both opt-ins, as given. Build it with `from_flags`, which refuses unless both are true; a broker
    also checks `allows_orders` itself, so a guard built by hand cannot open the door either."""

    session_live: bool
    cli_live: bool

    @classmethod
    def from_flags(cls, session_live: bool, cli_live: bool) -> LiveGuard:
        guard = cls(session_live=session_live, cli_live=cli_live)
        guard.require()
        return guard

    @property
    def allows_orders(self) -> bool:
        return self.session_live is True and self.cli_live is True

    def require(self) -> None:
        """Raise `LiveOrdersDisabled`, naming what is missing, unless both opt-ins are given."""
        if self.allows_orders:
            return
        missing = [name for name, given in ((SESSION_OPT_IN, self.session_live), (COMMAND_OPT_IN, self.cli_live))
                   if given is not True]  # fmt: skip
        raise LiveOrdersDisabled(
            f"live orders are off: {' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} missing. Real "
            f"orders need both {SESSION_OPT_IN} and {COMMAND_OPT_IN}; without them, trade on paper."
        )


@dataclass(frozen=True, slots=True)
class LiveLimits:
    """The most a live session may do, in the quote currency (USD) unless said otherwise."""

    max_order_notional: Decimal
    """The most one order may be worth."""
    max_daily_notional: Decimal
    """The most the orders placed in one UTC day may be worth together."""
    max_daily_loss: Decimal
    """The most the day's fills may lose, fees included, marked at the price they would close at."""
    max_open_orders: int
    """The most orders the session may have open at once."""

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if field.name == "max_open_orders":
                if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                    raise ConfigError(f"max_open_orders must be a whole number of at least 1, not {value!r}")
            elif not isinstance(value, Decimal) or not value.is_finite() or value <= 0:
                raise ConfigError(f"{field.name} must be a positive amount, not {value!r}")

    def check(
        self, what: str, *, notional: Decimal, placed_today: Decimal, open_orders: int, lost_today: Decimal
    ) -> None:
        """Raise `LimitExceeded` if an order (`what`, worth `notional`) may not go out: after `placed_today`
        placed in this UTC day, with `open_orders` open, and the day's fills having lost `lost_today`."""
        if notional > self.max_order_notional:
            raise LimitExceeded("max_order_notional", (
                f"{what} is worth {notional}, above max_order_notional {self.max_order_notional}; no order was "
                "sent: place a smaller order or raise the limit in the session file"))  # fmt: skip
        if placed_today + notional > self.max_daily_notional:
            raise LimitExceeded("max_daily_notional", (
                f"{what} is worth {notional}; with the {placed_today} placed today (UTC) that is above "
                f"max_daily_notional {self.max_daily_notional}; no order was sent: wait for the next UTC day "
                "or raise the limit in the session file"))  # fmt: skip
        if open_orders >= self.max_open_orders:
            raise LimitExceeded("max_open_orders", (
                f"{what}: the session has {open_orders} open orders, max_open_orders is {self.max_open_orders}; "
                "no order was sent: cancel one or wait for a fill"))  # fmt: skip
        if lost_today >= self.max_daily_loss:
            raise LimitExceeded("max_daily_loss", (
                f"{what}: today's (UTC) fills have lost {lost_today}, at or above max_daily_loss "
                f"{self.max_daily_loss}; no order was sent: the session trades again on the next UTC day, or "
                "stop it with the kill switch"))  # fmt: skip

"""A strategy instance: one strategy with its parameters, trading one product on one account.

`InstanceSpec` is what a user asks for (as `backtest -s` names a strategy: a registry name or a strategy
file); `Instance` is the engine's live record of it: the strategy object, its resolved parameters, the
ledger account it trades, the last signal it gave and, once it has raised, the error that stopped it.
The rule state (`trading.rules.Position` and the rule cash) lives in the engine's state array, row
`Instance.row`, so that all instances of a product step in one compiled call.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

import numpy as np

from gpt_trader.backtest.settings import SimulationSettings
from gpt_trader.errors import UserError
from gpt_trader.strategies import Strategy, get_strategy
from gpt_trader.strategies.base import ParamValue, declared_lookback
from gpt_trader.trading.fees import FeeRates, FeeSchedule
from gpt_trader.trading.ledger import Account


@dataclass(frozen=True)
class InstanceSpec:
    """One strategy instance as asked for: `strategy` is a registry name or a strategy file (as `backtest
    -s` takes), `params` override its defaults, and `account` names the account it trades with `capital`
    of quote currency. `settings` carries the backtest's rules: fill rule, fee, spread, slippage, stops,
    sizing and shorting (its `initial_cash` is ignored in favour of `capital`)."""

    strategy: str
    params: Mapping[str, Any]
    product_id: str
    account: str
    capital: Decimal
    settings: SimulationSettings = field(default_factory=SimulationSettings)

    def __post_init__(self) -> None:
        if not isinstance(self.capital, Decimal) or not self.capital.is_finite() or self.capital <= 0:
            raise UserError(
                f"account {self.account}: capital must be a positive amount of quote currency, got {self.capital}; "
                "pass --capital with a number above 0"
            )

    @property
    def rule_settings(self) -> SimulationSettings:
        """The settings the position rules run with: these, starting from `capital`."""
        return replace(self.settings, initial_cash=float(self.capital))

    @property
    def fee_schedule(self) -> FeeSchedule:
        """The settings' fee as a flat rate for taker and maker fills alike, as the backtest charges it."""
        rate = Decimal(repr(self.settings.fee_rate))
        return FeeSchedule.flat(FeeRates(maker=rate, taker=rate))


@dataclass(eq=False)
class Instance:
    """The engine's record of one running strategy instance."""

    spec: InstanceSpec
    strategy: Strategy
    params: dict[str, ParamValue]
    row: int
    """This instance's row in the engine's rule-state array."""
    lookback: int
    account: Account
    last_signal: int = 0
    error: str | None = None
    """Why it stopped, once its strategy raised (the file and line of the failure included)."""
    kernel_params: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @property
    def running(self) -> bool:
        return self.error is None

    @property
    def label(self) -> str:
        shown = ",".join(f"{name}={value}" for name, value in self.params.items())
        return f"{self.strategy.name}({shown}) on {self.spec.product_id}"


def resolve_strategy(spec: InstanceSpec) -> tuple[Strategy, dict[str, ParamValue], int]:
    """The strategy `spec` names, its checked parameters and its lookback; a UserError names what is wrong."""
    strategy = get_strategy(spec.strategy)
    try:
        params = strategy.resolve(spec.params)
    except ValueError as error:
        raise UserError(f"{spec.strategy} for account {spec.account}: {error}") from None
    return strategy, params, declared_lookback(strategy, params)

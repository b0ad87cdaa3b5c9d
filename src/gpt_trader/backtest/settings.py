"""`SimulationSettings`: the fill rule, costs, stops and sizing of one backtest, checked on construction.

The kernel reads them as a small float vector (`kernel_params`) so that a sweep passes one array
instead of a dozen scalars; the `P_*` constants name its slots.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from gpt_trader.coinbase.constants import TAKER_FEE_RATE

FillMode = Literal["next_open", "close"]
FILL_MODES: tuple[FillMode, ...] = ("next_open", "close")

# Slots of the vector `SimulationSettings.kernel_params()` returns.
P_NEXT_OPEN = 0
P_FEE_RATE = 1
P_BUY_FACTOR = 2
P_SELL_FACTOR = 3
P_STOP_LOSS = 4
P_TAKE_PROFIT = 5
P_TRAILING_STOP = 6
P_FRACTION = 7
P_ALLOW_SHORT = 8
P_INITIAL_CASH = 9
N_PARAMS = 10

BPS = 1e-4


@dataclass(frozen=True)
class SimulationSettings:
    """How signals become fills, and what the fills cost.

    * `fill`: "next_open" (default) fills a signal of bar i at the open of bar i+1; "close" fills it at
      bar i's own close (the benchmark's seed-compatible rule, which assumes the close is tradable).
    * `fee_rate`: fraction of notional paid on every fill (default: Coinbase's entry-tier taker fee).
    * `half_spread_bps`, `slippage_bps`: each worsens every fill price in the trade's direction
      (a buy pays `price * (1 + (half_spread_bps + slippage_bps) / 10_000)`, a sell receives the mirror).
    * `stop_loss`, `take_profit`, `trailing_stop`: fractions of the entry fill price (0.05 = 5 %), or None.
    * `fraction`: share of equity committed on each entry (1.0 = all-in).
    * `allow_short`: False trades long only; True lets a bearish signal open a short.
    * `initial_cash`: starting cash in the quote currency.
    """

    fill: FillMode = "next_open"
    fee_rate: float = float(TAKER_FEE_RATE)
    half_spread_bps: float = 0.0
    slippage_bps: float = 0.0
    stop_loss: float | None = None
    take_profit: float | None = None
    trailing_stop: float | None = None
    fraction: float = 1.0
    allow_short: bool = False
    initial_cash: float = 10_000.0

    def __post_init__(self) -> None:
        if self.fill not in FILL_MODES:
            raise ValueError(f"fill must be one of {', '.join(FILL_MODES)}; got {self.fill!r}")
        _check_range("fee_rate", self.fee_rate, 0.0, 1.0, "e.g. 0.006 for a 0.6 % fee")
        _check_range("half_spread_bps", self.half_spread_bps, 0.0, 10_000.0, "in basis points, e.g. 5")
        _check_range("slippage_bps", self.slippage_bps, 0.0, 10_000.0, "in basis points, e.g. 2")
        if self.half_spread_bps + self.slippage_bps >= 10_000.0:
            raise ValueError(
                "half_spread_bps + slippage_bps must stay below 10000 (100 %), or a sell would fill at "
                f"a price <= 0; got {self.half_spread_bps} + {self.slippage_bps}"
            )
        for name in ("stop_loss", "trailing_stop"):
            level = getattr(self, name)
            if level is not None:
                hint = "a fraction of the entry price, e.g. 0.05, or None"
                _check_range(name, level, 0.0, 1.0, hint, open_low=True)
        if self.take_profit is not None:
            hint = "a fraction of the entry price, e.g. 0.1, or None"
            _check_range("take_profit", self.take_profit, 0.0, math.inf, hint, open_low=True)
        if not (isinstance(self.fraction, int | float) and 0.0 < self.fraction <= 1.0):
            raise ValueError(f"fraction must be in (0, 1] (1.0 = all-in); got {self.fraction!r}")
        if not isinstance(self.allow_short, bool):
            raise ValueError(f"allow_short must be True or False; got {self.allow_short!r}")
        if not (isinstance(self.initial_cash, int | float) and 0.0 < self.initial_cash < math.inf):
            raise ValueError(f"initial_cash must be a positive amount; got {self.initial_cash!r}")

    @classmethod
    def seed_compatible(cls) -> SimulationSettings:
        """The benchmark's common rules: long only, fill at the signal bar's close, 0.6 % fee, all-in."""
        return cls(fill="close", fee_rate=0.006)

    @property
    def buy_factor(self) -> float:
        """What a buy pays per unit of the quoted price."""
        return 1.0 + (self.half_spread_bps + self.slippage_bps) * BPS

    @property
    def sell_factor(self) -> float:
        """What a sell receives per unit of the quoted price."""
        return 1.0 - (self.half_spread_bps + self.slippage_bps) * BPS

    def kernel_params(self) -> np.ndarray:
        """The settings as the kernel reads them (see the `P_*` slots); a missing stop is NaN."""
        params = np.empty(N_PARAMS, dtype=np.float64)
        params[P_NEXT_OPEN] = 1.0 if self.fill == "next_open" else 0.0
        params[P_FEE_RATE] = self.fee_rate
        params[P_BUY_FACTOR] = self.buy_factor
        params[P_SELL_FACTOR] = self.sell_factor
        params[P_STOP_LOSS] = math.nan if self.stop_loss is None else self.stop_loss
        params[P_TAKE_PROFIT] = math.nan if self.take_profit is None else self.take_profit
        params[P_TRAILING_STOP] = math.nan if self.trailing_stop is None else self.trailing_stop
        params[P_FRACTION] = self.fraction
        params[P_ALLOW_SHORT] = 1.0 if self.allow_short else 0.0
        params[P_INITIAL_CASH] = self.initial_cash
        return params


def _check_range(
    name: str, value: object, low: float, high: float, hint: str, *, open_low: bool = False
) -> None:
    """`value` must be a real number in [low, high), or in (low, high) when `open_low`."""
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise ValueError(f"{name} must be a number ({hint}); got {value!r}")
    if value < low or (open_low and value == low) or value >= high:
        lower = f"> {low}" if open_low else f">= {low}"
        raise ValueError(f"{name} must be {lower} and < {high} ({hint}); got {value!r}")

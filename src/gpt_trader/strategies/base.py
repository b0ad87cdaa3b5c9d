"""The Strategy contract shared by every clock: vectorised backtests, the event engine, paper trading.

A strategy turns Bars into one signal per bar (`int8`):

* `LONG` (+1)  bullish: enter long when flat (or cover a short and go long when shorting is allowed);
* `SHORT` (-1) bearish: exit a long (or go short when flat and shorting is allowed);
* `HOLD` (0)   do nothing.

Signals must be causal: the signal at bar i may read only bars 0..i (see `check_lookahead`).
The event engine evaluates the same `signals` on the trailing `lookback` bars and acts on the
last one, so one definition serves every clock. Those bars must carry the same `price_increment`
as the backtest's (the product's, from its metadata): it decides whether prices are compared
exactly in ticks or as floats (see `strategies.ticks`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from gpt_trader.errors import UserError
from gpt_trader.market.bars import Bars

LONG = np.int8(1)
SHORT = np.int8(-1)
HOLD = np.int8(0)

ParamValue = int | float
Params = Mapping[str, ParamValue]


@dataclass(frozen=True)
class Param:
    """A tunable parameter: its default, the range a sweep may explore, and what it means.

    The type (int or float) is the default's type; `low` and `high` bound every accepted value.
    """

    default: ParamValue
    low: ParamValue
    high: ParamValue
    help: str = ""

    @property
    def kind(self) -> type:
        return type(self.default)

    def coerce(self, name: str, value: Any) -> ParamValue:
        """`value` as this parameter's type, or ValueError naming the parameter and its range."""
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"parameter {name} must be a number, got {value!r}") from None
        if self.kind is int:
            if number != int(number):
                raise ValueError(f"parameter {name} must be a whole number, got {value!r}")
            typed: ParamValue = int(number)
        else:
            typed = number
        if not self.low <= typed <= self.high:
            raise ValueError(f"parameter {name}={typed} is outside its range {self.low}..{self.high}")
        return typed


class IndicatorCache:
    """Indicator arrays of one product's bars, shared by every parameter combination of a sweep.

    Keys name the indicator and its inputs, e.g. ("sma", 20); `get` computes on first use. A cache
    belongs to the bars it was filled from: `bind(bars)` (which `indicator_cache` and `checked_signals`
    call) empties it when handed other bars, so a cache reused on each view of a growing buffer never
    returns the arrays of an earlier, shorter view. Bars are told apart by identity: a new Bars object,
    even one with equal values, starts afresh.
    """

    def __init__(self, bars: Bars | None = None) -> None:
        self._arrays: dict[Hashable, Any] = {}
        self._bars = bars
        self.hits = 0
        self.misses = 0

    @property
    def bars(self) -> Bars | None:
        """The bars the cached arrays were computed from (None until bound)."""
        return self._bars

    def bind(self, bars: Bars) -> IndicatorCache:
        """This cache, holding only arrays of `bars`: emptied first if it was filled from other bars."""
        if self._bars is not bars:
            self._arrays.clear()
            self._bars = bars
        return self

    def get(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        try:
            value = self._arrays[key]
        except KeyError:
            self.misses += 1
            value = self._arrays[key] = compute()
            return value
        self.hits += 1
        return value


def indicator_cache(bars: Bars, cache: IndicatorCache | None) -> IndicatorCache:
    """The cache a strategy's `signals` should use for `bars`: `cache` bound to them, or a new one."""
    return IndicatorCache(bars) if cache is None else cache.bind(bars)


class Strategy(ABC):
    """Base class of every strategy, built-in or a user's own.

    Subclasses set `name`, `description` and `params`, and implement `lookback` and `signals`.
    """

    name: ClassVar[str]
    description: ClassVar[str] = ""
    params: ClassVar[dict[str, Param]] = {}

    def defaults(self) -> dict[str, ParamValue]:
        return {name: param.default for name, param in self.params.items()}

    def resolve(self, overrides: Mapping[str, Any] | None = None) -> dict[str, ParamValue]:
        """Defaults updated by `overrides`, each checked; unknown names raise ValueError."""
        values = self.defaults()
        for key, raw in (overrides or {}).items():
            if key not in self.params:
                known = ", ".join(self.params) or "none"
                raise ValueError(f"strategy {self.name} has no parameter {key!r}; its parameters: {known}")
            values[key] = self.params[key].coerce(key, raw)
        self.validate(values)
        return values

    def validate(self, params: Params) -> None:  # noqa: B027 - an optional hook, not an abstract one
        """Raise ValueError for combinations that make no sense (e.g. fast >= slow). Default: all fine."""

    @abstractmethod
    def lookback(self, params: Params) -> int:
        """Bars the signal at a bar depends on, that bar included.

        Evaluating `signals` on the trailing `lookback(params)` bars must give the same last signal as
        the full history (the event engine relies on it; `check_lookback` verifies it on every bar).
        For a crossover of SMA(10) and SMA(30) that is 31: both averages on this bar and the one
        before. Indicators with unbounded memory (EMA, Wilder RSI) never forget their start; ask for
        enough bars that its weight, (1 - alpha)**n, falls below float64 resolution (about e**-50:
        fifty periods of Wilder's smoothing, twenty-five of an EMA's), or the signal can differ.
        """

    @abstractmethod
    def signals(self, bars: Bars, params: Params, cache: IndicatorCache | None = None) -> np.ndarray:
        """One int8 signal per bar (LONG, SHORT or HOLD), computed from bars 0..i for bar i."""


def trailing_signal(strategy: Strategy, bars: Bars, params: Params) -> int:
    """The signal at the last of `bars`, computed as the event engine does on each closed bar: from
    the trailing `strategy.lookback(params)` bars alone (all of them while there are fewer).

    It equals the full-history backtest's signal at that bar when `bars` carry the backtest's price
    increment; `check_lookback` holds the two equal on every bar of a history.
    """
    window = declared_lookback(strategy, params)
    if len(bars) == 0:
        raise UserError(f"strategy {strategy.name}: no bars to compute a signal from")
    recent = bars if len(bars) <= window else bars[-window:]
    return int(checked_signals(strategy, recent, params)[-1])


def declared_lookback(strategy: Strategy, params: Params) -> int:
    """`strategy.lookback(params)`, or a UserError naming the strategy when it is not at least 1."""
    window = strategy.lookback(params)
    if window < 1:
        raise UserError(f"strategy {strategy.name}: lookback() must be at least 1 bar, got {window}")
    return window


class InvalidSignals(UserError, ValueError):
    """Signals that break the contract: not one integer -1, 0 or 1 per bar."""


def valid_signals(signals: object, n_bars: int, where: str) -> np.ndarray:
    """`signals` as a contiguous int8 array of -1/0/+1, one per bar, or InvalidSignals naming `where`."""
    if not isinstance(signals, np.ndarray) or signals.ndim != 1:
        raise InvalidSignals(f"{where}: signals must be a 1-D NumPy array, got {type(signals).__name__}")
    if signals.shape != (n_bars,):
        raise InvalidSignals(f"{where}: expected {n_bars} signals (one per bar), got shape {signals.shape}")
    if signals.dtype.kind not in "iu":
        raise InvalidSignals(f"{where}: signals must be integers -1, 0 or 1, got dtype {signals.dtype}")
    if n_bars and (signals.min() < -1 or signals.max() > 1):
        bad = int(np.flatnonzero((signals < -1) | (signals > 1))[0])
        raise InvalidSignals(f"{where}: signal {signals[bad]} at bar {bad}; signals must be -1, 0 or 1")
    return np.ascontiguousarray(signals, dtype=np.int8)


def checked_signals(
    strategy: Strategy, bars: Bars, params: Params, cache: IndicatorCache | None = None
) -> np.ndarray:
    """`strategy.signals(...)` held to the contract (see `valid_signals`).

    For code that runs strategies it did not write (a user's file, a plugin): the error names the strategy.
    `cache` is bound to `bars` first, so a strategy that never binds it cannot read another's arrays.
    """
    bound = None if cache is None else cache.bind(bars)
    return valid_signals(strategy.signals(bars, params, bound), len(bars), f"strategy {strategy.name}")

"""Parameter spaces: the grids (ranges and lists) or random samples a sweep explores.

A value spec, as typed on the command line (`--param fast=5:50:5`) or given in Python:

* `10`            one value
* `5,10,20`       a list
* `5:50:5`        a range, stop included when the step lands on it (`start:stop:step`)
* `5:50`          a range with step 1

Combinations a strategy refuses (`Strategy.validate`, e.g. fast >= slow) are dropped and counted.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gpt_trader.errors import UserError
from gpt_trader.strategies.base import ParamValue, Strategy

ValueSpec = str | ParamValue | Sequence[ParamValue]


def parse_assignment(text: str) -> tuple[str, str]:
    """Split `name=spec`, or raise a UserError showing the expected form."""
    name, sep, spec = text.partition("=")
    if not sep or not name.strip() or not spec.strip():
        raise UserError(f"--param {text!r}: expected name=value, name=a,b,c or name=start:stop:step")
    return name.strip(), spec.strip()


def expand(strategy: Strategy, name: str, spec: ValueSpec) -> list[ParamValue]:
    """The values of one parameter spec, each coerced and range-checked by the strategy's Param."""
    if name not in strategy.params:
        known = ", ".join(strategy.params) or "none"
        raise UserError(f"strategy {strategy.name} has no parameter {name!r}; its parameters: {known}")
    param = strategy.params[name]
    try:
        raw = _raw_values(spec)
        values = [param.coerce(name, value) for value in raw]
    except ValueError as error:
        raise UserError(f"strategy {strategy.name}: {error}") from None
    if not values:
        raise UserError(f"strategy {strategy.name}: parameter {name}={spec!r} gives no values")
    return list(dict.fromkeys(values))


def _raw_values(spec: ValueSpec) -> list[float]:
    if isinstance(spec, int | float):
        return [spec]
    if not isinstance(spec, str):
        return [float(value) for value in spec]
    if "," in spec:
        return [_number(part) for part in spec.split(",") if part.strip()]
    if ":" in spec:
        parts = [_number(part) for part in spec.split(":")]
        if len(parts) not in (2, 3):
            raise ValueError(f"range {spec!r} must be start:stop or start:stop:step")
        start, stop = parts[0], parts[1]
        step = parts[2] if len(parts) == 3 else 1.0
        if step <= 0:
            raise ValueError(f"range {spec!r} needs a positive step")
        if stop < start:
            raise ValueError(f"range {spec!r} is empty: stop {stop:g} is below start {start:g}")
        count = math.floor((stop - start) / step + 1e-9) + 1
        return [round(start + i * step, 12) for i in range(count)]
    return [_number(spec)]


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{text.strip()!r} is not a number") from None


@dataclass(frozen=True)
class ParameterSpace:
    """The combinations of one strategy's parameters to evaluate."""

    strategy: Strategy
    combinations: tuple[dict[str, ParamValue], ...]
    refused: int
    """How many grid points the strategy refused (e.g. fast >= slow)."""
    refusal: str = ""
    """The strategy's reason for the first point it refused ("" when it refused none)."""
    grid_size: int = 0
    """Points of the grid these combinations come from, refused ones included."""

    def __len__(self) -> int:
        return len(self.combinations)

    def __iter__(self) -> Iterator[dict[str, ParamValue]]:
        return iter(self.combinations)


def grid(strategy: Strategy, specs: Mapping[str, ValueSpec] | None = None) -> ParameterSpace:
    """Every combination of the given values; parameters not named keep their defaults."""
    axes = {name: expand(strategy, name, spec) for name, spec in (specs or {}).items()}
    names = list(axes)
    points = (dict(zip(names, values, strict=True)) for values in itertools.product(*axes.values()))
    return _valid(strategy, points, specs)


def sample(
    strategy: Strategy, specs: Mapping[str, ValueSpec], count: int, seed: int = 0
) -> ParameterSpace:
    """`count` combinations drawn at random (without replacement) from the grid of `specs`."""
    if count < 1:
        raise UserError(f"a random sample needs at least one combination, got {count}")
    full = grid(strategy, specs)
    chosen = random.Random(seed).sample(list(full.combinations), min(count, len(full)))
    return ParameterSpace(strategy, tuple(chosen), full.refused, full.refusal, full.grid_size)


def _valid(
    strategy: Strategy, points: Iterator[dict[str, Any]], specs: Mapping[str, ValueSpec] | None
) -> ParameterSpace:
    kept: list[dict[str, ParamValue]] = []
    refused = 0
    first_reason = ""
    for point in points:
        try:
            kept.append(strategy.resolve(point))
        except ValueError as error:
            refused += 1
            first_reason = first_reason or str(error)
    if not kept:
        shown = ", ".join(f"{k}={v}" for k, v in (specs or {}).items())
        raise UserError(
            f"strategy {strategy.name}: no valid parameter combination in {shown} ({first_reason})"
        )
    return ParameterSpace(strategy, tuple(kept), refused, first_reason, len(kept) + refused)

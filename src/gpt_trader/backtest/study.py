"""The searches of `optimize`: which combinations of a strategy's parameters to run.

`grid` runs every combination of the value specs, `random` a sample of them, `optuna` lets an Optuna TPE
study propose them in batches, told each batch's objective before it proposes the next. The study lives in
an Optuna RDB storage, by default a SQLite file beside the project database (`study_storage`): its own file
because Optuna keeps its schema version in an `alembic_version` table, as the project database does. Running
the same study again resumes it: its finished trials are run again for the report (their scores are not
stored), and new ones are proposed until the study holds the requested number.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from gpt_trader.backtest.space import ValueSpec, expand, grid, sample
from gpt_trader.errors import UserError
from gpt_trader.strategies.base import ParamValue, Strategy

if TYPE_CHECKING:
    from optuna.distributions import BaseDistribution

METHODS = ("grid", "random", "optuna")
Combination = dict[str, ParamValue]
Evaluate = Callable[[Sequence[Combination]], list[float]]
"""evaluate(combinations) -> the objective of each, higher better."""


def study_storage(database_url: str) -> str:
    """The Optuna storage beside a SQLite project database: `gpt-trader.db` -> `gpt-trader-optuna.db`."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        raise UserError(
            f"the project database {url.render_as_string(hide_password=True)} is not a SQLite file, so there is "
            "no sibling file for the Optuna study; give one with --storage sqlite:///PATH or a database URL"
        )
    stem, dot, suffix = url.database.rpartition(".")
    path = f"{stem}-optuna.{suffix}" if dot else f"{url.database}-optuna"
    return str(url.set(database=path).render_as_string(hide_password=False))


def search_combinations(
    method: str, strategy: Strategy, specs: Mapping[str, ValueSpec], count: int | None, seed: int
) -> tuple[Combination, ...]:
    """The combinations `grid` or `random` runs (optuna proposes its own, see `run_study`)."""
    if method == "grid":
        return grid(strategy, specs).combinations
    if method == "random":
        return sample(strategy, specs, count or 100, seed).combinations
    raise UserError(f"--method {method!r}: choose one of {', '.join(METHODS)}")


def distributions(strategy: Strategy, specs: Mapping[str, ValueSpec]) -> dict[str, BaseDistribution]:
    """An Optuna distribution per searched parameter: stepped int or float ranges, else categorical."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    found: dict[str, BaseDistribution] = {}
    for name, spec in specs.items():
        values = sorted(expand(strategy, name, spec))
        steps = {round(b - a, 9) for a, b in itertools.pairwise(values)}
        if len(values) > 1 and len(steps) == 1:
            step = steps.pop()
            if all(isinstance(v, int) for v in values):
                found[name] = IntDistribution(int(values[0]), int(values[-1]), step=int(step))
            else:
                found[name] = FloatDistribution(float(values[0]), float(values[-1]), step=float(step))
        else:
            found[name] = CategoricalDistribution(values)
    return found


def run_study(
    strategy: Strategy,
    specs: Mapping[str, ValueSpec],
    trials: int,
    evaluate: Evaluate,
    *,
    storage: str,
    study_name: str,
    seed: int = 0,
    batch: int = 16,
) -> int:
    """Grow the study `study_name` to `trials` finished trials, `batch` proposals at a time; returns how many
    trials it had already (resumed from `storage`)."""
    import optuna
    from optuna.trial import TrialState

    optuna.logging.set_verbosity(logging.WARNING)
    if not specs:
        raise UserError(f"--method optuna searches parameters; give at least one --param for {strategy.name}")
    space = distributions(strategy, specs)
    _make_folder(storage)
    try:
        study = optuna.create_study(
            study_name=study_name, storage=storage, direction="maximize", load_if_exists=True,
            sampler=optuna.samplers.TPESampler(seed=seed),
        )
    except (ValueError, ImportError, optuna.exceptions.OptunaError, SQLAlchemyError) as error:
        raise UserError(f"cannot open the Optuna study storage {storage}: {error}") from None
    finished = [t for t in study.get_trials(deepcopy=False) if t.state is TrialState.COMPLETE]
    resumed = len(finished)
    if finished:
        evaluate([strategy.resolve(t.params) for t in finished])
    done = resumed
    # Refused points (fast >= slow, say) are told as pruned; bound the proposals so a space of mostly refused
    # points still ends.
    proposals = 0
    while done < trials and proposals < 20 * trials:
        asked = [study.ask(space) for _ in range(min(batch, trials - done))]
        proposals += len(asked)
        valid: list[tuple[Any, Combination]] = []
        for trial in asked:
            try:
                valid.append((trial, strategy.resolve(trial.params)))
            except ValueError:
                study.tell(trial, state=TrialState.PRUNED)
        values = evaluate([combination for _, combination in valid]) if valid else []
        for (trial, _), value in zip(valid, values, strict=True):
            study.tell(trial, value if math.isfinite(value) else -1e300)
        done += len(valid)
    return resumed


def _make_folder(storage: str) -> None:
    """Create the folder of a SQLite study file (the project database's may not exist yet)."""
    from pathlib import Path

    url = make_url(storage)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        try:
            Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise UserError(f"cannot create the folder of the Optuna study {url.database}: {error}") from None

"""The odds that a search's winner is luck: deflated Sharpe ratio, PBO by CSCV, and plateau stability.

* `deflated_sharpe` (Bailey & López de Prado 2014, "The Deflated Sharpe Ratio"): the probability that the
  winner's true Sharpe ratio beats the best Sharpe ratio that `trials` skill-less configurations would show
  by chance, given the winner's track length, skewness and kurtosis. Sharpe ratios here are per bar (not
  annualised), as the paper's formulas are per observation.
* `probability_of_overfitting` (Bailey, Borwein, López de Prado & Zhu 2015, "The Probability of Backtest
  Overfitting"): combinatorially symmetric cross-validation over a matrix of per-block performance, the
  share of in-sample/out-of-sample splits where the in-sample winner ranks below the median out of sample.
* `plateau_score`: how much of the winner's objective its neighbours on the parameter grid keep; a winner
  alone on a spike of the surface is more likely fitted noise than one on a plateau.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

EULER_GAMMA = 0.5772156649015329
SIGNIFICANCE = 0.95
"""A deflated Sharpe ratio at or above this is significant: 95 % odds the edge is not selection luck."""

_NORMAL = NormalDist()


def expected_max_sharpe(trials: int, sharpe_variance: float) -> float:
    """E[max SR] of `trials` independent skill-less configurations whose Sharpe ratios vary by `sharpe_variance`.

    The paper's approximation of the expected maximum of `trials` normal draws (its equation for SR_0).
    """
    if trials < 1:
        raise ValueError(f"trials must be 1 or more, got {trials}")
    if trials == 1:
        return 0.0
    spread = math.sqrt(max(sharpe_variance, 0.0))
    return spread * (
        (1 - EULER_GAMMA) * _NORMAL.inv_cdf(1 - 1 / trials)
        + EULER_GAMMA * _NORMAL.inv_cdf(1 - 1 / (trials * math.e))
    )


def probabilistic_sharpe(
    sharpe: float, benchmark: float, observations: int, skewness: float = 0.0, kurtosis: float = 3.0
) -> float:
    """P(true SR > benchmark) for an observed per-bar `sharpe` over `observations` returns.

    `kurtosis` is the plain (not excess) kurtosis: 3 for normal returns.
    """
    if observations < 2 or not math.isfinite(sharpe):
        return float("nan")
    spread = 1 - skewness * sharpe + (kurtosis - 1) / 4 * sharpe * sharpe
    if spread <= 0:
        return float("nan")
    return _NORMAL.cdf((sharpe - benchmark) * math.sqrt(observations - 1) / math.sqrt(spread))


def deflated_sharpe(
    sharpe: float,
    trials: int,
    sharpe_variance: float,
    observations: int,
    skewness: float = 0.0,
    kurtosis: float = 3.0,
) -> float:
    """The deflated Sharpe ratio: `probabilistic_sharpe` against the expected maximum of `trials` lucky ones."""
    benchmark = expected_max_sharpe(trials, sharpe_variance)
    return probabilistic_sharpe(sharpe, benchmark, observations, skewness, kurtosis)


def return_moments(returns: np.ndarray) -> tuple[float, float, float]:
    """(per-bar Sharpe, skewness, plain kurtosis) of a return series, population moments."""
    values = np.asarray(returns, dtype=np.float64)
    if len(values) < 2:
        return float("nan"), 0.0, 3.0
    mean = float(values.mean())
    std = float(values.std())
    if std == 0:
        return float("nan"), 0.0, 3.0
    centred = (values - mean) / std
    return mean / std, float(np.mean(centred**3)), float(np.mean(centred**4))


@dataclass(frozen=True)
class OverfittingReport:
    """CSCV's outcome: the PBO, and each split's logit of the in-sample winner's out-of-sample rank."""

    pbo: float
    logits: np.ndarray
    splits: int


def probability_of_overfitting(performance: np.ndarray, blocks: int = 16) -> OverfittingReport:
    """PBO by CSCV over `performance`, a (blocks × configurations) matrix of a performance score per block.

    Each of the C(blocks, blocks/2) splits takes half the blocks as in-sample (their scores averaged) and the
    rest as out-of-sample; the in-sample winner's out-of-sample rank ω among the N configurations, as
    ω = rank / (N + 1), gives the logit ln(ω / (1 - ω)); PBO is the share of splits with a logit <= 0.
    """
    matrix = np.asarray(performance, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] != blocks:
        raise ValueError(f"performance must be a matrix of {blocks} block rows, got shape {matrix.shape}")
    if blocks < 2 or blocks % 2:
        raise ValueError(f"CSCV needs an even number of blocks, at least 2; got {blocks}")
    configurations = matrix.shape[1]
    if configurations < 2:
        raise ValueError("PBO compares configurations: give at least two")
    matrix = np.where(np.isfinite(matrix), matrix, -np.inf)
    logits = []
    for chosen in itertools.combinations(range(blocks), blocks // 2):
        in_sample = np.zeros(blocks, dtype=bool)
        in_sample[list(chosen)] = True
        winner = int(np.argmax(matrix[in_sample].mean(axis=0)))
        out_of_sample = matrix[~in_sample].mean(axis=0)
        # Rank 1 is the worst out of sample, N the best; ties share their average rank.
        below = float(np.sum(out_of_sample < out_of_sample[winner]))
        tied = float(np.sum(out_of_sample == out_of_sample[winner]))
        omega = (below + (tied + 1) / 2) / (configurations + 1)
        logits.append(math.log(omega / (1 - omega)))
    values = np.array(logits)
    return OverfittingReport(pbo=float(np.mean(values <= 0)), logits=values, splits=len(values))


def plateau_score(
    combinations: Sequence[Mapping[str, float | int | bool]], objective: np.ndarray, winner: int
) -> float:
    """Median objective of the winner's grid neighbours over the winner's own (1 = a flat plateau).

    Neighbours are the evaluated combinations at most one step away on every parameter axis (a step being
    the gap between adjacent values evaluated on that axis) and not the winner itself. NaN when the winner
    has no neighbour, or a non-positive objective (then no share of it is meaningful).
    """
    best = float(objective[winner])
    if not math.isfinite(best) or best <= 0 or not combinations:
        return float("nan")
    names = list(combinations[winner])
    positions = np.empty((len(combinations), len(names)))
    for axis, name in enumerate(names):
        values = sorted({float(point[name]) for point in combinations})
        rank = {value: index for index, value in enumerate(values)}
        positions[:, axis] = [rank[float(point[name])] for point in combinations]
    distance = np.abs(positions - positions[winner]).max(axis=1) if names else np.zeros(len(combinations))
    near = (distance <= 1) & (np.arange(len(combinations)) != winner)
    scores = objective[near]
    scores = scores[np.isfinite(scores)]
    if len(scores) == 0:
        return float("nan")
    return float(np.median(scores) / best)


@dataclass(frozen=True)
class Evidence:
    """What is known of one candidate (NaN: unknown): its deflated Sharpe; out of sample (walk-forward, or the
    whole history without one) its Sharpe and its return over holding the product; PBO and plateau."""

    deflated_sharpe: float
    out_of_sample_sharpe: float = float("nan")
    pbo: float = float("nan")
    plateau: float = float("nan")
    over_holding: float = float("nan")


PLATEAU_FLOOR = 0.5
"""Below this share of the winner's objective in its neighbourhood, the winner sits on a spike."""


def verdict(evidence: Evidence) -> str:
    """A plain verdict: "likely luck", "fails out of sample", "trails buy-and-hold", "fragile",
    "holds out of sample" or "significant".

    Luck comes first: a deflated Sharpe below 95 % (or unknown) means the search alone explains the winner.
    A significant winner then needs a positive out-of-sample Sharpe and a PBO below one half where those were
    measured, to earn more than holding the product (a long bias on a market that happened to rise is not an
    edge), and neighbours that keep at least half its objective; without walk-forward it is only
    "significant" (in sample).
    """
    dsr = evidence.deflated_sharpe
    if not math.isfinite(dsr) or dsr < SIGNIFICANCE:
        return "likely luck"
    oos = evidence.out_of_sample_sharpe
    if math.isfinite(oos) and oos <= 0:
        return "fails out of sample"
    if math.isfinite(evidence.pbo) and evidence.pbo >= 0.5:
        return "fails out of sample"
    if math.isfinite(evidence.over_holding) and evidence.over_holding <= 0:
        return "trails buy-and-hold"
    if math.isfinite(evidence.plateau) and evidence.plateau < PLATEAU_FLOOR:
        return "fragile"
    return "holds out of sample" if math.isfinite(oos) else "significant"

"""Rotation: which candidates paper-trade, decided on evidence, with every decision's reason and numbers.

At each rotation a session

1. scores every candidate with a rapid backtest on the latest candles (`score_candidates`);
2. gathers what each of its paper accounts has shown since it started (`Evidence`: closed round trips, the
   Sharpe ratio of its equity curve, its drawdown, and its return against its own backtest on the same bars);
3. decides (`decide`), for each account: retire it when its drawdown passes the limit, when it has fallen
   short of its own backtest at several rotations in a row, or when it has closed enough round trips and
   still shows no edge; promote it when it has closed enough round trips with a Sharpe above the threshold;
   keep it otherwise. Free slots go to the best-scoring candidates that never traded in this session; every
   other candidate gets a `wait` decision saying why it was not started.

The Sharpe ratio that promotion needs is either the paper record's own (`out_of_sample`: no backtest has
seen those bars) or that ratio *deflated* for the number of candidates tried: less the Sharpe the best of
that many skill-less candidates would show by luck over as many returns (Bailey and López de Prado's
expected maximum of independent Sharpe estimates). `decide` is pure; `session.py` stores what it returns.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Literal

import numpy as np

from gpt_trader.backtest.settings import SimulationSettings
from gpt_trader.backtest.simulation import run_simulation
from gpt_trader.market.bars import Bars
from gpt_trader.strategies.base import checked_signals
from gpt_trader.strategies.registry import get_strategy
from gpt_trader.trading.session_file import Candidate, RotationSection

DecisionKind = Literal["start", "wait", "promote", "retire", "keep"]
SECONDS_PER_YEAR = 365 * 86400
_EULER_GAMMA = 0.5772156649015329


@dataclass(frozen=True)
class Score:
    """A candidate's rapid backtest on the latest candles."""

    sharpe: float
    total_return: float
    trades: int


@dataclass(frozen=True)
class Evidence:
    """What a paper account has shown since it started trading, and its own backtest on the same bars."""

    round_trips: int
    paper_return: float
    sharpe: float
    """Annualised, of the equity curve's returns; NaN with fewer than two returns."""
    returns: int
    """How many equity returns the Sharpe ratio is measured on."""
    periods_per_year: float
    """How many such returns a year holds (the Sharpe ratio's annualisation)."""
    drawdown: float
    """The deepest fall from a running peak of equity, as a positive fraction."""
    backtest_return: float

    @property
    def shortfall(self) -> float:
        """How far the paper return trails the backtest's on the same bars (negative: paper did better)."""
        return self.backtest_return - self.paper_return


@dataclass(frozen=True)
class PaperAccount:
    """A candidate trading on paper in the session now."""

    candidate: str
    account_id: int
    promoted: bool
    evidence: Evidence
    shortfall_streak: int = 0
    """Rotations in a row, before this one, at which the account fell short of its backtest."""


@dataclass(frozen=True)
class Decision:
    candidate: str
    decision: DecisionKind
    reason: str
    numbers: dict[str, float | int | bool | None] = field(default_factory=dict)
    account_id: int | None = None


def decide(
    rules: RotationSection,
    slots: int,
    scores: Mapping[str, Score],
    trading: Sequence[PaperAccount],
    traded_before: set[str],
    trials: int,
) -> list[Decision]:
    """The decisions of one rotation: one per paper account, then a start or a wait per other candidate.

    `scores` holds every candidate's backtest (in the session file's order); `traded_before` names the
    candidates that have had an account in this session (they are not started again); `trials` is the
    number of candidates the deflated Sharpe ratio accounts for.
    """
    decisions = [_judge(rules, account, trials) for account in trading]
    kept = sum(decision.decision != "retire" for decision in decisions)
    trading_now = {account.candidate for account in trading}
    waiting = [
        (name, score)
        for name, score in scores.items()
        if name not in traded_before and score.trades > 0 and math.isfinite(score.sharpe) and score.sharpe > 0
    ]
    waiting.sort(key=lambda item: item[1].sharpe, reverse=True)
    free = max(slots - kept, 0)
    ranks = {name: rank for rank, (name, _) in enumerate(waiting, start=1)}
    for name, score in scores.items():
        if name in trading_now:
            continue
        numbers: dict[str, float | int | bool | None] = {
            "rank": ranks.get(name),
            "backtest_sharpe": _finite(score.sharpe),
            "backtest_return": score.total_return,
            "backtest_trades": score.trades,
        }
        rank = ranks.get(name)
        if rank is not None and rank <= free:
            decisions.append(Decision(name, "start", f"ranked {rank} of {len(waiting)} by backtest Sharpe", numbers))
        else:
            decisions.append(Decision(name, "wait", _why_waiting(name, score, rank, traded_before, free), numbers))
    return decisions


def _why_waiting(name: str, score: Score, rank: int | None, traded_before: set[str], free: int) -> str:
    if name in traded_before:
        return "traded earlier in this session; not started again"
    if score.trades == 0:
        return "no trade in the backtest of the latest candles"
    if rank is None:
        return f"backtest Sharpe {score.sharpe:.2f} is not positive"
    return f"ranked {rank} by backtest Sharpe; {free} free slots"


def _judge(rules: RotationSection, account: PaperAccount, trials: int) -> Decision:
    evidence = account.evidence
    sharpe = judged_sharpe(rules, evidence, trials)
    short = evidence.shortfall > rules.max_shortfall
    streak = account.shortfall_streak + 1 if short else 0
    numbers: dict[str, float | int | bool | None] = {
        "round_trips": evidence.round_trips,
        "paper_return": evidence.paper_return,
        "sharpe": _finite(evidence.sharpe),
        f"{rules.sharpe}_sharpe": _finite(sharpe),
        "drawdown": evidence.drawdown,
        "backtest_return": evidence.backtest_return,
        "shortfall": evidence.shortfall,
        "shortfall_streak": streak,
        "promoted": account.promoted,
    }

    def decision(kind: DecisionKind, reason: str) -> Decision:
        if kind == "promote":
            numbers["promoted"] = True
        return Decision(account.candidate, kind, reason, numbers, account.account_id)

    if evidence.drawdown >= rules.max_drawdown:
        return decision("retire", f"drawdown {evidence.drawdown:.1%} reached the limit {rules.max_drawdown:.1%}")
    if streak >= rules.shortfall_rotations:
        return decision(
            "retire",
            f"trailed its own backtest by more than {rules.max_shortfall:.1%} at {streak} rotations in a row "
            f"(now {evidence.shortfall:.1%})",
        )
    enough = evidence.round_trips >= rules.min_round_trips
    has_edge = math.isfinite(sharpe) and sharpe >= rules.min_sharpe
    kind = rules.sharpe.replace("_", "-")
    shown = f"{kind} Sharpe {sharpe:.2f}" if math.isfinite(sharpe) else f"no {kind} Sharpe yet (equity unchanged)"
    if account.promoted:
        return decision("keep", f"promoted; {shown}, drawdown {evidence.drawdown:.1%}")
    if enough and has_edge:
        return decision(
            "promote", f"{evidence.round_trips} round trips with {shown} at least {rules.min_sharpe:g}"
        )
    if enough:
        return decision(
            "retire", f"{evidence.round_trips} round trips and no edge: {shown} below {rules.min_sharpe:g}"
        )
    return decision(
        "keep", f"gathering evidence: {evidence.round_trips} of {rules.min_round_trips} round trips, {shown}"
    )


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def judged_sharpe(rules: RotationSection, evidence: Evidence, trials: int) -> float:
    """The Sharpe ratio promotion is judged on: the paper record's, deflated for `trials` if asked."""
    if rules.sharpe == "out_of_sample" or not math.isfinite(evidence.sharpe):
        return evidence.sharpe
    return evidence.sharpe - luck_sharpe(trials, evidence.returns, evidence.periods_per_year)


def luck_sharpe(trials: int, returns: int, periods_per_year: float) -> float:
    """The annualised Sharpe ratio the best of `trials` skill-less candidates shows by luck over `returns`.

    Each candidate's per-period Sharpe estimate is about normal with variance 1 / returns; the expected
    maximum of `trials` of them is the formula of Bailey and López de Prado (2014).
    """
    if trials <= 1 or returns < 2:
        return 0.0
    normal = NormalDist()
    expected_max = (1 - _EULER_GAMMA) * normal.inv_cdf(1 - 1 / trials) + _EULER_GAMMA * normal.inv_cdf(
        1 - 1 / (trials * math.e)
    )
    return expected_max / math.sqrt(returns) * math.sqrt(periods_per_year)


def equity_evidence(times: np.ndarray, equity: np.ndarray) -> tuple[float, int, float, float]:
    """(annualised Sharpe, returns, periods per year, drawdown) of an equity curve sampled at `times`."""
    if len(equity) < 2:
        return math.nan, 0, 0.0, 0.0
    returns = equity[1:] / equity[:-1] - 1
    spacing = float(np.median(np.diff(times)))
    periods_per_year = SECONDS_PER_YEAR / spacing if spacing > 0 else 0.0
    deviation = float(returns.std())
    if deviation == 0 or periods_per_year == 0:
        sharpe = math.nan
    else:
        sharpe = float(returns.mean()) / deviation * math.sqrt(periods_per_year)
    peaks = np.maximum.accumulate(equity)
    drawdown = float(np.max(1 - equity / peaks))
    return sharpe, len(returns), periods_per_year, drawdown


def backtest_on(candidate: Candidate, bars: Bars, start: int, settings: SimulationSettings) -> tuple[float, int]:
    """(total return, trades) of `candidate` trading `bars` from open time `start` on, with the bars before
    it as the strategy's history (as a paper account has from its first bar)."""
    strategy = get_strategy(candidate.strategy)
    params = strategy.resolve(candidate.params)
    first = int(np.searchsorted(bars.time, start))
    if first >= len(bars):
        return 0.0, 0
    signals = checked_signals(strategy, bars, params)[first:]
    result = run_simulation(bars[first:], signals, settings)
    return float(result.metrics.total_return), int(result.metrics.trades)


def score_candidates(
    candidates: Sequence[Candidate], bars: Mapping[str, Bars], settings: SimulationSettings
) -> dict[str, Score]:
    """Every candidate's backtest on its product's `bars` (the latest candles), in the given order."""
    scores = {}
    for candidate in candidates:
        strategy = get_strategy(candidate.strategy)
        product_bars = bars[candidate.product_id]
        signals = checked_signals(strategy, product_bars, strategy.resolve(candidate.params))
        metrics = run_simulation(product_bars, signals, settings).metrics
        scores[candidate.name] = Score(float(metrics.sharpe), float(metrics.total_return), int(metrics.trades))
    return scores

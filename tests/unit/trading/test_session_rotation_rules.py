"""The rotation's decisions on given evidence: retire on drawdown and sustained shortfall, promote on enough
round trips with a Sharpe above the threshold, fill free slots by backtest rank; and the luck deflation."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from gpt_trader.trading.rotation import Evidence, PaperAccount, Score, decide, equity_evidence, luck_sharpe
from gpt_trader.trading.session_file import RotationSection

RULES = RotationSection(min_round_trips=5, min_sharpe=1.0, max_drawdown=0.1, max_shortfall=0.05, shortfall_rotations=2)


def _evidence(**changes: float) -> Evidence:
    values: dict[str, float] = {
        "round_trips": 6, "paper_return": 0.04, "sharpe": 10.0, "returns": 500, "periods_per_year": 8760.0,
        "drawdown": 0.02, "backtest_return": 0.05,
    }  # fmt: skip
    values.update(changes)
    return Evidence(
        round_trips=int(values["round_trips"]), paper_return=values["paper_return"], sharpe=values["sharpe"],
        returns=int(values["returns"]), periods_per_year=values["periods_per_year"], drawdown=values["drawdown"],
        backtest_return=values["backtest_return"],
    )  # fmt: skip


def _one(evidence: Evidence, promoted: bool = False, streak: int = 0) -> tuple[str, str, dict[str, object]]:
    account = PaperAccount("c", 1, promoted, evidence, streak)
    (decision,) = decide(RULES, 1, {}, [account], {"c"}, trials=10)
    return decision.decision, decision.reason, dict(decision.numbers)


def test_enough_round_trips_with_an_edge_is_promoted() -> None:
    kind, reason, numbers = _one(_evidence())
    assert kind == "promote" and "6 round trips with deflated Sharpe" in reason
    assert numbers["promoted"] is True


def test_too_few_round_trips_keeps_gathering_evidence() -> None:
    kind, reason, _ = _one(_evidence(round_trips=4))
    assert kind == "keep" and reason.startswith("gathering evidence: 4 of 5 round trips")


def test_enough_round_trips_without_an_edge_is_retired() -> None:
    kind, reason, _ = _one(_evidence(sharpe=0.2))
    assert kind == "retire" and "no edge" in reason


def test_the_drawdown_limit_retires_even_a_promoted_account() -> None:
    kind, reason, numbers = _one(_evidence(drawdown=0.12), promoted=True)
    assert kind == "retire" and reason.startswith("drawdown 12.0% reached the limit 10.0%")
    assert numbers["drawdown"] == 0.12


def test_a_shortfall_retires_only_when_sustained() -> None:
    short = _evidence(paper_return=-0.02, backtest_return=0.05, round_trips=2)
    kind, _, numbers = _one(short, streak=0)
    assert kind == "keep" and numbers["shortfall_streak"] == 1
    kind, reason, numbers = _one(short, streak=1)
    assert kind == "retire" and "at 2 rotations in a row" in reason
    kind, _, numbers = _one(_evidence(round_trips=2), streak=1)
    assert kind == "keep" and numbers["shortfall_streak"] == 0


def test_free_slots_go_to_the_best_positive_backtests_never_traded_before() -> None:
    scores = {
        "a": Score(0.5, 0.01, 4), "b": Score(2.0, 0.03, 6), "c": Score(-1.0, -0.02, 5),
        "d": Score(3.0, 0.05, 0), "e": Score(1.0, 0.02, 3), "f": Score(9.0, 0.2, 9),
    }  # fmt: skip
    decisions = decide(RULES, 2, scores, [], traded_before={"f"}, trials=6)
    shown = {d.candidate: (d.decision, d.reason) for d in decisions}
    assert shown == {
        "a": ("wait", "ranked 3 by backtest Sharpe; 2 free slots"),
        "b": ("start", "ranked 1 of 3 by backtest Sharpe"),
        "c": ("wait", "backtest Sharpe -1.00 is not positive"),
        "d": ("wait", "no trade in the backtest of the latest candles"),
        "e": ("start", "ranked 2 of 3 by backtest Sharpe"),
        "f": ("wait", "traded earlier in this session; not started again"),
    }


def test_out_of_sample_judges_the_paper_sharpe_as_it_is() -> None:
    rules = RULES.model_copy(update={"sharpe": "out_of_sample"})
    account = PaperAccount("c", 1, False, _evidence(sharpe=1.01, returns=10), 0)
    (decision,) = decide(rules, 1, {}, [account], {"c"}, trials=1000)
    assert decision.decision == "promote" and decision.numbers["out_of_sample_sharpe"] == 1.01


@settings(max_examples=50)
@given(trials=st.integers(2, 10_000), returns=st.integers(2, 100_000))
def test_luck_grows_with_trials_and_shrinks_with_evidence(trials: int, returns: int) -> None:
    luck = luck_sharpe(trials, returns, 8760)
    assert luck > 0
    assert luck_sharpe(trials * 2, returns, 8760) > luck
    assert luck_sharpe(trials, returns * 4, 8760) < luck
    assert luck_sharpe(1, returns, 8760) == 0


def test_luck_matches_the_best_of_many_simulated_skill_less_candidates() -> None:
    rng = np.random.default_rng(5)
    trials, returns = 50, 400
    best = [
        max(float(r.mean() / r.std()) for r in rng.normal(0, 0.01, (trials, returns))) for _ in range(200)
    ]
    assert math.isclose(float(np.mean(best)), luck_sharpe(trials, returns, 1), rel_tol=0.1)


def test_equity_evidence_against_a_hand_computed_curve() -> None:
    times = np.array([0.0, 3600, 7200, 10800])
    equity = np.array([100.0, 110.0, 99.0, 105.6])
    sharpe, returns, per_year, drawdown = equity_evidence(times, equity)
    steps = np.array([0.1, -0.1, 0.0666666666666666])
    assert returns == 3 and per_year == 8760
    assert math.isclose(sharpe, steps.mean() / steps.std() * math.sqrt(8760), rel_tol=1e-9)
    assert math.isclose(drawdown, 0.1)


def test_an_account_whose_equity_never_moved_says_so() -> None:
    kind, reason, numbers = _one(_evidence(round_trips=0, sharpe=math.nan, returns=0))
    assert kind == "keep"
    assert reason == "gathering evidence: 0 of 5 round trips, no deflated Sharpe yet (equity unchanged)"
    assert numbers["sharpe"] is None and numbers["deflated_sharpe"] is None

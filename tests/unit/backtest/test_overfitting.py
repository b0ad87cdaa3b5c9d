"""Deflated Sharpe ratio, PBO by CSCV, the plateau score and the verdict."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpt_trader.backtest.overfitting import (
    Evidence,
    deflated_sharpe,
    expected_max_sharpe,
    plateau_score,
    probabilistic_sharpe,
    probability_of_overfitting,
    return_moments,
    verdict,
)


def test_the_numerical_example_of_bailey_and_lopez_de_prado_2014() -> None:
    # Section "A numerical example": 100 trials whose annualised Sharpe ratios vary by 1/2, five years of daily
    # returns (1,250, 250 a year), the winner's annualised Sharpe 2.5, skewness -3 and kurtosis 10.
    days = 250
    benchmark = expected_max_sharpe(100, 0.5 / days)
    assert round(benchmark, 4) == 0.1132
    dsr = deflated_sharpe(2.5 / math.sqrt(days), 100, 0.5 / days, 1250, skewness=-3, kurtosis=10)
    assert round(dsr, 4) == 0.9004


def test_one_trial_deflates_nothing_and_normal_returns_use_the_plain_psr() -> None:
    assert expected_max_sharpe(1, 4.0) == 0.0
    plain = 0.5 * math.erfc(-(0.1 * math.sqrt(99)) / math.sqrt(1 + 0.01 / 2) / math.sqrt(2))
    assert probabilistic_sharpe(0.1, 0.0, 100) == pytest.approx(plain, rel=1e-12)
    assert deflated_sharpe(0.1, 1, 1.0, 100) == pytest.approx(plain, rel=1e-12)


def test_more_trials_raise_the_bar() -> None:
    assert expected_max_sharpe(10, 1.0) < expected_max_sharpe(100, 1.0) < expected_max_sharpe(1000, 1.0)
    assert deflated_sharpe(0.1, 1000, 0.001, 1000) < deflated_sharpe(0.1, 10, 0.001, 1000)


def test_return_moments_match_pandas_population_moments() -> None:
    returns = np.random.default_rng(3).standard_t(5, 5000) / 100
    sharpe, skewness, kurtosis = return_moments(returns)
    series = pd.Series(returns)
    n = len(returns)
    assert sharpe == pytest.approx(returns.mean() / returns.std(), rel=1e-12)
    # pandas gives the bias-corrected sample moments; turned back to the population ones.
    population_skew = series.skew() * (n - 2) / math.sqrt(n * (n - 1))
    population_kurt = (series.kurt() * (n - 2) * (n - 3) / (n - 1) - 6) / (n + 1) + 3
    assert skewness == pytest.approx(population_skew, rel=1e-9)
    assert kurtosis == pytest.approx(population_kurt, rel=1e-12)


def _reference_pbo(matrix: np.ndarray, blocks: int) -> float:
    """CSCV written out plainly from the paper's steps, with pandas' average ranks."""
    below = 0
    splits = 0
    for chosen in itertools.combinations(range(blocks), blocks // 2):
        rest = [b for b in range(blocks) if b not in chosen]
        in_sample = matrix[list(chosen)].mean(axis=0)
        out_of_sample = pd.Series(matrix[rest].mean(axis=0))
        winner = int(np.argmax(in_sample))
        omega = out_of_sample.rank(method="average")[winner] / (matrix.shape[1] + 1)
        below += math.log(omega / (1 - omega)) <= 0
        splits += 1
    return below / splits


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from([2, 4, 6, 8]), st.integers(2, 12))
def test_pbo_agrees_with_a_plain_implementation(seed: int, blocks: int, configurations: int) -> None:
    matrix = np.random.default_rng(seed).normal(size=(blocks, configurations)).round(1)
    report = probability_of_overfitting(matrix, blocks)
    assert report.splits == math.comb(blocks, blocks // 2)
    assert report.pbo == pytest.approx(_reference_pbo(matrix, blocks))


def test_pbo_of_a_real_edge_is_zero_and_of_noise_about_one_half() -> None:
    rng = np.random.default_rng(0)
    noise = rng.normal(size=(16, 200))
    assert 0.3 < probability_of_overfitting(noise).pbo < 0.7
    edged = noise.copy()
    edged[:, 7] += 5
    assert probability_of_overfitting(edged).pbo == 0.0


def test_pbo_refuses_shapes_cscv_cannot_split() -> None:
    with pytest.raises(ValueError, match="even number"):
        probability_of_overfitting(np.zeros((3, 4)), 3)
    with pytest.raises(ValueError, match="at least two"):
        probability_of_overfitting(np.zeros((4, 1)), 4)


def test_plateau_is_the_neighbours_median_share_of_the_winner() -> None:
    combos = [{"fast": f, "slow": s} for f in (5, 10, 15) for s in (20, 30, 40)]
    flat = np.full(9, 1.0)
    assert plateau_score(combos, flat, 4) == 1.0
    spike = np.full(9, 0.1)
    spike[4] = 1.0
    assert plateau_score(combos, spike, 4) == pytest.approx(0.1)
    corner = np.array([1.0, 0.5, 0.0, 0.5, 0.5, 0.0, 0.0, 0.0, 0.0])
    assert plateau_score(combos, corner, 0) == pytest.approx(0.5)  # neighbours (5,30), (10,20), (10,30)
    assert math.isnan(plateau_score(combos, -flat, 0))


def test_verdicts() -> None:
    assert verdict(Evidence(0.5)) == "likely luck"
    assert verdict(Evidence(float("nan"))) == "likely luck"
    assert verdict(Evidence(0.99)) == "significant"
    assert verdict(Evidence(0.99, out_of_sample_sharpe=1.2, pbo=0.1, plateau=0.9)) == "holds out of sample"
    assert verdict(Evidence(0.99, out_of_sample_sharpe=-0.3)) == "fails out of sample"
    assert verdict(Evidence(0.99, out_of_sample_sharpe=1.0, pbo=0.7)) == "fails out of sample"
    assert verdict(Evidence(0.99, out_of_sample_sharpe=1.0, pbo=0.1, plateau=0.2)) == "fragile"

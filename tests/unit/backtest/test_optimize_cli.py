"""`gpt-trader optimize` end to end, and the verdict lines of `gpt-trader backtest` sweeps."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from gpt_trader.backtest.regimes import regime_frame
from gpt_trader.config import load_settings
from gpt_trader.store import open_store
from tests.support.cli import gpt_trader

ARGS = ("--source", "synthetic:2", "-g", "1h", "--days", "90", "--param", "fast=3:21:3", "--param", "slow=20:80:20")


def test_optimize_prints_judges_writes_and_records_with_regimes(tmp_path: Path) -> None:
    json_path, csv_path = tmp_path / "o.json", tmp_path / "o.csv"
    run = gpt_trader("optimize", "ma_crossover", *ARGS, "-p", "BTC-USD,ETH-USD", "--folds", "4", "--purge", "3",
                     "--json", str(json_path), "--csv", str(csv_path))
    assert run.returncode == 0, run.stderr
    out = run.stdout
    assert "grid search of ma_crossover: 54 trials" in out and "4 rolling walk-forward folds, purge 3 bars" in out
    assert "Walk-forward on BTC-USD" in out and "Walk-forward on ETH-USD" in out
    assert "probability of backtest overfitting" in out and "By regime" in out
    document = json.loads(json_path.read_text())
    assert document["trials"] == 54 and len(document["results"]) == 54
    verdicts = {c["verdict"] for c in document["candidates"]}
    assert verdicts <= {"likely luck", "fails out of sample", "trails buy-and-hold", "fragile", "holds out of sample"}
    assert len(pd.read_csv(csv_path)) == 54
    run_id = int(out.rsplit("Recorded as run ", 1)[1].split(".")[0])
    with open_store(load_settings().database) as store:
        recorded = store.get_run(run_id)
        assert recorded is not None and recorded.trials == 54
        assert store.count_backtest_results(run_id) == 54
        regimes = regime_frame(store, run_id)
    assert len(regimes) >= 1 and set(regimes["strategy"]) == {"ma_crossover"}


def test_an_optuna_optimisation_resumes_its_stored_study() -> None:
    first = gpt_trader("optimize", "ma_crossover", *ARGS, "--method", "optuna", "--trials", "8", "--no-record")
    assert first.returncode == 0, first.stderr
    again = gpt_trader("optimize", "ma_crossover", *ARGS, "--method", "optuna", "--trials", "14", "--no-record")
    assert again.returncode == 0, again.stderr
    import optuna

    storage = load_settings().database.replace("gpt-trader.db", "gpt-trader-optuna.db")
    (summary,) = optuna.get_all_study_summaries(storage)
    complete = [t for t in optuna.load_study(study_name=summary.study_name, storage=storage).trials
                if t.state is optuna.trial.TrialState.COMPLETE]
    assert len(complete) == 14  # the second run grew the first run's study rather than starting over
    # Its report covers every distinct combination the study ran (repeated proposals count once).
    distinct = {tuple(sorted(t.params.items())) for t in complete}
    assert f"optuna search of ma_crossover: {len(distinct)} trials" in again.stdout


def test_user_mistakes_are_one_line_errors() -> None:
    run = gpt_trader("optimize", "ma_crossover", *ARGS, "--objective", "luck", "--no-record")
    assert run.returncode == 2 and "--objective 'luck': choose return or one of" in run.stderr
    assert "Traceback" not in run.stderr
    run = gpt_trader("optimize", "ma_crossover", *ARGS, "--cluster", "nowhere:1", "--no-record")
    assert run.returncode == 2 and "give a scheduler address such as tcp://HOST:8786" in run.stderr


def test_a_backtest_sweep_prints_a_verdict_from_every_trial() -> None:
    run = gpt_trader("backtest", "-s", "ma_crossover", *ARGS, "-p", "BTC-USD,ETH-USD", "--no-record")
    assert run.returncode == 0, run.stderr
    assert "deflated sharpe" in run.stdout and "from 54 trials: " in run.stdout

"""The kernel's fill rules on small hand-worked markets (see `trading.rules` for the rules)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from gpt_trader.backtest.metrics import METRIC_NAMES, Metrics
from gpt_trader.backtest.settings import SimulationSettings
from gpt_trader.backtest.simulation import run_simulation, summarize
from tests.support.rule_replay import H, L, S, make_bars

NO_FEES_AT_CLOSE = SimulationSettings(fill="close", fee_rate=0.0)
NO_FEES_NEXT_OPEN = SimulationSettings(fill="next_open", fee_rate=0.0)


def signals(*values: int) -> np.ndarray:
    return np.array(values, dtype=np.int8)


def test_seed_compatible_rule_matches_the_hand_computed_final_equity() -> None:
    bars = make_bars([100, 110, 105, 120, 90, 95, 100])
    result = run_simulation(bars, signals(L, S, L, S, H, L, H), SimulationSettings.seed_compatible())
    # Each closed round trip multiplies equity by exit/entry * 0.994/1.006; the open one is marked at 100.
    round_trip = 0.994 / 1.006
    by_hand = 10_000 * (110 / 100 * round_trip) * (120 / 105 * round_trip) * (100 / 95 / 1.006)
    assert result.final_equity == pytest.approx(by_hand, rel=1e-12)
    assert result.n_trades == 3
    assert result.metrics.trades == 3
    assert result.metrics.closed_trades == 2
    trades = result.trades()
    assert list(trades["entry_bar"]) == [0, 2, 5]
    assert list(trades["exit_bar"]) == [1, 3, 6]
    assert list(trades["exit_reason"]) == ["signal", "signal", "open"]
    units = 10_000 / (100 * 1.006)
    assert trades["fees"].iloc[0] == pytest.approx(units * 100 * 0.006 + units * 110 * 0.006, rel=1e-12)


def test_next_open_fills_the_signal_at_the_following_open() -> None:
    bars = make_bars([100, 102, 104, 103], open_=[99, 101, 105, 104])
    trades = run_simulation(bars, signals(L, H, S, H), NO_FEES_NEXT_OPEN).trades()
    assert list(trades[["entry_bar", "exit_bar"]].iloc[0]) == [1, 3]
    assert trades["entry_price"].iloc[0] == 101
    assert trades["exit_price"].iloc[0] == 104


def test_a_signal_on_the_last_bar_does_nothing_in_next_open_mode() -> None:
    bars = make_bars([100, 101, 102])
    result = run_simulation(bars, signals(H, H, L), NO_FEES_NEXT_OPEN)
    assert result.n_trades == 0
    assert result.final_equity == 10_000


def test_close_mode_fills_on_the_signal_bar() -> None:
    bars = make_bars([100, 110, 121])
    result = run_simulation(bars, signals(L, S, H), NO_FEES_AT_CLOSE)
    assert result.trades()["exit_price"].iloc[0] == 110
    assert result.final_equity == pytest.approx(11_000)


def test_a_signal_without_a_usable_price_is_dropped_not_delayed() -> None:
    bars = make_bars([100, math.nan, 105, 110])
    result = run_simulation(bars, signals(H, L, H, H), NO_FEES_AT_CLOSE)
    assert result.n_trades == 0
    assert np.all(result.equity == 10_000)
    next_open = make_bars([100, 101, 102, 103], open_=[100, math.nan, 102, 103])
    assert run_simulation(next_open, signals(L, H, H, H), NO_FEES_NEXT_OPEN).n_trades == 0


def test_long_only_ignores_shorts_when_flat_and_longs_when_long() -> None:
    bars = make_bars([100, 101, 102, 103, 104])
    result = run_simulation(bars, signals(S, L, L, L, H), NO_FEES_AT_CLOSE)
    assert result.n_trades == 1
    assert list(result.trades()["entry_bar"]) == [1]


def test_shorts_profit_when_price_falls_and_reverse_on_a_long_signal() -> None:
    bars = make_bars([100, 90, 95])
    settings = SimulationSettings(fill="close", fee_rate=0.0, allow_short=True)
    result = run_simulation(bars, signals(S, L, H), settings)
    trades = result.trades()
    assert list(trades["side"]) == ["short", "long"]
    assert trades["pnl"].iloc[0] == pytest.approx(1_000)  # 100 units sold at 100, bought back at 90
    assert result.units[0] == pytest.approx(-100)
    assert result.cash[0] == pytest.approx(20_000)
    assert result.final_equity == pytest.approx(11_000 * 95 / 90)


def test_spread_and_slippage_make_a_flat_round_trip_lose() -> None:
    bars = make_bars([100, 100, 100])
    settings = SimulationSettings(fill="close", fee_rate=0.0, half_spread_bps=10, slippage_bps=5)
    trade = run_simulation(bars, signals(L, S, H), settings).trades().iloc[0]
    assert trade["entry_price"] == pytest.approx(100.15)
    assert trade["exit_price"] == pytest.approx(99.85)
    assert trade["pnl"] == pytest.approx(10_000 * (99.85 / 100.15 - 1))


def test_fraction_commits_a_share_of_equity() -> None:
    bars = make_bars([100, 120])
    settings = SimulationSettings(fill="close", fee_rate=0.01, fraction=0.25)
    result = run_simulation(bars, signals(L, H), settings)
    assert result.cash[0] == pytest.approx(7_500)
    assert result.units[0] == pytest.approx(2_500 / (100 * 1.01))
    assert result.final_equity == pytest.approx(7_500 + 2_500 / 1.01 * 1.2)


def test_stop_loss_fills_at_its_level_inside_the_bar() -> None:
    bars = make_bars([100, 97, 99], low=[100, 94, 99])
    settings = SimulationSettings(fill="close", fee_rate=0.0, stop_loss=0.05)
    trade = run_simulation(bars, signals(L, H, H), settings).trades().iloc[0]
    assert (trade["exit_bar"], trade["exit_reason"]) == (1, "stop_loss")
    assert trade["exit_price"] == pytest.approx(95)


def test_a_gap_through_the_stop_fills_at_the_open() -> None:
    bars = make_bars([100, 91, 99], open_=[100, 90, 99])
    settings = SimulationSettings(fill="close", fee_rate=0.0, stop_loss=0.05)
    trade = run_simulation(bars, signals(L, H, H), settings).trades().iloc[0]
    assert (trade["exit_price"], trade["exit_reason"]) == (90, "stop_loss")


def test_stop_wins_when_stop_and_take_profit_share_a_bar() -> None:
    bars = make_bars([100, 100], high=[100, 120], low=[100, 80])
    settings = SimulationSettings(fill="close", fee_rate=0.0, stop_loss=0.05, take_profit=0.1)
    trade = run_simulation(bars, signals(L, H), settings).trades().iloc[0]
    assert trade["exit_reason"] == "stop_loss"
    assert trade["exit_price"] == pytest.approx(95)


def test_take_profit_fills_at_its_level_or_at_a_gap_open() -> None:
    settings = SimulationSettings(fill="close", fee_rate=0.0, take_profit=0.1)
    touched = run_simulation(make_bars([100, 105], high=[100, 111]), signals(L, H), settings).trades()
    assert (touched["exit_price"].iloc[0], touched["exit_reason"].iloc[0]) == (pytest.approx(110), "take_profit")
    gapped = run_simulation(make_bars([100, 118], open_=[100, 115]), signals(L, H), settings).trades()
    assert gapped["exit_price"].iloc[0] == 115


def test_trailing_stop_follows_the_best_high_of_earlier_bars() -> None:
    # Highs 100 -> 120: the level rises to 108. Bar 3's own high of 130 does not move it before its low.
    bars = make_bars([100, 110, 119, 109], high=[100, 112, 120, 130], low=[100, 105, 112, 107])
    settings = SimulationSettings(fill="close", fee_rate=0.0, trailing_stop=0.1)
    trade = run_simulation(bars, signals(L, H, H, H), settings).trades().iloc[0]
    assert (trade["exit_bar"], trade["exit_reason"]) == (3, "trailing_stop")
    assert trade["exit_price"] == pytest.approx(108)


def test_next_open_entry_bar_range_counts_for_stops_close_entry_bar_does_not() -> None:
    bars = make_bars([100, 99, 99], open_=[100, 100, 99], low=[80, 90, 99])
    stop = {"fee_rate": 0.0, "stop_loss": 0.05}
    at_open = run_simulation(bars, signals(L, H, H), SimulationSettings(fill="next_open", **stop)).trades()
    assert (at_open["entry_bar"].iloc[0], at_open["exit_bar"].iloc[0]) == (1, 1)
    assert at_open["exit_price"].iloc[0] == pytest.approx(95)
    at_close = run_simulation(bars, signals(L, H, H), SimulationSettings(fill="close", **stop)).trades()
    assert (at_close["entry_bar"].iloc[0], at_close["exit_bar"].iloc[0]) == (0, 1)


def test_short_stop_loss_triggers_on_the_high() -> None:
    bars = make_bars([100, 101, 100], high=[100, 106, 100])
    settings = SimulationSettings(fill="close", fee_rate=0.0, stop_loss=0.05, allow_short=True)
    trade = run_simulation(bars, signals(S, H, H), settings).trades().iloc[0]
    assert (trade["side"], trade["exit_reason"]) == ("short", "stop_loss")
    assert trade["exit_price"] == pytest.approx(105)


def test_a_position_open_at_the_end_is_marked_not_closed() -> None:
    bars = make_bars([100, 110, 120])
    result = run_simulation(bars, signals(L, H, H), SimulationSettings.seed_compatible())
    trade = result.trades().iloc[0]
    assert (trade["exit_reason"], trade["exit_bar"], trade["exit_price"]) == ("open", 2, 120)
    assert trade["pnl"] == pytest.approx(result.final_equity - 10_000)
    assert trade["fees"] == pytest.approx(10_000 / 1.006 * 0.006)  # entry fee only
    assert math.isnan(result.metrics.win_rate)


def test_a_missing_close_marks_the_position_at_the_last_usable_close() -> None:
    bars = make_bars([100, 110, math.nan, 130], open_=[100, 110, 120, 130], high=[100, 110, 125, 130],
                     low=[100, 110, 115, 130])
    result = run_simulation(bars, signals(L, H, H, H), NO_FEES_AT_CLOSE)
    assert result.equity[2] == pytest.approx(result.equity[1]) == pytest.approx(11_000)
    assert result.equity[3] == pytest.approx(13_000)


def test_equity_curve_and_trades_frame_are_indexed_in_utc() -> None:
    bars = make_bars([100, 110, 105])
    result = run_simulation(bars, signals(L, S, H), NO_FEES_AT_CLOSE)
    curve = result.equity_curve()
    assert isinstance(curve, pd.Series)
    assert curve.index[0] == pd.Timestamp("2024-01-01 00:00", tz="UTC")
    assert list(curve) == list(result.equity)
    trades = result.trades()
    assert list(trades.columns) == [
        "entry_bar", "exit_bar", "entry_time", "exit_time", "side", "units", "entry_price", "exit_price",
        "fees", "pnl", "return", "exit_reason",
    ]
    assert trades["exit_time"].iloc[0] == pd.Timestamp("2024-01-01 01:00", tz="UTC")


def test_summarize_returns_the_metric_vector_of_the_full_run() -> None:
    bars = make_bars([100, 110, 105, 120, 90, 95, 100])
    sig = signals(L, S, L, S, H, L, H)
    vector = summarize(bars, sig, SimulationSettings.seed_compatible())
    assert vector.shape == (len(METRIC_NAMES),)
    assert Metrics.from_array(vector) == run_simulation(bars, sig, SimulationSettings.seed_compatible()).metrics


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (np.zeros(3, dtype=np.int8), "expected 4 signals (one per bar), got shape (3,)"),
        (np.zeros(4, dtype=float), "signals must be integers -1, 0 or 1, got dtype float64"),
        (np.array([0, 1, 2, 0]), "signal 2 at bar 2; signals must be -1, 0 or 1"),
    ],
)
def test_bad_signals_are_refused_with_what_and_where(bad: np.ndarray, message: str) -> None:
    bars = make_bars([1, 2, 3, 4])
    for call in (run_simulation, summarize):
        with pytest.raises(ValueError) as raised:
            call(bars, bad)
        assert str(raised.value) == f"BTC-USD: {message}"


def test_no_bars_is_refused() -> None:
    with pytest.raises(ValueError, match="no bars to simulate"):
        run_simulation(make_bars([]), signals())


def test_int64_signals_are_accepted() -> None:
    bars = make_bars([100, 110])
    result = run_simulation(bars, np.array([1, -1]), NO_FEES_AT_CLOSE)
    assert result.final_equity == pytest.approx(11_000)


@pytest.mark.parametrize("side, settings", [
    (L, SimulationSettings(fill="close", fee_rate=0.0, stop_loss=0.05)),
    (S, SimulationSettings(fill="close", fee_rate=0.0, take_profit=0.05, allow_short=True)),
    (S, SimulationSettings(fill="close", fee_rate=0.0, trailing_stop=0.05, allow_short=True)),
])  # fmt: skip
def test_a_bar_priced_zero_never_fills_a_stop(side: int, settings: SimulationSettings) -> None:
    """No fill without a price: a bar whose open, high or low is 0 is a bar with no usable price there."""
    bars = make_bars([100, 100, 100, 100], open_=[100, 0, 100, 100], high=[100, 100, 0, 100], low=[100, 0, 0, 100])
    trades = run_simulation(bars, signals(side, H, H, H), settings).trades()
    assert list(trades["exit_reason"]) == ["open"], trades
    assert (trades["exit_price"] > 0).all()

"""SimulationSettings: defaults, validation messages, and the vector the kernel reads."""

from __future__ import annotations

import math

import pytest

from gpt_trader.backtest.settings import (
    P_ALLOW_SHORT,
    P_BUY_FACTOR,
    P_FEE_RATE,
    P_FRACTION,
    P_INITIAL_CASH,
    P_NEXT_OPEN,
    P_SELL_FACTOR,
    P_STOP_LOSS,
    P_TAKE_PROFIT,
    P_TRAILING_STOP,
    SimulationSettings,
)


def test_defaults_are_honest_costs_and_no_same_bar_execution() -> None:
    settings = SimulationSettings()
    assert settings.fill == "next_open"
    assert settings.fee_rate == 0.006
    assert settings.fraction == 1.0
    assert not settings.allow_short
    assert settings.initial_cash == 10_000


def test_seed_compatible_fills_at_the_close_with_the_benchmark_fee() -> None:
    settings = SimulationSettings.seed_compatible()
    assert (settings.fill, settings.fee_rate, settings.half_spread_bps, settings.slippage_bps) == (
        "close", 0.006, 0.0, 0.0,
    )
    assert settings.buy_factor == settings.sell_factor == 1.0


def test_spread_and_slippage_worsen_both_sides() -> None:
    settings = SimulationSettings(half_spread_bps=5, slippage_bps=2)
    assert settings.buy_factor == pytest.approx(1.0007)
    assert settings.sell_factor == pytest.approx(0.9993)


def test_kernel_params_carry_every_setting_and_nan_for_missing_stops() -> None:
    settings = SimulationSettings(
        fill="close", fee_rate=0.001, half_spread_bps=10, stop_loss=0.05, trailing_stop=0.02,
        fraction=0.5, allow_short=True, initial_cash=500,
    )
    params = settings.kernel_params()
    assert params[P_NEXT_OPEN] == 0.0
    assert params[P_FEE_RATE] == 0.001
    assert params[P_BUY_FACTOR] == pytest.approx(1.001)
    assert params[P_SELL_FACTOR] == pytest.approx(0.999)
    assert params[P_STOP_LOSS] == 0.05
    assert math.isnan(params[P_TAKE_PROFIT])
    assert params[P_TRAILING_STOP] == 0.02
    assert params[P_FRACTION] == 0.5
    assert params[P_ALLOW_SHORT] == 1.0
    assert params[P_INITIAL_CASH] == 500
    assert SimulationSettings().kernel_params()[P_NEXT_OPEN] == 1.0


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"fill": "open"}, "fill must be one of next_open, close"),
        ({"fee_rate": -0.001}, "fee_rate must be >= 0.0"),
        ({"fee_rate": 1.0}, "fee_rate must be >= 0.0 and < 1.0"),
        ({"fee_rate": math.nan}, "fee_rate must be a number"),
        ({"half_spread_bps": -1}, "half_spread_bps must be >= 0.0"),
        ({"half_spread_bps": 6000, "slippage_bps": 4000}, "must stay below 10000"),
        ({"stop_loss": 0.0}, "stop_loss must be > 0.0"),
        ({"stop_loss": 1.5}, "stop_loss must be > 0.0 and < 1.0"),
        ({"trailing_stop": -0.1}, "trailing_stop must be > 0.0"),
        ({"take_profit": 0}, "take_profit must be > 0.0"),
        ({"take_profit": "10%"}, "take_profit must be a number"),
        ({"fraction": 0}, "fraction must be in (0, 1]"),
        ({"fraction": 1.5}, "fraction must be in (0, 1]"),
        ({"allow_short": "yes"}, "allow_short must be True or False"),
        ({"initial_cash": 0}, "initial_cash must be a positive amount"),
    ],
)
def test_invalid_settings_name_the_field_and_the_valid_range(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError) as raised:
        SimulationSettings(**overrides)  # type: ignore[arg-type]
    assert message in str(raised.value)

"""Strategies from installed packages: a real distribution on sys.path declaring entry points."""

from __future__ import annotations

import sys
import textwrap
import warnings
from pathlib import Path

import pytest

from gpt_trader.errors import UserError
from gpt_trader.strategies import StrategyPluginWarning, get_strategy, list_strategies
from tests.support.synthetic_bars import tick_walk_bars

PLUGIN = """
from typing import ClassVar
import numpy as np
from gpt_trader.strategies import Param, Strategy

class AlwaysLong(Strategy):
    name = "always_long"
    description = "Holds a long position from the first bar."
    params: ClassVar[dict[str, Param]] = {}

    def lookback(self, params):
        return 1

    def signals(self, bars, params, cache=None):
        return np.ones(len(bars), np.int8)

class Impostor(AlwaysLong):
    name = "momentum"

NOT_A_STRATEGY = 42
"""

ENTRY_POINTS = """
[gpt_trader.strategies]
always_long = demo_strategies:AlwaysLong
impostor = demo_strategies:Impostor
missing_module = demo_strategies_gone:Anything
wrong_kind = demo_strategies:NOT_A_STRATEGY
"""


@pytest.fixture
def installed_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A package and its dist-info in a site folder, the layout pip leaves behind."""
    site = tmp_path / "site"
    (site / "demo_strategies").mkdir(parents=True)
    (site / "demo_strategies" / "__init__.py").write_text(textwrap.dedent(PLUGIN))
    info = site / "demo_strategies-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: demo-strategies\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(textwrap.dedent(ENTRY_POINTS))
    monkeypatch.delitem(sys.modules, "demo_strategies", raising=False)
    monkeypatch.syspath_prepend(str(site))
    return site


def test_a_plugin_strategy_is_listed_and_found_by_name(installed_plugin: Path) -> None:
    with pytest.warns(StrategyPluginWarning):
        names = [strategy.name for strategy in list_strategies()]
    assert names[:5] == ["momentum", "mean_reversion", "breakout", "ma_crossover", "volatility"]
    assert names.count("always_long") == 1 and names.count("momentum") == 1
    with pytest.warns(StrategyPluginWarning):
        strategy = get_strategy("always_long")
    assert strategy.signals(tick_walk_bars(4), {}).tolist() == [1, 1, 1, 1]


def test_broken_plugins_warn_by_name_and_break_nothing(installed_plugin: Path) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        list_strategies()
    messages = [str(w.message) for w in caught if issubclass(w.category, StrategyPluginWarning)]
    assert len(messages) == 3
    assert any("'missing_module' (demo_strategies_gone:Anything) could not be loaded" in m for m in messages)
    assert any("'wrong_kind'" in m and "not a Strategy subclass or instance" in m for m in messages)
    assert any("'impostor'" in m and "the name 'momentum' is already taken" in m for m in messages)


def test_builtins_are_found_without_loading_any_plugin(installed_plugin: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert type(get_strategy("momentum")).__module__ == "gpt_trader.strategies.builtin.momentum"


def test_suggestions_include_plugin_names(installed_plugin: Path) -> None:
    with pytest.warns(StrategyPluginWarning), pytest.raises(UserError, match="Did you mean 'always_long'"):
        get_strategy("always_lng")

"""Finding built-in strategies by name, and the errors for names that do not exist."""

from __future__ import annotations

import pytest

from gpt_trader.errors import UserError
from gpt_trader.strategies import Strategy, get_strategy, list_strategies, load_spec

BUILTIN_NAMES = ["momentum", "mean_reversion", "breakout", "ma_crossover", "volatility"]


def test_the_builtins_are_listed_first_in_a_fixed_order() -> None:
    strategies = list_strategies()
    assert [s.name for s in strategies[:5]] == BUILTIN_NAMES
    assert all(isinstance(s, Strategy) and s.description for s in strategies)


@pytest.mark.parametrize("name", BUILTIN_NAMES)
def test_each_builtin_is_found_by_name(name: str) -> None:
    strategy = get_strategy(name)
    assert strategy.name == name
    assert load_spec(name)[0].name == name


@pytest.mark.parametrize(
    ("typo", "suggestion"),
    [("momentun", "momentum"), ("ma_cross", "ma_crossover"), ("meanreversion", "mean_reversion")],
)
def test_an_unknown_name_suggests_the_closest_and_lists_all(typo: str, suggestion: str) -> None:
    with pytest.raises(UserError) as raised:
        get_strategy(typo)
    message = str(raised.value)
    assert f"unknown strategy {typo!r}. Did you mean {suggestion!r}?" in message
    assert ", ".join(BUILTIN_NAMES) in message
    assert "path/to/file.py:ClassName" in message


def test_a_name_like_nothing_gets_no_suggestion() -> None:
    with pytest.raises(UserError) as raised:
        get_strategy("zzzz")
    assert "Did you mean" not in str(raised.value)


@pytest.mark.parametrize("spec", ["strategies/mine", "C:\\strategies\\mine.txt"])
def test_a_path_that_is_not_a_python_file_is_refused(spec: str) -> None:
    with pytest.raises(UserError, match=r"looks like a path but is not a \.py file"):
        get_strategy(spec)

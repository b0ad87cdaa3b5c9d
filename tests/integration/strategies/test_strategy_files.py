"""Loading users' strategy files from disk: the shipped example, specs, and every kind of broken file."""

from __future__ import annotations

import pickle
import textwrap
from pathlib import Path

import numpy as np
import pytest

from gpt_trader.errors import UserError
from gpt_trader.strategies import check_lookahead, check_lookback, get_strategy, load_spec, load_strategy_file
from gpt_trader.strategies.indicators import rsi
from tests.support.synthetic_bars import tick_walk_bars

EXAMPLE = Path(__file__).resolve().parents[3] / "docs" / "examples" / "rsi_strategy.py"
BARS = tick_walk_bars(2_000, seed=21, steps=(-40, -5, 0, 5, 40))

STRATEGY = """
from typing import ClassVar
import numpy as np
from gpt_trader.strategies import Param, Strategy

class {cls}(Strategy):
    name = "{name}"
    params: ClassVar[dict[str, Param]] = {{"level": Param(100.0, 0.0, 1e6)}}

    def lookback(self, params):
        return 1

    def signals(self, bars, params, cache=None):
        return np.where(bars.close > params["level"], 1, -1).astype(np.int8)
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


def test_the_shipped_rsi_example_loads_trades_and_is_causal() -> None:
    [strategy] = load_strategy_file(EXAMPLE)
    assert strategy.name == "rsi_reversal" and type(strategy).__name__ == "RsiReversal"
    params = strategy.defaults()
    signals = strategy.signals(BARS, params)
    strength = rsi(BARS.close, 14)
    assert (signals == 1).any() and (signals == -1).any()
    assert np.array_equal(signals == 1, strength < 30) and np.array_equal(signals == -1, strength > 70)
    assert check_lookahead(strategy, BARS).passed
    with pytest.raises(ValueError, match="oversold must be below overbought"):
        strategy.resolve({"oversold": 50.0, "overbought": 50.0})


def test_the_rsi_example_gives_its_full_history_signal_from_its_lookback_on_every_bar() -> None:
    """With ten periods of lookback, bar 7,046 of this walk (RSI next to 30) came out otherwise."""
    [strategy] = load_strategy_file(EXAMPLE)
    bars = tick_walk_bars(20_000, seed=11)
    report = check_lookback(strategy, bars)
    assert report.passed, report.summary()
    assert (strategy.signals(bars, strategy.defaults()) != 0).sum() > 1_000


def test_specs_name_a_file_or_one_of_its_classes(tmp_path: Path) -> None:
    text = STRATEGY.format(cls="Above", name="above") + STRATEGY.format(cls="Below", name="below")
    both = write(tmp_path, "both.py", text)
    assert [s.name for s in load_spec(str(both))] == ["above", "below"]
    assert get_strategy(f"{both}:Below").name == "below"
    assert get_strategy(f"{both}:above").name == "above"
    with pytest.raises(UserError, match=r"defines several strategies \(Above, Below\); pick one as"):
        get_strategy(str(both))
    with pytest.raises(UserError, match=r"no strategy 'Sideways'; it defines Above \(above\), Below"):
        load_spec(f"{both}:Sideways")


def test_a_relative_path_is_read_from_the_working_directory() -> None:
    write(Path.cwd(), "mine.py", STRATEGY.format(cls="Mine", name="mine"))
    strategy = get_strategy("mine.py")
    assert strategy.signals(BARS[:3], {"level": 0.0}).tolist() == [1, 1, 1]


def test_a_loaded_strategy_pickles_within_the_process(tmp_path: Path) -> None:
    strategy = get_strategy(str(write(tmp_path, "mine.py", STRATEGY.format(cls="Mine", name="mine"))))
    copy = pickle.loads(pickle.dumps(strategy))
    assert type(copy) is type(strategy)


def test_an_edited_file_is_imported_again(tmp_path: Path) -> None:
    path = write(tmp_path, "mine.py", STRATEGY.format(cls="Mine", name="mine"))
    assert get_strategy(str(path)).name == "mine"
    assert get_strategy(str(path)).__class__ is get_strategy(str(path)).__class__
    write(tmp_path, "mine.py", STRATEGY.format(cls="Mine", name="mine_renamed"))
    assert get_strategy(str(path)).name == "mine_renamed"


def test_a_strategy_imported_into_the_file_is_not_one_of_its_own(tmp_path: Path) -> None:
    text = "from gpt_trader.strategies.builtin import Momentum\n" + STRATEGY.format(cls="Mine", name="mine")
    path = write(tmp_path, "reexport.py", text)
    assert [s.name for s in load_strategy_file(path)] == ["mine"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("import numpy\n\ndef broken(:\n    pass\n", r"broken.py:3: syntax error in strategy file"),
        ("import numpy\n\nx = 1\nvalue = x / 0\n", r"broken.py:4: importing the strategy file failed: Zero"),
        ("import numpy_that_does_not_exist\n", r"broken.py:1: .*ModuleNotFoundError"),
        ("x = 1\n", r"defines no strategy: subclass gpt_trader.strategies.Strategy"),
        (
            "from gpt_trader.strategies import Strategy\nclass Half(Strategy):\n    name = 'half'\n"
            "    def lookback(self, params):\n        return 1\n",
            r"Half is incomplete: implement signals",
        ),
        (
            STRATEGY.format(cls="Nameless", name="").replace('name = ""', ""),
            r"Nameless has no name; add e.g. name = 'nameless'",
        ),
        (
            STRATEGY.format(cls="One", name="same") + STRATEGY.format(cls="Two", name="same"),
            r"One and Two are both named 'same'",
        ),
    ],
    ids=["syntax", "runtime", "import", "empty", "abstract", "nameless", "duplicate"],
)
def test_broken_files_are_explained_with_file_and_line(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, "broken.py", text)
    with pytest.raises(UserError, match=message) as raised:
        load_strategy_file(path)
    assert str(path) in str(raised.value)


def test_a_missing_file_and_a_non_python_file_are_refused(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"strategy file .*nowhere.py does not exist"):
        get_strategy(str(tmp_path / "nowhere.py"))
    text = write(tmp_path, "notes.txt", "hello")
    with pytest.raises(UserError, match="is not a Python file"):
        load_strategy_file(text)

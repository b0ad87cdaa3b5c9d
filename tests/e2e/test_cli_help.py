"""What a newcomer reads first: `--help` at 80 columns and `gpt-trader strategies`."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support.cli import gpt_trader

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "rsi_strategy.py"


@pytest.mark.parametrize("command", [["backtest"], ["data", "fetch"], ["data", "show"], ["sandbox", "serve"]])
def test_help_reads_well_at_80_columns(command: list[str]) -> None:
    shown = gpt_trader(*command, "--help", columns=80)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert max(map(len, lines)) <= 80
    assert lines[0].startswith(f"Usage: gpt-trader {' '.join(command)} [OPTIONS]")
    options = "\n".join(lines[lines.index("Options:") :])
    for unreadable in ("<str>", "<bool>", "<float>", "<int", "<list", "<path>"):
        assert unreadable not in options, unreadable
    assert not re.search(r"\w \.(\s|$)", options), "a default lost from the help text leaves 'word .'"
    assert "{product" not in lines[0]
    # Descriptions start within the first half of the line, so they wrap to 40 columns or more.
    described = [re.match(r"  (-\S.*?)\s{2,}(\S.*)", line) for line in lines if line.startswith("  -")]
    assert described and all(option.start(2) <= 40 for option in described if option)


def test_backtest_help_shows_every_default_and_points_at_the_metric_definitions() -> None:
    shown = " ".join(gpt_trader("backtest", "--help", columns=80).stdout.split())
    defaults = ("[default: BTC-USD, or the PRODUCT of file:PATH:PRODUCT]", "[default: 30]", "[default: every built-in]")
    for default in (*defaults, "[default: 0.006, Coinbase's taker fee]"):
        assert default in shown
    assert "docs/metrics.md" in shown


def test_strategies_lists_each_one_with_parameters_defaults_and_ranges() -> None:
    listed = gpt_trader("strategies", str(EXAMPLE))
    assert listed.returncode == 0, listed.stderr
    out = listed.stdout
    for name in ("momentum", "mean_reversion", "breakout", "ma_crossover", "volatility", "rsi_reversal"):
        assert f"{name}: " in out
    assert any(line.split()[:4] == ["slow", "30", "2", ".."] for line in out.splitlines())
    assert any(line.split()[:5] == ["num_std", "2.0", "0.0", "..", "10.0"] for line in out.splitlines())

"""`gpt-trader paper` refuses bad input with one clear line and exit status 2, before anything trades."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cli import gpt_trader
from tests.support.sandbox_serve import Running, serve

SANDBOX = ("--products", "BTC-USD,ETH-USD", "--days", "0.5", "--history-days", "0.1")


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    with serve("--state-dir", str(tmp_path_factory.mktemp("sandbox")), *SANDBOX) as running:
        yield running
        running.stop(signal.SIGTERM)


def _refused(*args: str) -> str:
    done = gpt_trader("paper", "--duration", "5", *args)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr and done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("-s", "momentun"), "error: unknown strategy 'momentun'. Did you mean 'momentum'?"),
        (("--capital", "0"), "error: --capital 0: each account needs starting cash above 0"),
        (("--capital", "-5"), "error: --capital -5: each account needs starting cash above 0"),
        (("--capital", "lots"), "error: --capital 'lots' is not a number"),
        (("-s", "momentum,breakout"), "error: --mode single trades one strategy, and -s names 2; add --mode parallel"),
        (("--feed", "kraken"), "error: --feed 'kraken' is not a feed"),
        (("--fill-model", "mid"), "error: --fill-model 'mid': choose one of touch, book"),
        (("--param", "momentum.lookback=5,10"), "error: --param lookback=5,10: paper trading takes one value"),
    ],
)
def test_bad_flags_are_one_line_before_connecting(args: tuple[str, ...], said: str) -> None:
    assert _refused("--feed", "ws://127.0.0.1:9/ws", *args).startswith(said)


def test_an_unknown_product_is_named(sandbox: Running) -> None:
    line = _refused("--feed", sandbox.ws_url, "-p", "BTC-USD,NOPE-USD")
    assert line.startswith("error: the feed does not carry NOPE-USD (it lists BTC-USD, ETH-USD)")


def test_a_product_the_feed_does_not_carry_is_named(sandbox: Running, isolated_dirs: Path) -> None:
    line = _refused("--feed", sandbox.ws_url, "-p", "SOL-USD")
    assert line.startswith("error: the feed does not carry SOL-USD")
    assert not (isolated_dirs / "data" / "gpt-trader" / "gpt-trader.db").exists(), "no run is recorded"

"""`sim` keeps Python's full garbage collections off the objects a simulation accumulates while it runs, and
hands the interpreter back its own thresholds afterwards, whether the run ends well or not."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from gpt_trader.cli.sim import _full_collections_deferred


@pytest.fixture
def usual_thresholds() -> Iterator[tuple[int, int, int]]:
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield gc.get_threshold()
    gc.set_threshold(*before)


def test_full_collections_wait_while_the_simulation_runs(usual_thresholds: tuple[int, int, int]) -> None:
    with _full_collections_deferred():
        young, middle, full = gc.get_threshold()
        assert young > 100 * usual_thresholds[0] and middle == usual_thresholds[1] and full >= 100 * 10
    assert gc.get_threshold() == usual_thresholds


def test_the_thresholds_come_back_when_the_simulation_fails(usual_thresholds: tuple[int, int, int]) -> None:
    with pytest.raises(RuntimeError, match="strategy blew up"), _full_collections_deferred():
        raise RuntimeError("strategy blew up")
    assert gc.get_threshold() == usual_thresholds

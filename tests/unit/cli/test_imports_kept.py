"""A command's imports stay out of the garbage collector's work in the command's own process, and only there."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from gpt_trader.cli import app


@pytest.fixture
def own_process(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(app, "_own_process", True)
    yield
    gc.unfreeze()


def test_run_by_another_program_the_collector_is_left_alone() -> None:
    frozen = gc.get_freeze_count()
    with app.imports_kept():
        assert gc.isenabled()
    assert gc.get_freeze_count() == frozen


@pytest.mark.usefixtures("own_process")
def test_in_the_command_s_process_imports_are_frozen_and_the_collector_comes_back() -> None:
    frozen = gc.get_freeze_count()
    with app.imports_kept():
        assert not gc.isenabled()
        kept = [object() for _ in range(3)], {"a": [1]}
    assert gc.isenabled() and gc.get_freeze_count() >= frozen + 2
    assert kept


@pytest.mark.usefixtures("own_process")
def test_the_collector_comes_back_when_an_import_fails() -> None:
    with pytest.raises(ImportError), app.imports_kept():
        raise ImportError("no such module")
    assert gc.isenabled()


@pytest.mark.usefixtures("own_process")
def test_a_collector_disabled_before_stays_disabled() -> None:
    gc.disable()
    try:
        with app.imports_kept():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()

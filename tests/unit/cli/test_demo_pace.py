"""The demo keeps the sandbox's notes of a slow market out of its live output and says the last one at the end."""

from __future__ import annotations

import logging

import pytest

from gpt_trader.cli.demo import _pace_noted
from gpt_trader.sandbox.market import log as market_log
from gpt_trader.sandbox.market import pace_log


def test_the_last_note_of_a_slow_market_is_said_once_at_the_end(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.WARNING)
    with _pace_noted():
        pace_log.warning("%s", "the market runs at 270x instead of 300x: the server cannot replay faster")
        pace_log.warning("%s", "the market runs at 278x instead of 300x: the server cannot replay faster")
        market_log.warning("a subscriber failed")  # the sandbox's other warnings still show
        assert capsys.readouterr().out == ""
    assert [record.getMessage() for record in caplog.records] == ["a subscriber failed"]
    said = capsys.readouterr().out
    assert said == "Sandbox: the market runs at 278x instead of 300x: the server cannot replay faster.\n"
    pace_log.warning("after the demo")
    assert caplog.records[-1].getMessage() == "after the demo"


def test_a_market_at_its_pace_adds_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    with _pace_noted():
        pass
    assert capsys.readouterr().out == ""

"""`gpt-trader status --session ID` for an id the database does not have: an error naming it, not an empty report."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cli import gpt_trader
from tests.support.session_processes import environment


@pytest.mark.parametrize("json_flag", [[], ["--json"]])
def test_an_unknown_session_id_is_named_and_exits_2(tmp_path: Path, json_flag: list[str]) -> None:
    shown = gpt_trader("status", "--session", "999", "--session", "998", *json_flag, env=environment(tmp_path / "s.db"))
    assert shown.returncode == 2, shown.stdout
    assert "no session 998, 999 in" in shown.stderr and "gpt-trader session list" in shown.stderr
    assert "Traceback" not in shown.stderr
    assert shown.stdout == ""


def test_without_session_ids_an_empty_database_is_no_error(tmp_path: Path) -> None:
    shown = gpt_trader("status", env=environment(tmp_path / "s.db"))
    assert shown.returncode == 0, shown.stderr
    assert "no running session" in shown.stdout

"""Every command's `--help` at 80 columns, rendered by the real command tree: names where Typer would print types."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import typer
from typer.testing import CliRunner, Result

from gpt_trader.cli.app import COMMANDS, app

UNREADABLE = re.compile(r"<(str|bool|int|float|path|list\[[^]]*\])>|\{[A-Z_.]+\}")


def _paths(command: object, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield path
    for name in getattr(command, "list_commands", lambda ctx: [])(None):
        yield from _paths(command.get_command(None, name), (*path, name))  # type: ignore[attr-defined]


def _help(path: tuple[str, ...]) -> Result:
    return CliRunner().invoke(app, [*path, "--help"], prog_name="gpt-trader", env={"COLUMNS": "80"})


ROOT = typer.main.get_command(app)
EVERY_COMMAND = list(_paths(ROOT))


def test_the_tree_holds_every_registered_command_and_their_sub_commands() -> None:
    top = {path[0] for path in EVERY_COMMAND if path}
    assert top == set(COMMANDS)
    assert ("data", "fetch") in EVERY_COMMAND and ("sandbox", "keys", "create") in EVERY_COMMAND


@pytest.mark.parametrize("path", EVERY_COMMAND, ids=lambda path: " ".join(path) or "gpt-trader")
def test_help_names_values_instead_of_showing_types(path: tuple[str, ...]) -> None:
    shown = _help(path)
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    assert max(map(len, lines)) <= 80
    assert not UNREADABLE.search(shown.output), UNREADABLE.search(shown.output)


@pytest.mark.parametrize(
    ("path", "usage", "row"),
    [
        (("data", "fetch"), "PRODUCTS...", "  PRODUCTS...  Product ids"),
        (("data", "verify"), "[PRODUCTS]...", "  PRODUCTS...  Product ids to check"),
        (("strategies",), "[FILE.py]...", "  FILE.py...  Strategy files"),
        (("runs", "show"), "RUN_ID", "  RUN_ID  The run's id"),
    ],
)
def test_arguments_read_as_click_writes_them(path: tuple[str, ...], usage: str, row: str) -> None:
    lines = _help(path).output.splitlines()
    assert lines[0] == f"Usage: gpt-trader {' '.join(path)} [OPTIONS] {usage}"
    assert any(line.startswith(row) for line in lines), lines

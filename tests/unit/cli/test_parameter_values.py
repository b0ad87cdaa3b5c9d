"""The command tree's parameters pass the values that need no conversion as Typer would have converted them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import typer
from typer.core import TyperArgument, TyperOption

from gpt_trader.cli.app import PlainOption, ReadableArgument, app


def _commands(command: Any) -> Iterator[Any]:
    yield command
    for name in getattr(command, "list_commands", lambda ctx: [])(None):
        yield from _commands(command.get_command(None, name))


def _typer_processed(param: Any, context: Any, value: Any) -> Any:
    typer_class = TyperArgument if isinstance(param, ReadableArgument) else TyperOption
    try:
        return typer_class.process_value(param, context, value)
    except typer.BadParameter as error:
        return error.format_message()


def _processed(param: Any, context: Any, value: Any) -> Any:
    try:
        return param.process_value(context, value)
    except typer.BadParameter as error:
        return error.format_message()


ROOT = typer.main.get_command(app)
PARAMETERS = [
    (command, param)
    for command in _commands(ROOT)
    for param in command.params
    if isinstance(param, PlainOption | ReadableArgument)
]


def test_every_parameter_of_the_tree_is_plain() -> None:
    assert len(PARAMETERS) > 100
    kinds = {type(param) for command in _commands(ROOT) if command is not ROOT for param in command.params}
    assert kinds == {PlainOption, ReadableArgument}


@pytest.mark.parametrize(("command", "param"), PARAMETERS, ids=lambda item: getattr(item, "name", None) or "")
def test_defaults_and_absent_values_come_out_as_typer_makes_them(command: Any, param: Any) -> None:
    context = typer.Context(command)
    for value in (None, param.default):
        if param.required and value is None:
            continue
        processed = _processed(param, context, value)
        expected = _typer_processed(param, context, value)
        assert processed == expected and type(processed) is type(expected), (param.name, value)


def test_values_that_need_converting_or_break_a_bound_are_typer_s() -> None:
    command = next(command for command in _commands(ROOT) if command.name == "backtest")
    context = typer.Context(command)
    params = {param.name: param for param in command.params}
    for name, value in (("top", -1), ("top", "5"), ("cash", 100), ("days", "2.5"), ("workers", 0), ("param", ("a=1",))):
        processed = _processed(params[name], context, value)
        assert processed == _typer_processed(params[name], context, value), (name, value)
    assert _processed(params["top"], context, -1) == (
        "Invalid value for '--top': Input should be greater than or equal to 0"
    )
    assert _processed(params["cash"], context, 100) == 100.0 and type(_processed(params["cash"], context, 100)) is float

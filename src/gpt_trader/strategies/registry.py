"""Finding strategies: the built-ins by name, a user's .py file, and installed plugins.

A strategy *spec* (what the CLI's `--strategy` takes, and what runner jobs carry to worker processes):

* `momentum`                     a built-in or plugin strategy, by name;
* `path/to/file.py`              the strategies defined in that file;
* `path/to/file.py:RsiReversal`  one of them, by class name or strategy name.

Plugins are installed packages that declare an entry point in the group `gpt_trader.strategies`
naming a Strategy subclass (or instance), e.g. in their pyproject.toml:

    [project.entry-points."gpt_trader.strategies"]
    pairs = "my_package.pairs:PairsStrategy"

A plugin that fails to load gives a `StrategyPluginWarning` naming it; the others still load.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib.util
import inspect
import sys
import traceback
import warnings
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType
from typing import Any

from gpt_trader.errors import UserError
from gpt_trader.strategies.base import Strategy

ENTRY_POINT_GROUP = "gpt_trader.strategies"
_USER_MODULE_PREFIX = "gpt_trader_user_strategies"
_FILE_HELP = "give a file as path/to/file.py or path/to/file.py:ClassName"


class StrategyPluginWarning(UserWarning):
    """An installed strategy plugin could not be loaded (the other strategies still work)."""


def builtin_strategies() -> list[Strategy]:
    from gpt_trader.strategies.builtin import BUILTIN_STRATEGIES

    return [cls() for cls in BUILTIN_STRATEGIES]


def list_strategies() -> list[Strategy]:
    """The built-in strategies, then those of installed plugins (a plugin may not reuse a taken name)."""
    strategies = builtin_strategies()
    taken = {strategy.name for strategy in strategies}
    for origin, strategy in _plugin_strategies():
        if strategy.name in taken:
            _warn(f"strategy plugin {origin} is skipped: the name {strategy.name!r} is already taken")
            continue
        taken.add(strategy.name)
        strategies.append(strategy)
    return strategies


def get_strategy(spec: str) -> Strategy:
    """The strategy a spec names: a built-in or plugin name, a file holding one, or `file.py:Class`."""
    if _file_part(spec) is not None:
        strategies = load_spec(spec)
        if len(strategies) > 1:
            names = ", ".join(type(strategy).__name__ for strategy in strategies)
            raise UserError(f"{spec} defines several strategies ({names}); pick one as {spec}:ClassName")
        return strategies[0]
    for strategy in builtin_strategies():
        if strategy.name == spec:
            return strategy
    available = list_strategies()
    for strategy in available:
        if strategy.name == spec:
            return strategy
    known = [strategy.name for strategy in available]
    guess = difflib.get_close_matches(spec, known, n=1)
    hint = f" Did you mean {guess[0]!r}?" if guess else ""
    raise UserError(f"unknown strategy {spec!r}.{hint} Available: {', '.join(known)}; or {_FILE_HELP}.")


def load_spec(spec: str) -> list[Strategy]:
    """Every strategy a spec names (see the module docstring), at least one."""
    path = _file_part(spec)
    if path is None:
        return [get_strategy(spec)]
    strategies = load_strategy_file(path)
    selector = spec[len(path) + 1 :]
    if not selector:
        return strategies
    chosen = [s for s in strategies if selector in (type(s).__name__, s.name)]
    if not chosen:
        defined = ", ".join(f"{type(s).__name__} ({s.name})" for s in strategies)
        raise UserError(f"{path} has no strategy {selector!r}; it defines {defined}")
    return chosen


def load_strategy_file(path: str | Path) -> list[Strategy]:
    """Import a user's .py file and return an instance of each Strategy subclass it defines.

    The module is registered in `sys.modules` under a name derived from the file's absolute path, so
    the classes pickle to processes forked from this one; an unchanged file is not re-imported.
    """
    source = Path(path).expanduser()
    if not source.is_file():
        raise UserError(f"strategy file {source} does not exist; {_FILE_HELP}")
    if source.suffix != ".py":
        raise UserError(f"strategy file {source} is not a Python file (.py)")
    classes = _strategy_classes(_import_file(source.resolve()), source)
    return [_instantiate(cls, f"{source}") for cls in classes]


def _file_part(spec: str) -> str | None:
    """The file path of a file spec, or None for a plain strategy name."""
    if spec.endswith(".py"):
        return spec
    head, colon, _ = spec.rpartition(":")
    if colon and head.endswith(".py"):
        return head
    if "/" in spec or "\\" in spec:
        raise UserError(f"strategy {spec!r} looks like a path but is not a .py file; {_FILE_HELP}")
    return None


_imported: dict[Path, tuple[tuple[int, int], ModuleType]] = {}


def _import_file(source: Path) -> ModuleType:
    stat = source.stat()
    version = (stat.st_mtime_ns, stat.st_size)
    known = _imported.get(source)
    if known is not None and known[0] == version:
        return known[1]
    digest = hashlib.sha256(str(source).encode()).hexdigest()[:12]
    stem = "".join(c if c.isalnum() else "_" for c in source.stem)
    module_name = f"{_USER_MODULE_PREFIX}_{stem}_{digest}"
    spec = importlib.util.spec_from_file_location(module_name, source)
    if spec is None or spec.loader is None:
        raise UserError(f"strategy file {source} cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except SyntaxError as error:
        del sys.modules[module_name]
        where = f"{error.filename or source}:{error.lineno}"
        raise UserError(f"{where}: syntax error in strategy file: {error.msg}") from None
    except Exception as error:
        del sys.modules[module_name]
        where = _failing_line(error, source)
        raise UserError(f"{where}: importing the strategy file failed: {_describe(error)}") from error
    _imported[source] = (version, module)
    return module


def describe_failure(strategy: Strategy, error: Exception) -> str:
    """One line for a strategy that raised: its name, the line of its own file that failed, the exception."""
    if isinstance(error, UserError):  # already says what is wrong, e.g. signals that break the contract
        return str(error)
    source = inspect.getsourcefile(type(strategy))
    where = f" ({_failing_line(error, Path(source))})" if source else ""
    return f"strategy {strategy.name}{where} failed: {_describe(error)}"


def _failing_line(error: BaseException, source: Path) -> str:
    """`file:line` of the deepest frame of the failure inside the user's file."""
    frames = traceback.extract_tb(error.__traceback__)
    lines = [frame.lineno for frame in frames if Path(frame.filename) == source]
    return f"{source}:{lines[-1]}" if lines else str(source)


def _strategy_classes(module: ModuleType, source: Path) -> list[type[Strategy]]:
    defined = [
        value
        for value in vars(module).values()
        if isinstance(value, type) and issubclass(value, Strategy) and value.__module__ == module.__name__
    ]
    concrete = [cls for cls in defined if not inspect.isabstract(cls)]
    if not concrete:
        if defined:
            missing = ", ".join(sorted(defined[0].__abstractmethods__))
            raise UserError(f"{source}: {defined[0].__name__} is incomplete: implement {missing}")
        raise UserError(
            f"{source} defines no strategy: subclass gpt_trader.strategies.Strategy, set `name` and "
            "`params`, and implement `lookback` and `signals` (see docs/examples/rsi_strategy.py)"
        )
    names: dict[str, str] = {}
    for cls in concrete:
        name = getattr(cls, "name", None)
        if not isinstance(name, str) or not name:
            raise UserError(f"{source}: {cls.__name__} has no name; add e.g. name = {cls.__name__.lower()!r}")
        if name in names:
            raise UserError(f"{source}: {names[name]} and {cls.__name__} are both named {name!r}")
        names[name] = cls.__name__
    return concrete


def _instantiate(cls: type[Strategy], origin: str) -> Strategy:
    try:
        return cls()
    except Exception as error:
        raise UserError(f"{origin}: {cls.__name__}() failed: {_describe(error)}") from error


def _plugin_strategies() -> list[tuple[str, Strategy]]:
    found = []
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        origin = f"{entry.name!r} ({entry.value})"
        try:
            strategy = _plugin_strategy(entry.load())
        except Exception as error:
            _warn(f"strategy plugin {origin} could not be loaded: {_describe(error)}")
            continue
        found.append((origin, strategy))
    return found


def _plugin_strategy(target: Any) -> Strategy:
    if isinstance(target, type) and issubclass(target, Strategy):
        target = target()
    if not isinstance(target, Strategy):
        raise TypeError(f"it names {target!r}, not a Strategy subclass or instance")
    if not isinstance(getattr(target, "name", None), str) or not target.name:
        raise TypeError(f"{type(target).__name__} has no name")
    return target


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


def _warn(message: str) -> None:
    warnings.warn(message, StrategyPluginWarning, stacklevel=3)

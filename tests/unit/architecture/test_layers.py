"""Layering, read from the source with `ast` (an import inside a function or under `TYPE_CHECKING` counts too).

`market/` is venue-neutral, so none of its modules imports `coinbase/`; and a test module takes shared helpers
from `tests/support/` (or its folder's conftest), never from another test module.
"""

from __future__ import annotations

import ast
from pathlib import Path

import gpt_trader

PACKAGE = Path(gpt_trader.__file__).parent
TESTS = Path(__file__).resolve().parents[2]


def imported_modules(path: Path, root: Path = PACKAGE) -> set[str]:
    """Every module a source file under `root` imports, absolute (relative imports resolved against its package)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = ".".join((root.name, *path.relative_to(root).parent.parts))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def test_the_import_reader_sees_the_imports_of_a_module_and_of_a_package() -> None:
    module = PACKAGE / "market" / "sources" / "base.py"
    assert "gpt_trader.market.bars" in imported_modules(module)
    found = imported_modules(PACKAGE / "market" / "sources" / "__init__.py")
    assert "gpt_trader.market.sources.base" in found


def test_no_module_of_market_imports_coinbase() -> None:
    offenders = {
        str(path.relative_to(PACKAGE)): sorted(name for name in imported_modules(path) if _is_coinbase(name))
        for path in sorted((PACKAGE / "market").rglob("*.py"))
    }
    assert {path: names for path, names in offenders.items() if names} == {}


def _is_coinbase(module: str) -> bool:
    return module == "gpt_trader.coinbase" or module.startswith("gpt_trader.coinbase.")


def test_the_helper_rule_tells_borrowing_from_sharing() -> None:
    assert _borrowed("tests.unit.strategies.synthetic.tick_walk_bars", "tests.integration.strategies")
    assert _borrowed("tests.unit.backtest.test_reference.markets", "tests.unit.backtest")
    assert _borrowed("tests.integration.sandbox.test_ws_faults", "tests.integration.sandbox")
    assert not _borrowed("tests.integration.store.workers.result_rows", "tests.integration.store")
    assert not _borrowed("tests.support.synthetic_bars.tick_walk_bars", "tests.unit.strategies")
    assert not _borrowed("tests.integration.sandbox.conftest.START", "tests.integration.sandbox")


def test_test_modules_share_helpers_only_through_support_and_conftest() -> None:
    borrowed = {}
    for path in sorted(TESTS.rglob("*.py")):
        folder = ".".join(("tests", *path.relative_to(TESTS).parent.parts))
        names = {name for name in imported_modules(path, TESTS) if _borrowed(name, folder)}
        if names:
            borrowed[str(path.relative_to(TESTS))] = sorted(names)
    assert borrowed == {}


def _borrowed(module: str, folder: str) -> bool:
    """Whether importing `module` from a file in `folder` takes a helper from where helpers do not live.

    Helpers live in `tests.support`, in a conftest, or in a helper module beside the test (never a `test_*`).
    """
    if not module.startswith("tests.") or module.startswith("tests.support") or ".conftest" in module:
        return False
    parts = module.split(".")
    owner = next((i for i, part in enumerate(parts) if part.startswith("test_")), None)
    if owner is not None:
        return True
    # `tests.x.helper` or `tests.x.helper.name`: a helper module beside the importer is fine.
    return ".".join(parts[:-1]) != folder and ".".join(parts[:-2]) != folder

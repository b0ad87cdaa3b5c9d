"""The package's layering: `market/` is venue-neutral, so none of its modules imports `coinbase/`.

Read from the source with `ast`, so an import inside a function or under `TYPE_CHECKING` counts too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import gpt_trader

PACKAGE = Path(gpt_trader.__file__).parent


def imported_modules(path: Path) -> set[str]:
    """Every module a source file imports, absolute (relative imports resolved against its package)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = ".".join(("gpt_trader", *path.relative_to(PACKAGE).parent.parts))
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

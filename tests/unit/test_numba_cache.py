"""Numba's cache folder follows the compiled sources: an edit of the rules can never run a stale kernel."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import gpt_trader
from gpt_trader.numba_cache import COMPILED_SOURCES, point_numba_cache, sources_digest

PACKAGE = Path(gpt_trader.__file__).parent


def copy_of_the_compiled_sources(folder: Path) -> Path:
    for pattern in COMPILED_SOURCES:
        for path in PACKAGE.glob(pattern):
            target = folder / path.relative_to(PACKAGE)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
    return folder


def imports_numba(path: Path) -> bool:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import) and any(alias.name.split(".")[0] == "numba" for alias in node.names):
            return True
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "numba":
            return True
    return False


def test_a_changed_rules_file_gives_a_new_cache_folder_and_the_old_sources_their_old_one(tmp_path: Path) -> None:
    package = copy_of_the_compiled_sources(tmp_path / "gpt_trader")
    before = sources_digest(package)
    assert sources_digest(package) == before
    rules = package / "trading" / "rules.py"
    original = rules.read_text()
    rules.write_text(original.replace("low <= ", "low < ", 1))
    assert original != rules.read_text()
    assert sources_digest(package) != before
    rules.write_text(original)
    assert sources_digest(package) == before


def test_an_edit_of_a_constant_the_kernel_freezes_or_of_a_strategy_changes_the_folder(tmp_path: Path) -> None:
    package = copy_of_the_compiled_sources(tmp_path / "gpt_trader")
    before = sources_digest(package)
    for relative in ("backtest/settings.py", "strategies/builtin/ma_crossover.py"):
        with (package / relative).open("a") as source:
            source.write("\n")
        assert sources_digest(package) != before
        before = sources_digest(package)


def test_every_module_that_imports_numba_is_among_the_hashed_sources() -> None:
    hashed = {path for pattern in COMPILED_SOURCES for path in PACKAGE.glob(pattern)}
    compiled = {path for path in PACKAGE.rglob("*.py") if imports_numba(path)}
    assert compiled, "the scan found no module importing Numba"
    assert sorted(str(p.relative_to(PACKAGE)) for p in compiled - hashed) == []


def test_the_folder_lies_under_the_cache_dir_named_by_the_digest_and_is_made(tmp_path: Path) -> None:
    environ = {"GPT_TRADER_CACHE_DIR": str(tmp_path / "cache")}
    point_numba_cache(environ)
    folder = tmp_path / "cache" / "numba" / sources_digest()
    assert environ["NUMBA_CACHE_DIR"] == str(folder)
    assert folder.is_dir()


def test_without_a_cache_dir_setting_the_folder_follows_xdg(tmp_path: Path) -> None:
    environ = {"XDG_CACHE_HOME": str(tmp_path)}
    point_numba_cache(environ)
    assert environ["NUMBA_CACHE_DIR"] == str(tmp_path / "gpt-trader" / "numba" / sources_digest())


def test_a_folder_the_user_chose_is_kept(tmp_path: Path) -> None:
    environ = {"NUMBA_CACHE_DIR": str(tmp_path / "mine"), "GPT_TRADER_CACHE_DIR": str(tmp_path / "cache")}
    point_numba_cache(environ)
    assert environ["NUMBA_CACHE_DIR"] == str(tmp_path / "mine")
    assert not (tmp_path / "cache").exists()


def test_a_cache_dir_that_cannot_be_made_leaves_numba_its_default(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    environ = {"GPT_TRADER_CACHE_DIR": str(blocker)}
    point_numba_cache(environ)
    assert "NUMBA_CACHE_DIR" not in environ


def test_numba_reads_the_folder_in_a_fresh_process_importing_the_kernel(tmp_path: Path) -> None:
    environ = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    environ["GPT_TRADER_CACHE_DIR"] = str(tmp_path)
    code = "import gpt_trader.backtest.kernel, numba; print(numba.config.CACHE_DIR)"
    printed = subprocess.run([sys.executable, "-c", code], env=environ, capture_output=True, text=True, check=True)
    assert printed.stdout.strip() == str(tmp_path / "numba" / sources_digest())

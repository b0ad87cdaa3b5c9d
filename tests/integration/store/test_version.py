"""`code_version()` against real git repositories: a checkout, a dirty one, a foreign one, and no git."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from gpt_trader.store import version

GIT_IDENTITY = ["-c", "user.name=Test", "-c", "user.email=test@example.invalid", "-c", "commit.gpgsign=false"]


def git(repository: Path, *arguments: str) -> str:
    completed = subprocess.run(
        ["git", *GIT_IDENTITY, *arguments], cwd=repository, capture_output=True, text=True, check=True
    )
    return completed.stdout.strip()


@pytest.fixture(autouse=True)
def fresh_cache() -> Iterator[None]:
    version.code_version.cache_clear()
    yield
    version.code_version.cache_clear()


@pytest.fixture
def checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A git repository laid out like this project, with the package directory pointed into it."""
    package = tmp_path / "checkout" / "src" / "gpt_trader"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text('__version__ = "0.1.0"\n')
    git(tmp_path / "checkout", "init", "-q")
    git(tmp_path / "checkout", "add", ".")
    git(tmp_path / "checkout", "commit", "-q", "-m", "first")
    monkeypatch.setattr(version, "_PACKAGE_DIR", package.resolve())
    return package


def test_a_clean_checkout_adds_the_short_commit(checkout: Path) -> None:
    commit = git(checkout, "rev-parse", "--short", "HEAD")
    assert version.code_version() == f"{version.package_version()}@{commit}"


def test_local_edits_mark_it_dirty_but_untracked_files_do_not(checkout: Path) -> None:
    commit = git(checkout, "rev-parse", "--short", "HEAD")
    (checkout / "scratch.py").write_text("print('untracked')\n")
    assert version.code_version() == f"{version.package_version()}@{commit}"
    version.code_version.cache_clear()
    (checkout / "__init__.py").write_text('__version__ = "0.1.0"\nEDITED = True\n')
    assert version.code_version() == f"{version.package_version()}@{commit}+dirty"


def test_an_install_inside_another_repository_reports_only_the_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = tmp_path / "someone-elses-project"
    package = other / ".venv" / "site-packages" / "gpt_trader"
    package.mkdir(parents=True)
    (other / "README").write_text("not GPT-Trader\n")
    git(other, "init", "-q")
    git(other, "add", "README")
    git(other, "commit", "-q", "-m", "theirs")
    monkeypatch.setattr(version, "_PACKAGE_DIR", package)
    assert version.code_version() == version.package_version()


def test_without_git_it_is_the_package_version(checkout: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(checkout / "no-such-bin"))
    assert version.code_version() == version.package_version()


def test_outside_any_repository_it_is_the_package_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lonely = tmp_path / "site-packages" / "gpt_trader"
    lonely.mkdir(parents=True)
    monkeypatch.setattr(version, "_PACKAGE_DIR", lonely)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    assert version.code_version() == version.package_version()


def test_an_installed_copy_asks_git_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every recorded run reads the code version: outside a checkout it costs no process."""
    installed = tmp_path / "site-packages" / "gpt_trader"
    installed.mkdir(parents=True)
    monkeypatch.setattr(version, "_PACKAGE_DIR", installed)
    monkeypatch.setattr(version, "_git", lambda *arguments: pytest.fail(f"ran git {' '.join(arguments)}"))
    assert version.code_version() == version.package_version()

"""The code version recorded with every run: the package version, plus the git commit in a checkout."""

from __future__ import annotations

import subprocess
from functools import cache
from importlib import metadata
from pathlib import Path

import gpt_trader

_PACKAGE_DIR = Path(gpt_trader.__file__).resolve().parent


@cache
def code_version() -> str:
    """`0.1.0` when installed, `0.1.0@1a2b3c4` in a git checkout, `0.1.0@1a2b3c4+dirty` with local edits.

    Untracked files do not count as edits. Never fails: without git, the package version alone.
    """
    version = package_version()
    if not _is_own_checkout():
        return version
    commit = _git("rev-parse", "--short", "HEAD")
    if commit is None:
        return version
    dirty = _git("status", "--porcelain", "--untracked-files=no")
    return f"{version}@{commit}{'+dirty' if dirty else ''}"


def package_version() -> str:
    try:
        return metadata.version("gpt-trader")
    except metadata.PackageNotFoundError:
        return gpt_trader.__version__


def _is_own_checkout() -> bool:
    # An installed copy may sit inside some other repository (a virtualenv in a project folder):
    # only a checkout of this project, with the package at src/gpt_trader, has a meaningful commit. Its
    # top folder holds `.git` (a folder, or a file in a worktree); reading that asks git nothing, so an
    # installed copy records a run without starting git at all.
    source = _PACKAGE_DIR.parent
    return source.name == "src" and (source.parent / ".git").exists()


def _git(*arguments: str) -> str | None:
    """Git's trimmed output, or None when git is missing, fails, or takes too long."""
    try:
        completed = subprocess.run(
            ["git", *arguments],
            cwd=_PACKAGE_DIR,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return completed.stdout.strip()

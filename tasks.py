#!/usr/bin/env python3
"""Set up GPT-Trader in a local virtual environment and run its main jobs.

Needs only Python 3.11+. Every task first makes sure `.venv/` exists and holds the
project (editable) with its development tools; the install is redone only when
`pyproject.toml` changes.

    python3 tasks.py demo    set up, then run the offline demo (no keys, no network)
    python3 tasks.py test    set up, then run ruff, mypy and the whole test suite
    python3 tasks.py setup   only set up
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")
STAMP = VENV / ".installed-pyproject-sha256"


def run(*args: str | Path) -> None:
    print("+", " ".join(str(a) for a in args), flush=True)
    completed = subprocess.run([str(a) for a in args], cwd=ROOT)
    if completed.returncode != 0:
        sys.exit(completed.returncode)


def setup() -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 - this file runs under whatever python3 the user has
        sys.exit(f"GPT-Trader needs Python 3.11 or newer; this is {sys.version.split()[0]}.")
    if not PYTHON.exists():
        print(f"Creating a virtual environment in {VENV.name}/ ...", flush=True)
        venv.create(VENV, with_pip=True)
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text().strip() == wanted:
        return
    run(PYTHON, "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    run(PYTHON, "-m", "pip", "install", "--quiet", "-e", ".[dev]")
    STAMP.write_text(wanted)


def demo() -> None:
    run(BIN / "gpt-trader", "demo")


def test() -> None:
    run(BIN / "ruff", "check", "src", "tests", "bench", "tasks.py")
    run(BIN / "mypy")
    run(PYTHON, "-m", "pytest", *sys.argv[2:])


TASKS = {"setup": lambda: None, "demo": demo, "test": test}


def main() -> None:
    task = sys.argv[1] if len(sys.argv) > 1 else ""
    if task not in TASKS:
        sys.exit(__doc__)
    setup()
    TASKS[task]()


if __name__ == "__main__":
    main()

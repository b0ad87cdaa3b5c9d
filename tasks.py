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
import re
import subprocess
import sys
import time
import venv
from collections.abc import Callable, Iterable
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
    print(what_is_installed(), flush=True)
    pip_install("pip itself, to its newest version", "--upgrade", "pip")
    pip_install("GPT-Trader and its dependencies", "-e", ".[dev]")
    STAMP.write_text(wanted)


def what_is_installed() -> str:
    """One paragraph naming the packages the install brings, read from pyproject.toml."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = [requirement_name(r) for r in project["dependencies"]]
    tools = [requirement_name(r) for r in project["optional-dependencies"]["dev"] if requirement_name(r) not in runtime]
    return (
        f"Installing GPT-Trader into {VENV.name}/ (once; again only when pyproject.toml changes), with its "
        f"{len(runtime)} dependencies ({', '.join(runtime)}), {len(tools)} packages for tests and development "
        f"({', '.join(tools)}) and what those need in turn. On a fresh machine pip downloads them all: a few minutes."
    )


def pip_install(what: str, *args: str) -> None:
    """`pip install args`, printing a line per package instead of pip's log; the whole log if it fails."""
    print(f"Installing {what}:", flush=True)
    started = time.monotonic()
    command = [str(PYTHON), "-m", "pip", "install", "--progress-bar", "off", *args]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert process.stdout is not None
    log = list(report_progress(process.stdout, lambda line: print(line, flush=True)))
    if process.wait() != 0:
        print("".join(log), end="", file=sys.stderr)
        sys.exit(f"Installing {what} failed (pip's messages above); fix the cause and run this command again.")
    print(f"  done in {time.monotonic() - started:.0f} s", flush=True)


def report_progress(pip_output: Iterable[str], say: Callable[[str], None]) -> Iterable[str]:
    """Pass pip's output lines through, saying one short line per package fetched and per install step."""
    fetched = 0
    for line in pip_output:
        if line.startswith(("Collecting ", "Processing ")):
            fetched += 1
            say(f"  [{fetched:3}] fetching {package_name(line.split()[1])}")
        elif line.startswith("Obtaining file:"):
            say("  [   ] GPT-Trader itself (editable: your changes to src/ take effect without reinstalling)")
        elif line.startswith("Installing collected packages:"):
            count = len(line.split(":", 1)[1].split(","))
            say(f"  unpacking and installing {count} package{'s' if count != 1 else ''} (the longest step) ...")
        yield line


def requirement_name(requirement: str) -> str:
    """The package a requirement names: `numba` of `numba>=0.61,<0.70`, `psycopg` of `psycopg[binary]>=3.2`."""
    return re.split(r"[\s\[<>=!~;@]", requirement.strip(), maxsplit=1)[0]


def package_name(requirement_or_file: str) -> str:
    """The package of a requirement, or of a wheel or archive file pip processes (`pyjwt-2.15.1-py3-none-any.whl`)."""
    name = requirement_or_file.rsplit("/", 1)[-1]
    if name.endswith((".whl", ".tar.gz", ".zip")):
        return name.split("-", 1)[0]
    return requirement_name(name)


def demo() -> None:
    run(BIN / "gpt-trader", "demo")


def test() -> None:
    run(BIN / "ruff", "check", "src", "tests", "bench", "tasks.py")
    run(BIN / "mypy")
    # One pytest worker per core: most of the slow tests wait on servers and child processes.
    # A `-n`/`--numprocesses` given overrides it (`-n 0`: all in this process).
    given = sys.argv[2:]
    workers = [] if any(a.startswith(("-n", "--numprocesses")) for a in given) else ["--numprocesses", "auto"]
    run(PYTHON, "-m", "pytest", *workers, *given)


TASKS = {"setup": lambda: None, "demo": demo, "test": test}


def main() -> None:
    task = sys.argv[1] if len(sys.argv) > 1 else ""
    if task not in TASKS:
        sys.exit(__doc__)
    setup()
    TASKS[task]()


if __name__ == "__main__":
    main()

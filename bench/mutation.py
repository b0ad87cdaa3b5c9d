"""Mutation testing of the core: plant one small bug at a time and see whether the tests catch it.

    python -m bench.mutation [--module rules ...] [--budget SECONDS] [--survivors | --resume | --report]

The mutants are cosmic-ray's (`cosmic-ray operators` lists them); `[tool.gpt-trader.mutation]` in pyproject.toml
picks the operators and, per core module, the tests that guard it. Each mutant is planted in a scratch copy of
`src/` and `tests/` (the checkout is never edited) and its tests run there with `pytest -x` under
`NUMBA_DISABLE_JIT=1`: pure Python compiles nothing, so a mutant planted in `trading/rules.py` is seen by the
kernel that calls it, and a run takes seconds instead of a compile. Each run is forked from this process, which
imported NumPy, Numba, pandas and the test tools once (GPT-Trader itself is imported afresh by every run, mutated).
A mutant is killed when a test fails or the run times out, and survives when every test passes. A survivor
that no test could ever catch (an equivalent mutant) is listed with the reason in
`bench/mutation_equivalents.toml` and reported as accepted, not run.

The score is killed / (killed + survived) per module and over all. Results are kept in
`out/mutation/<module>.json`, rewritten after every mutant, so a stopped run loses only the mutant it was
running: `--survivors` runs again only what survived last time (after adding a test), `--resume` what a run
left, and `--report` prints the report of them all without running anything (counting as accepted what
`bench/mutation_equivalents.toml` has accepted since). The exit status is 1 while an unaccepted survivor
remains. A full run takes long: `--budget` bounds the seconds spent per module, and what it leaves is
reported as not run yet.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import re
import shutil
import signal
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

from cosmic_ray.commands import init
from cosmic_ray.mutating import mutate_code, use_mutation
from cosmic_ray.plugins import get_operator
from cosmic_ray.work_db import WorkDB, use_db
from cosmic_ray.work_item import MutationSpec

ROOT = Path(__file__).resolve().parents[1]
EQUIVALENTS = ROOT / "bench" / "mutation_equivalents.toml"
RESULTS = ROOT / "out" / "mutation"
KILLED, SURVIVED, EQUIVALENT, NOT_RUN = "killed", "survived", "equivalent", "not run"

Key = tuple[str, str, str, str, str]
"""(module, function, operator, line before, line after)."""


@dataclass(frozen=True)
class Settings:
    operators: re.Pattern[str]
    skip_lines: re.Pattern[str]
    modules: dict[str, list[str]]
    min_timeout_s: float


@dataclass
class Mutant:
    module: str
    line_number: int
    operator: str
    line: str
    mutant: str
    function: str
    """The function (or class) the mutated line is in; empty at module level."""
    outcome: str = NOT_RUN
    reason: str = ""

    @property
    def key(self) -> Key:
        """What names a mutant across edits elsewhere in the file: its line's text, not its number."""
        return self.module, self.function, self.operator, self.line, self.mutant


def load_settings(pyproject: Path = ROOT / "pyproject.toml") -> Settings:
    table = tomllib.loads(pyproject.read_text())["tool"]["gpt-trader"]["mutation"]
    return Settings(
        operators=re.compile("|".join(f"(?:{name})" for name in table["operators"])),
        skip_lines=re.compile("|".join(f"(?:{line})" for line in table["skip_lines"])),
        modules={module: list(tests) for module, tests in table["modules"].items()},
        min_timeout_s=float(table["min_timeout_s"]),
    )


def load_equivalents(path: Path = EQUIVALENTS) -> dict[Key, str]:
    entries = tomllib.loads(path.read_text()).get("equivalent", []) if path.exists() else []
    return {(e["module"], e["function"], e["operator"], e["line"], e["mutant"]): e["reason"] for e in entries}


@contextmanager
def scratch_copy() -> Iterator[Path]:
    """src/, tests/ and pyproject.toml copied to a temporary folder, with `../shared` beside it as in a clone."""
    with tempfile.TemporaryDirectory(prefix="gpt-trader-mutation-") as folder:
        repo = Path(folder) / "repo"
        ignore = shutil.ignore_patterns("__pycache__", ".hypothesis", ".pytest_cache")
        for part in ("src", "tests"):
            shutil.copytree(ROOT / part, repo / part, ignore=ignore)
        shutil.copy2(ROOT / "pyproject.toml", repo / "pyproject.toml")
        shared = ROOT.parent / "shared"
        if shared.is_dir():
            (Path(folder) / "shared").symlink_to(shared)
        yield repo


def plan(repo: Path, module: str, settings: Settings) -> list[tuple[MutationSpec, Mutant]]:
    """Every mutant of one module that the chosen operators make, with the line it changes before and after."""
    path = repo / module
    source = path.read_text()
    lines = source.splitlines()
    with use_db(str(repo.parent / "session.sqlite"), WorkDB.Mode.create) as db:
        init([path], db, {})
        specs = [m for item in db.work_items for m in item.mutations if settings.operators.fullmatch(m.operator_name)]
    planned = []
    for spec in sorted(specs, key=lambda s: (s.start_pos, s.operator_name, s.occurrence)):
        mutated = mutate_code(source, get_operator(spec.operator_name)(), spec.occurrence)
        if mutated is None:
            continue
        number = spec.start_pos[0]
        if settings.skip_lines.search(lines[number - 1]):
            continue
        after = mutated.splitlines()[number - 1].strip()
        name = spec.operator_name.removeprefix("core/")
        function = spec.definition_name or ""
        planned.append((spec, Mutant(module, number, name, lines[number - 1].strip(), after, function)))
    return planned


def warm_up() -> None:
    """Import the heavy libraries once, with the JIT off, before any child is forked (never GPT-Trader itself:
    each child imports it afresh, mutated)."""
    os.environ["NUMBA_DISABLE_JIT"] = "1"
    for name in ("numpy", "numba", "pandas", "pyarrow", "hypothesis", "pytest", "pydantic", "sqlalchemy", "httpx"):
        importlib.import_module(name)


def run_tests(repo: Path, tests: list[str], timeout_s: float) -> bool:
    """Whether the tests pass, run by pytest in a child forked from this warm process; a timeout is a failure."""
    # A mutant that loops for ever fails its test at pytest-timeout's limit rather than the whole run's.
    args = ["-x", "-q", "-p", "no:cacheprovider", "--timeout=120", *tests]
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.chdir(repo)
            sys.path[:0] = [str(repo / "src"), str(repo)]
            quiet = os.open(os.devnull, os.O_WRONLY)
            os.dup2(quiet, 1)
            os.dup2(quiet, 2)
            import pytest

            code = int(pytest.main(args))
        finally:
            os._exit(code)
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                pid = 0
                return os.waitstatus_to_exitcode(status) == 0
            time.sleep(0.05)
        return False
    finally:
        if pid:  # timed out, or this run was stopped: the child must not outlive it
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)


def run_module(
    repo: Path,
    module: str,
    settings: Settings,
    budget_s: float,
    previous: dict[Key, Mutant],
    again: set[str] | None,
    equivalents: dict[Key, str],
    save: Callable[[list[Mutant]], None],
) -> list[Mutant]:
    """Run the module's mutants; with `again`, only those whose previous outcome is in it (or that are new).
    Every outcome is saved as soon as it is known, so a run that is stopped keeps what it found."""
    tests = settings.modules[module]
    started = time.monotonic()
    if not run_tests(repo, tests, timeout_s=30 * 60):
        sys.exit(f"{module}: its tests fail before any mutation (pytest {' '.join(tests)}); fix them first.")
    timeout = max(settings.min_timeout_s, 3 * (time.monotonic() - started))
    deadline = time.monotonic() + budget_s
    mutants, pending = [], []
    for spec, mutant in plan(repo, module, settings):
        earlier = previous.get(mutant.key)
        if again is not None and earlier is not None and earlier.outcome not in again:
            mutants.append(earlier)
            continue
        mutants.append(mutant)
        if mutant.key in equivalents:
            mutant.outcome, mutant.reason = EQUIVALENT, equivalents[mutant.key]
        else:
            pending.append((spec, mutant))
    save(mutants)
    for spec, mutant in pending:
        if time.monotonic() >= deadline:
            break
        with use_mutation(Path(spec.module_path), get_operator(spec.operator_name)(), spec.occurrence):
            mutant.outcome = SURVIVED if run_tests(repo, tests, timeout) else KILLED
        print(f"  {mutant.outcome:8} {module}:{mutant.line_number} `{mutant.mutant}`", flush=True)
        save(mutants)
    return mutants


def score(mutants: list[Mutant]) -> str:
    killed = sum(m.outcome == KILLED for m in mutants)
    survived = sum(m.outcome == SURVIVED for m in mutants)
    counts = f"{killed} killed, {survived} survived"
    counts += f", {sum(m.outcome == EQUIVALENT for m in mutants)} equivalent (accepted)"
    not_run = sum(m.outcome == NOT_RUN for m in mutants)
    if not_run:
        counts += f", {not_run} not run yet (over the budget, or the run was stopped)"
    percent = f"{100 * killed / (killed + survived):.1f} %" if killed + survived else "n/a"
    return f"score {percent}: {counts}"


def report(results: dict[str, list[Mutant]]) -> str:
    out = ["Mutation testing of the core", ""]
    for module, mutants in results.items():
        out.append(f"{module}: {score(mutants)}")
        for m in mutants:
            if m.outcome == SURVIVED:
                where = f"{module}:{m.line_number} ({m.function or 'module level'})"
                out.append(f"  SURVIVED {where} {m.operator}: `{m.line}` -> `{m.mutant}`")
        for m in mutants:
            if m.outcome == EQUIVALENT:
                out.append(f"  accepted {module}:{m.line_number} {m.operator}: {m.reason}")
    out += ["", f"all modules: {score([m for mutants in results.values() for m in mutants])}"]
    return "\n".join(out)


def results_file(module: str) -> Path:
    return RESULTS / f"{module.removeprefix('src/').replace('/', '.').removesuffix('.py')}.json"


def save(module: str, mutants: list[Mutant]) -> None:
    """Write the module's results whole (a stopped run never leaves half a file)."""
    path = results_file(module)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".json.partial")
    partial.write_text(json.dumps([asdict(m) for m in mutants], indent=1))
    partial.replace(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--module", action="append", default=[], help="only modules whose path contains this")
    parser.add_argument("--budget", type=float, default=3600.0, help="seconds to spend per module (default 3600)")
    parser.add_argument("--survivors", action="store_true", help="run only what survived in the last results")
    parser.add_argument("--resume", action="store_true", help="run only what the last results left not run")
    parser.add_argument("--report", action="store_true", help="run nothing: print the report of the last results")
    args = parser.parse_args(argv)
    settings = load_settings()
    modules = [m for m in settings.modules if not args.module or any(part in m for part in args.module)]
    if not modules:
        parser.error(f"no core module matches {args.module}; the modules are: {', '.join(settings.modules)}")
    equivalents = load_equivalents()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the scratch copy is removed on `timeout`
    results: dict[str, list[Mutant]] = {}
    if args.report:
        stored = {m: [Mutant(**entry) for entry in json.loads(results_file(m).read_text())] for m in modules
                  if results_file(m).exists()}  # fmt: skip
        for mutant in (m for mutants in stored.values() for m in mutants):
            if mutant.key in equivalents:  # accepted since it ran: reported as accepted, as the next run would
                mutant.outcome, mutant.reason = EQUIVALENT, equivalents[mutant.key]
        print(report(stored))
        return 0
    warm_up()
    with scratch_copy() as repo:
        for module in modules:
            wanted = {SURVIVED} if args.survivors else set()
            again = (wanted | {NOT_RUN} if args.resume else wanted) or None
            known = results_file(module).exists() and again is not None
            stored = json.loads(results_file(module).read_text()) if known else []
            previous = {mutant.key: mutant for mutant in (Mutant(**m) for m in stored)}
            print(f"{module}:", flush=True)
            results[module] = run_module(
                repo, module, settings, args.budget, previous, again, equivalents, partial(save, module)
            )
    print(report(results))
    return 1 if any(m.outcome == SURVIVED for mutants in results.values() for m in mutants) else 0


if __name__ == "__main__":
    sys.exit(main())

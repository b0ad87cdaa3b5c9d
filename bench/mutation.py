"""Mutation testing of the core: plant one small bug at a time and see whether the tests catch it.

    python -m bench.mutation [--module rules ...] [--budget SECONDS] [--survivors]

The mutants are cosmic-ray's (`cosmic-ray operators` lists them); `[tool.gpt-trader.mutation]` in pyproject.toml
picks the operators and, per core module, the tests that guard it. Each mutant is planted in a scratch copy of
`src/` and `tests/` (the checkout is never edited) and its tests run there with `pytest -x` under
`NUMBA_DISABLE_JIT=1`: pure Python compiles nothing, so a mutant planted in `trading/rules.py` is seen by the
kernel that calls it, and a run takes seconds instead of a compile. A mutant is killed when a test fails or the
run times out, and survives when every test passes. A survivor that no test could ever catch (an equivalent
mutant) is listed with the reason in `bench/mutation_equivalents.toml` and reported as accepted, not run.

The score is killed / (killed + survived) per module and over all. Results are kept in
`out/mutation/<module>.json`; `--survivors` runs again only what survived last time (after adding a test).
The exit status is 1 while an unaccepted survivor remains. A full run takes long: `--budget` bounds the seconds
spent per module, and what it leaves is reported as not run.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import sys
import tempfile
import time
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from cosmic_ray.commands import init
from cosmic_ray.mutating import mutate_and_test, mutate_code
from cosmic_ray.plugins import get_operator
from cosmic_ray.testing import run_tests
from cosmic_ray.work_db import WorkDB, use_db
from cosmic_ray.work_item import MutationSpec, TestOutcome, WorkerOutcome

ROOT = Path(__file__).resolve().parents[1]
EQUIVALENTS = ROOT / "bench" / "mutation_equivalents.toml"
RESULTS = ROOT / "out" / "mutation"
KILLED, SURVIVED, EQUIVALENT, NOT_RUN = "killed", "survived", "equivalent", "not run"


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
    outcome: str = NOT_RUN
    reason: str = ""

    @property
    def key(self) -> tuple[str, str, str, str]:
        """What names a mutant across edits elsewhere in the file: its line's text, not its number."""
        return self.module, self.operator, self.line, self.mutant


def load_settings(pyproject: Path = ROOT / "pyproject.toml") -> Settings:
    table = tomllib.loads(pyproject.read_text())["tool"]["gpt-trader"]["mutation"]
    return Settings(
        operators=re.compile("|".join(f"(?:{name})" for name in table["operators"])),
        skip_lines=re.compile("|".join(f"(?:{line})" for line in table["skip_lines"])),
        modules={module: list(tests) for module, tests in table["modules"].items()},
        min_timeout_s=float(table["min_timeout_s"]),
    )


def load_equivalents(path: Path = EQUIVALENTS) -> dict[tuple[str, str, str, str], str]:
    entries = tomllib.loads(path.read_text()).get("equivalent", []) if path.exists() else []
    return {(e["module"], e["operator"], e["line"], e["mutant"]): e["reason"] for e in entries}


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
        planned.append((spec, Mutant(module, number, name, lines[number - 1].strip(), after)))
    return planned


def test_command(tests: list[str]) -> str:
    # A mutant that loops for ever fails its test at pytest-timeout's limit rather than the whole run's.
    return f"{sys.executable} -m pytest -x -q -p no:cacheprovider --timeout=120 {' '.join(tests)}"


def run_module(
    repo: Path,
    module: str,
    settings: Settings,
    budget_s: float,
    only: set[tuple[str, ...]] | None,
    equivalents: dict[tuple[str, str, str, str], str],
) -> list[Mutant]:
    command = test_command(settings.modules[module])
    started = time.monotonic()
    outcome, output = run_tests(command, timeout=30 * 60)
    if outcome != TestOutcome.SURVIVED:
        sys.exit(f"{module}: its tests fail before any mutation ({command}); fix them first.\n{output[-2000:]}")
    timeout = max(settings.min_timeout_s, 3 * (time.monotonic() - started))
    deadline = time.monotonic() + budget_s
    mutants = []
    for spec, mutant in plan(repo, module, settings):
        if only is not None and mutant.key not in only:
            continue
        mutants.append(mutant)
        if mutant.key in equivalents:
            mutant.outcome, mutant.reason = EQUIVALENT, equivalents[mutant.key]
        elif time.monotonic() < deadline:
            result = mutate_and_test([spec], command, timeout)
            survived = result.worker_outcome == WorkerOutcome.NORMAL and result.test_outcome == TestOutcome.SURVIVED
            mutant.outcome = SURVIVED if survived else KILLED
            print(f"  {mutant.outcome:8} {module}:{mutant.line_number} `{mutant.mutant}`", flush=True)
    return mutants


def score(mutants: list[Mutant]) -> str:
    killed = sum(m.outcome == KILLED for m in mutants)
    survived = sum(m.outcome == SURVIVED for m in mutants)
    counts = f"{killed} killed, {survived} survived"
    counts += f", {sum(m.outcome == EQUIVALENT for m in mutants)} equivalent (accepted)"
    not_run = sum(m.outcome == NOT_RUN for m in mutants)
    if not_run:
        counts += f", {not_run} not run (over the budget)"
    percent = f"{100 * killed / (killed + survived):.1f} %" if killed + survived else "n/a"
    return f"score {percent}: {counts}"


def report(results: dict[str, list[Mutant]]) -> str:
    out = ["Mutation testing of the core", ""]
    for module, mutants in results.items():
        out.append(f"{module}: {score(mutants)}")
        for m in mutants:
            if m.outcome == SURVIVED:
                out.append(f"  SURVIVED {module}:{m.line_number} {m.operator}: `{m.line}` -> `{m.mutant}`")
        for m in mutants:
            if m.outcome == EQUIVALENT:
                out.append(f"  accepted {module}:{m.line_number} {m.operator}: {m.reason}")
    out += ["", f"all modules: {score([m for mutants in results.values() for m in mutants])}"]
    return "\n".join(out)


def results_file(module: str) -> Path:
    return RESULTS / f"{module.removeprefix('src/').replace('/', '.').removesuffix('.py')}.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--module", action="append", default=[], help="only modules whose path contains this")
    parser.add_argument("--budget", type=float, default=3600.0, help="seconds to spend per module (default 3600)")
    parser.add_argument("--survivors", action="store_true", help="run only what survived in the last results")
    args = parser.parse_args(argv)
    settings = load_settings()
    modules = [m for m in settings.modules if not args.module or any(part in m for part in args.module)]
    if not modules:
        parser.error(f"no core module matches {args.module}; the modules are: {', '.join(settings.modules)}")
    equivalents = load_equivalents()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the scratch copy is removed on `timeout`
    results: dict[str, list[Mutant]] = {}
    with scratch_copy() as repo:
        os.environ.update(NUMBA_DISABLE_JIT="1", PYTHONPATH=f"{repo / 'src'}{os.pathsep}{repo}")
        os.chdir(repo)
        for module in modules:
            previous = (
                [Mutant(**m) for m in json.loads(results_file(module).read_text())]
                if (args.survivors and results_file(module).exists())
                else []
            )
            only = {m.key for m in previous if m.outcome == SURVIVED} if args.survivors else None
            print(f"{module}:", flush=True)
            fresh = {m.key: m for m in run_module(repo, module, settings, args.budget, only, equivalents)}
            results[module] = [fresh.pop(m.key, m) for m in previous] + list(fresh.values())
            results_file(module).parent.mkdir(parents=True, exist_ok=True)
            results_file(module).write_text(json.dumps([asdict(m) for m in results[module]], indent=1))
    print(report(results))
    return 1 if any(m.outcome == SURVIVED for mutants in results.values() for m in mutants) else 0


if __name__ == "__main__":
    sys.exit(main())

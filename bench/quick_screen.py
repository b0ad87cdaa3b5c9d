"""The warm quick screen against the import floor: how close `gpt-trader backtest --quick` gets to Python's own start.

    python -m bench.quick_screen            # 7 runs of each, medians
    python -m bench.quick_screen --runs 11
    python -m bench.quick_screen --no-bytecode   # the project's modules compiled from source at every start

Times whole processes, as a user waits for them: `gpt-trader backtest --quick --source synthetic` (recording
in the database included) once its candles are cached and its kernels compiled (one untimed run first), and
`python -c "import numpy, pandas, numba"`, the floor any NumPy/pandas/Numba program pays. A third process adds
to that floor one call of a one-line kernel from Numba's on-disk cache: Numba readies its compiler the first
time any jitted function runs, cached or not, and the objects it leaves make Python's shutdown slower too
(the quick screen pays the first and not the second: it freezes them before it exits). All run in the
same interpreter with a fresh data and cache folder, alternating so that machine load affects them alike.
Warm includes Python's bytecode: every process writes and reads it in a fresh folder (`PYTHONPYCACHEPREFIX`),
as an installed package has it compiled, whatever `PYTHONDONTWRITEBYTECODE` says here. Without that, a
checkout under `PYTHONDONTWRITEBYTECODE=1` compiles each of GPT-Trader's modules from source at every start
(about 0.1 s), while NumPy, pandas and Numba load the bytecode pip compiled: `--no-bytecode` measures that.
Prints each median of wall time and of CPU time (user + system, which load inflates less), the spread, and the
ratios to the floor.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FLOOR = [sys.executable, "-c", "import numpy, pandas, numba"]
QUICK_SCREEN = [sys.executable, "-m", "gpt_trader", "backtest", "--quick", "--source", "synthetic"]
ONE_KERNEL = """import numpy, pandas, numba

@numba.njit(cache=True)
def total(values):
    return values.sum()

total(numpy.ones(3))
"""


def timed(command: list[str], environment: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds (user + system, of the process and its children) of one run of `command`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(command, env=environment, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="timed runs of each command (default 7)")
    parser.add_argument(
        "--no-bytecode",
        action="store_true",
        help="PYTHONDONTWRITEBYTECODE=1: modules pip did not compile are compiled at every start",
    )
    arguments = parser.parse_args()
    runs = arguments.runs
    with tempfile.TemporaryDirectory(prefix="gpt-trader-bench-") as home:
        environment = {
            **os.environ,
            "XDG_DATA_HOME": str(Path(home) / "data"),
            "XDG_CACHE_HOME": str(Path(home) / "cache"),
            "XDG_CONFIG_HOME": str(Path(home) / "config"),
        }
        for variable in ("GPT_TRADER_DATA_DIR", "GPT_TRADER_CACHE_DIR", "GPT_TRADER_DATABASE_URL", "GPT_TRADER_CONFIG"):
            environment.pop(variable, None)
        environment.pop("PYTHONPYCACHEPREFIX", None)
        if arguments.no_bytecode:
            environment["PYTHONDONTWRITEBYTECODE"] = "1"
        else:
            environment.pop("PYTHONDONTWRITEBYTECODE", None)
            environment["PYTHONPYCACHEPREFIX"] = str(Path(home) / "bytecode")
        kernel = Path(home) / "one_kernel.py"
        kernel.write_text(ONE_KERNEL)
        commands = {
            "import numpy, pandas, numba": FLOOR,
            "+ one cached kernel call": [sys.executable, str(kernel)],
            "warm quick screen": QUICK_SCREEN,
        }
        first, _ = timed(QUICK_SCREEN, environment)  # fetches and caches the candles, compiles or loads the kernels
        timed(commands["+ one cached kernel call"], environment)  # compiles the kernel, and the floor's bytecode
        times: dict[str, list[tuple[float, float]]] = {label: [] for label in commands}
        for _ in range(runs):
            for label, command in commands.items():
                times[label].append(timed(command, environment))
    bytecode = "none written or read (--no-bytecode)" if arguments.no_bytecode else "cached after the first run"
    print(f"first quick screen (caching candles, loading or compiling kernels): {first:.2f} s; bytecode {bytecode}")
    medians = {}
    for label, measured in times.items():
        walls, cpus = [wall for wall, _ in measured], [cpu for _, cpu in measured]
        medians[label] = statistics.median(walls), statistics.median(cpus)
        spread = f"wall min {min(walls):.3f}, max {max(walls):.3f}; {runs} runs"
        print(f"{label + ':':30}median wall {medians[label][0]:.3f} s, CPU {medians[label][1]:.3f} s ({spread})")
    floor = medians["import numpy, pandas, numba"]
    for label in ("+ one cached kernel call", "warm quick screen"):
        wall, cpu = medians[label]
        print(f"{'ratio ' + label + ' / floor:':44}wall {wall / floor[0]:.2f}, CPU {cpu / floor[1]:.2f}")


if __name__ == "__main__":
    main()

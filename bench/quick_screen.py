"""The warm quick screen against the import floor: how close `gpt-trader backtest --quick` gets to Python's own start.

    python -m bench.quick_screen            # 7 runs of each, medians
    python -m bench.quick_screen --runs 11

Times whole processes, as a user waits for them: `gpt-trader backtest --quick --source synthetic` (recording
in the database included) once its candles are cached and its kernels compiled (one untimed run first), and
`python -c "import numpy, pandas, numba"`, the floor any NumPy/pandas/Numba program pays. Both run in the same
interpreter with a fresh data and cache folder, alternating so that machine load affects both alike. Prints
each median, the spread, and the ratio quick screen / floor.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FLOOR = [sys.executable, "-c", "import numpy, pandas, numba"]
QUICK_SCREEN = [sys.executable, "-m", "gpt_trader", "backtest", "--quick", "--source", "synthetic"]


def timed(command: list[str], environment: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, env=environment, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="timed runs of each command (default 7)")
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory(prefix="gpt-trader-bench-") as home:
        environment = {
            **os.environ,
            "XDG_DATA_HOME": str(Path(home) / "data"),
            "XDG_CACHE_HOME": str(Path(home) / "cache"),
            "XDG_CONFIG_HOME": str(Path(home) / "config"),
        }
        for variable in ("GPT_TRADER_DATA_DIR", "GPT_TRADER_CACHE_DIR", "GPT_TRADER_DATABASE_URL", "GPT_TRADER_CONFIG"):
            environment.pop(variable, None)
        first = timed(QUICK_SCREEN, environment)  # fetches and caches the candles, compiles or loads the kernels
        floors, screens = [], []
        for _ in range(runs):
            floors.append(timed(FLOOR, environment))
            screens.append(timed(QUICK_SCREEN, environment))
    floor, screen = statistics.median(floors), statistics.median(screens)
    print(f"first quick screen (caching candles, loading or compiling kernels): {first:.2f} s")
    for label, times in (("import numpy, pandas, numba", floors), ("warm quick screen", screens)):
        spread = f"min {min(times):.3f}, max {max(times):.3f}, {runs} runs"
        print(f"{label + ':':29}median {statistics.median(times):.3f} s ({spread})")
    print(f"{'ratio quick screen / floor:':29}{screen / floor:.2f}")


if __name__ == "__main__":
    main()

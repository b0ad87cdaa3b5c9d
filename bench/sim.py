"""The simulation target: the five built-ins × five products × 30 days of 1-minute bars through `gpt-trader sim`.

    python -m bench.sim [--days 30] [--accounts 1] [--no-warm-up]

Runs the real command in a subprocess (into a throwaway database and cache), as a user would, and prints
the whole command's wall time, its CPU time, the instance-bars it stepped and their rate, and the machine's
load average before and after (the machine is shared: a loaded one stretches wall time, not CPU time). A
first, untimed run fills the candle and Numba caches, so the timed one measures a warm start.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from gpt_trader.market.products import QUICK_PRODUCTS
from gpt_trader.strategies.builtin import BUILTIN_NAMES


def command(days: float, accounts: int, json_path: Path) -> list[str]:
    return [
        sys.executable, "-m", "gpt_trader", "sim", "--accounts", str(accounts), "-s", ",".join(BUILTIN_NAMES),
        "--symbols", ",".join(QUICK_PRODUCTS), "--days", f"{days:g}", "-g", "1m", "--speed", "max",
        "--source", "synthetic", "--json", str(json_path),
    ]  # fmt: skip


def run(arguments: list[str], environment: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the child) of one run; exits with its output if it fails."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(arguments, capture_output=True, text=True, env=environment, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(f"gpt-trader sim failed ({done.returncode}):\n{done.stderr}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=float, default=30.0)
    parser.add_argument("--accounts", type=int, default=1)
    parser.add_argument("--no-warm-up", action="store_true", help="time the first run (cold caches) instead")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder)
        environment = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}
        for variable in ("XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_CONFIG_HOME"):
            environment[variable] = str(home / variable.lower())
        json_path = home / "sim.json"
        arguments = command(args.days, args.accounts, json_path)
        if not args.no_warm_up:
            run(arguments, environment)
        load_before = os.getloadavg()[0]
        wall, cpu = run(arguments, environment)
        load_after = os.getloadavg()[0]
        rows = json.loads(json_path.read_text())["instances"]
    pairs = len(BUILTIN_NAMES) * len(QUICK_PRODUCTS)
    instance_bars = len(rows) * int(args.days * 1440)
    print(f"gpt-trader sim: {len(rows)} instances ({pairs} strategy-product pairs x {args.accounts} accounts), "
          f"{args.days:g} days of 1m bars = {instance_bars:,} instance-bars")  # fmt: skip
    print(f"whole command: {wall:.2f} s wall, {cpu:.2f} s CPU (target: < 10 s wall)")
    print(f"instance-bars per second: {instance_bars / wall:,.0f} by wall time, {instance_bars / cpu:,.0f} by CPU time")
    print(f"load average (1 min) before / after: {load_before:.2f} / {load_after:.2f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()

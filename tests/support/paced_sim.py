"""A real `gpt-trader sim` process replaying synthetic candles at a pace, for the monitors to watch live.

It trades often (a 2/5 moving-average cross) and replays 240 one-minute bars per second, so an equity
snapshot reaches the store about every second for 18 seconds. It fills on touch: each trade hands the
queued rows to the store as it happens, whereas under the bar fill model the engine holds them until 4,096
are queued or the run ends, and a monitor would see nothing until then.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from subprocess import Popen

from tests.support.session_processes import query, start, wait_for

SIM_ARGS = (
    "sim",
    "-s",
    "ma_crossover",
    "--param",
    "fast=2",
    "--param",
    "slow=5",
    "-g",
    "1m",
    "--days",
    "3",
    "--speed",
    "14400",
    "--fill-model",
    "touch",
    "--source",
    "synthetic:3",
)


@dataclass
class RunningSim:
    process: Popen[str]
    database: Path
    account: int
    """The id of its one account."""

    def snapshots(self) -> int:
        """How many equity snapshots of the account the store holds now."""
        rows = query(self.database, "SELECT count(*) FROM equity_snapshots WHERE account_id = ?", self.account)
        return int(rows[0][0]) if rows else 0  # type: ignore[call-overload]


@contextmanager
def paced_sim(database: Path) -> Iterator[RunningSim]:
    """The simulation, yielded once its first equity snapshot is in the store; stopped if still running."""
    process = start(database, *SIM_ARGS)
    try:
        wait_for(lambda: bool(query(database, "SELECT id FROM accounts")), "the simulation's account", process)
        account = int(query(database, "SELECT id FROM accounts")[0][0])  # type: ignore[call-overload]
        running = RunningSim(process, database, account)
        wait_for(lambda: running.snapshots() > 0, "the first equity snapshot", process)
        yield running
    finally:
        if process.poll() is None:
            process.terminate()
        process.communicate(timeout=60)

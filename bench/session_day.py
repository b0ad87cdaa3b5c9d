"""A day's session on the sandbox feed: 24 market hours at high speed, rotating every 4 hours.

    python -m bench.session_day [--speed 600] [--hours 24] [--rotate-hours 4] [--keep DIR]

Starts `gpt-trader sandbox serve` in a subprocess on a free loopback port (the quick screen's five products,
the synthetic market from a fixed start, replayed at `--speed`), writes a session file whose candidates are
the five built-in strategies (their default parameters) on each of those products, and runs `gpt-trader
session run FILE` as a user would, in a subprocess with a throwaway SQLite database, until it ends. Target
(issue 11): the session completes with its rotations stored. Figures: the market hours the record covers, wall
time, effective speed, the rotations read back from the store (each one's market time and decisions), orders,
fills and round trips stored, the database's size (with its -wal file), and the session process's peak RSS
and CPU seconds. Exits nonzero, saying why, when the session fails or hangs, or stores fewer rotations than its
schedule has (one at the start, then one every `--rotate-hours` before the end).

No fee: the synthetic market has no edge to pay one with, and at 0.1 % no one-minute candidate backtests to a
positive Sharpe ratio, so the rotations would start nobody and the day would trade nothing.

`--keep DIR` keeps the database, the session file, both processes' output and the sandbox's state in DIR
(which must be empty or new) instead of a temporary folder.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gpt_trader.market.products import QUICK_PRODUCTS
from gpt_trader.store import open_store
from gpt_trader.strategies.builtin import BUILTIN_NAMES
from gpt_trader.trading.session_records import SessionRecords

START = 1_717_200_000  # 2024-06-01T00:00:00Z: a fixed market, so runs compare
SOURCE = "synthetic:11"
HISTORY_HOURS = 24  # what each rotation backtests; the sandbox serves this much before the start
DECISIONS = ("start", "promote", "retire", "keep", "wait")
STARTUP_SECONDS = 300  # beyond the replay's own length, before a session that has not ended counts as hung


class BenchError(Exception):
    """The session did not do what the benchmark measures; the message says what happened."""


@dataclass(frozen=True)
class Scale:
    speed: float
    hours: float
    rotate_hours: float

    def rotation_hours(self) -> list[float]:
        """The market hours (from the start) the session rotates at: the start, then every rotate_hours before
        the end (a rotation at the end would start nothing that could trade)."""
        count = int(self.hours // self.rotate_hours) + (0 if self.hours % self.rotate_hours == 0 else 1)
        return [n * self.rotate_hours for n in range(count)]

    def replay_seconds(self) -> float:
        return self.hours * 3600 / self.speed


def session_toml(ws_url: str, scale: Scale) -> str:
    candidates = "".join(f'\n[[candidates]]\nstrategy = "{name}"\nproducts = {json.dumps(list(QUICK_PRODUCTS))}\n'
                         for name in BUILTIN_NAMES)  # fmt: skip
    return f"""\
name = "session day"
duration_hours = {scale.hours:g}

[accounts]
capital = 10000
slots = 3
fee_rate = 0

[feed]
source = "sandbox"
url = "{ws_url}"
granularity = "1m"
start = "{datetime.fromtimestamp(START, UTC).isoformat()}"

[rotation]
every_hours = {scale.rotate_hours:g}
at_start = true
history_hours = {HISTORY_HOURS}
{candidates}"""


def environment(directory: Path) -> dict[str, str]:
    """The commands' environment: every data, cache and database location inside `directory`."""
    return {
        **os.environ,
        "GPT_TRADER_DATA_DIR": str(directory / "data"),
        "GPT_TRADER_CACHE_DIR": str(directory / "cache"),
        "GPT_TRADER_DATABASE_URL": f"sqlite:///{directory / 'session.db'}",
        "NO_COLOR": "1",
        "COLUMNS": "200",
    }


def start_sandbox(scale: Scale, directory: Path) -> tuple[subprocess.Popen[bytes], str, str]:
    """`sandbox serve` on a free port, its output in sandbox.log; returns it with its REST and WebSocket URLs."""
    days = max(0.01, (scale.hours + 1) / 24)  # an hour beyond the session, so its last bars close
    command = [sys.executable, "-m", "gpt_trader", "sandbox", "serve", "--port", "0", "--source", SOURCE,
               "--products", ",".join(QUICK_PRODUCTS), "--speed", f"{scale.speed:g}", "--start", str(START),
               "--days", f"{days:g}", "--history-days", f"{HISTORY_HOURS / 24:g}",
               "--state-dir", str(directory / "sandbox")]  # fmt: skip
    log = directory / "sandbox.log"
    with log.open("wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=environment(directory))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        urls = {label: line.split(label, 1)[1].strip() for line in log.read_text().splitlines()
                for label in ("REST:", "WebSocket:") if line.strip().startswith(label)}  # fmt: skip
        if len(urls) == 2:
            return process, urls["REST:"], urls["WebSocket:"]
        time.sleep(0.2)
    stop(process)
    raise BenchError(f"the sandbox did not start; it printed:\n{log.read_text()[-2000:]}")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass(frozen=True)
class SessionProcess:
    exit_code: int
    timed_out: bool
    wall_seconds: float
    peak_rss_mb: float
    cpu_seconds: float
    output: str


def run_session(session_file: Path, directory: Path, timeout: float) -> SessionProcess:
    """`gpt-trader session run FILE` until it exits (killed after `timeout` wall seconds), with its resource
    use read from the kernel's accounting of that one child."""
    log = directory / "session.log"
    command = [sys.executable, "-m", "gpt_trader", "session", "run", str(session_file)]
    began = time.monotonic()
    with log.open("wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=environment(directory))
    timed_out = False
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() - began > timeout:
            timed_out = True
            process.kill()
            pid, status, usage = os.wait4(process.pid, 0)
            break
        time.sleep(0.1)
    wall = time.monotonic() - began
    process.returncode = os.waitstatus_to_exitcode(status)
    return SessionProcess(process.returncode, timed_out, wall, usage.ru_maxrss / 1024,
                          usage.ru_utime + usage.ru_stime, log.read_text(errors="replace"))  # fmt: skip


def rotation_summary(decisions: list[Any]) -> str:
    """One rotation's decisions: how many of each kind, and the candidates started, promoted or retired."""
    kinds = Counter(row.decision for row in decisions)
    counts = ", ".join(f"{kinds[kind]} {kind}" for kind in DECISIONS if kinds[kind])
    named = [f"{row.decision} {row.candidate}" for row in decisions if row.decision in ("start", "promote", "retire")]
    return counts + (f" ({'; '.join(named)})" if named else "")


def read_store(database_url: str) -> dict[str, Any]:
    """What the (only) session stored, through the store's Python API."""
    with open_store(database_url) as store:
        ((row, run),) = SessionRecords(store).sessions()
        decisions = SessionRecords(store).rotations(row.id)
        accounts = store.accounts(row.id)
        state = row.state or {}
        # How far the record reaches: the accounts' last equity snapshot (one per market hour and at the end),
        # or the heartbeat's market time when nobody traded.
        snapshots = [snapshot.time for account in accounts for snapshot in store.equity_curve(account.id)]
        reached = max([int(state.get("market_time", START))] + [_unix(time) for time in snapshots])
        by_time: dict[datetime, list[Any]] = {}
        for decision in decisions:
            by_time.setdefault(decision.time, []).append(decision)
        return {
            "status": run.status.value,
            "error": run.error,
            "start": int(state.get("start", START)),
            "reached": reached,
            "rotations": {time: rotation_summary(rows) for time, rows in by_time.items()},
            "decisions": len(decisions),
            "accounts": len(accounts),
            "orders": sum(len(store.orders(account.id)) for account in accounts),
            "fills": sum(len(store.fills(account.id)) for account in accounts),
            "round_trips": sum(len(store.round_trips(account.id)) for account in accounts),
        }


def _unix(time: datetime) -> int:
    """A stored time as Unix seconds (SQLite gives back naive UTC)."""
    return int(time.replace(tzinfo=UTC).timestamp())


def sandbox_feed(rest_url: str) -> dict[str, Any]:
    """The sandbox's own account of its replay (`GET /sandbox/feed`); empty when it does not answer."""
    try:
        with urllib.request.urlopen(f"{rest_url}/sandbox/feed", timeout=10) as answer:
            status: dict[str, Any] = json.load(answer)
            return status
    except (OSError, ValueError):
        return {}


def file_size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def measure(scale: Scale, directory: Path) -> dict[str, Any]:
    """Run the day in `directory` and return its figures; raises BenchError when the session fails."""
    sandbox, rest_url, ws_url = start_sandbox(scale, directory)
    try:
        session_file = directory / "session.toml"
        session_file.write_text(session_toml(ws_url, scale))
        session = run_session(session_file, directory, scale.replay_seconds() + STARTUP_SECONDS)
        feed = sandbox_feed(rest_url)
    finally:
        stop(sandbox)
    database = directory / "session.db"
    if session.timed_out:
        raise BenchError(
            f"the session had not ended after {session.wall_seconds:.0f} s (its replay lasts "
            f"{scale.replay_seconds():.0f} s) and was killed; it printed:\n{session.output[-3000:]}"
        )
    if session.exit_code != 0 or not database.exists():
        raise BenchError(f"the session exited with status {session.exit_code}; it printed:\n{session.output[-3000:]}")
    stored = read_store(f"sqlite:///{database}")
    if stored["status"] != "finished":
        raise BenchError(f"the session ended {stored['status']} ({stored['error'] or 'no error stored'}), "
                         f"not finished; it printed:\n{session.output[-3000:]}")  # fmt: skip
    market_seconds = stored["reached"] - stored["start"]
    return {
        **stored,
        "market_hours": market_seconds / 3600,
        "hours_asked": scale.hours,
        "speed_asked": scale.speed,
        "wall_seconds": session.wall_seconds,
        "effective_speed": market_seconds / session.wall_seconds,
        "replay_seconds": scale.replay_seconds(),
        "sandbox_effective_speed_at_end": feed.get("effective_speed"),
        "sandbox_slowed_why": feed.get("why") or None,
        "session_peak_rss_mb": session.peak_rss_mb,
        "session_cpu_seconds": session.cpu_seconds,
        "database_bytes": file_size(database),
        "database_wal_bytes": file_size(database.with_name(database.name + "-wal")),
    }


def check(scale: Scale, figures: dict[str, Any]) -> None:
    """Refuse a record with fewer rotations than the schedule: each one named that is missing."""
    expected = [START + int(hours * 3600) for hours in scale.rotation_hours()]
    stored = {_unix(time) for time in figures["rotations"]}
    missing = [moment for moment in expected if moment not in stored]
    if missing:
        shown = ", ".join(f"{datetime.fromtimestamp(m, UTC):%Y-%m-%d %H:%M}" for m in missing)
        raise BenchError(f"the session stored {len(stored)} of its {len(expected)} rotations; missing: {shown} UTC")


def report(figures: dict[str, Any]) -> None:
    start, reached = (datetime.fromtimestamp(figures[key], UTC) for key in ("start", "reached"))
    rows: list[tuple[str, str]] = [
        ("market covered", f"{figures['market_hours']:g} h of {figures['hours_asked']:g} asked, "
                           f"{start:%Y-%m-%d %H:%M} to {reached:%Y-%m-%d %H:%M} UTC"),
        ("wall time", f"{figures['wall_seconds']:.1f} s (the replay alone: {figures['replay_seconds']:.1f} s)"),
        ("effective speed", f"{figures['effective_speed']:.0f}x of {figures['speed_asked']:g}x asked"),
        ("sandbox at the end", "no answer" if figures["sandbox_effective_speed_at_end"] is None else
                               f"{figures['sandbox_effective_speed_at_end']:.0f}x"
                               + (f" ({figures['sandbox_slowed_why']})" if figures["sandbox_slowed_why"] else "")),
        ("rotations stored", f"{len(figures['rotations'])} ({figures['decisions']} decisions)"),
    ]  # fmt: skip
    rows += [(f"  {time:%Y-%m-%d %H:%M}", summary) for time, summary in figures["rotations"].items()]
    rows += [
        ("accounts", str(figures["accounts"])),
        ("orders / fills / round trips", f"{figures['orders']} / {figures['fills']} / {figures['round_trips']}"),
        ("database", f"{figures['database_bytes'] / 1e6:.2f} MB (+ {figures['database_wal_bytes'] / 1e6:.2f} MB -wal)"),
        ("session peak RSS", f"{figures['session_peak_rss_mb']:.0f} MB"),
        ("session CPU", f"{figures['session_cpu_seconds']:.1f} s"),
        ("load average", " ".join(f"{load:.2f}" for load in os.getloadavg())),
    ]
    for label, value in rows:
        print(f"{label:>28}: {value}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--speed", type=float, default=600.0, help="the sandbox's replay speed (market s per s)")
    parser.add_argument("--hours", type=float, default=24.0, help="the session's length in market hours")
    parser.add_argument("--rotate-hours", type=float, default=4.0, help="market hours between rotations")
    parser.add_argument("--keep", type=Path, metavar="DIR", help="keep the database and logs here (new or empty)")
    args = parser.parse_args(argv)
    for name in ("speed", "hours", "rotate_hours"):
        if getattr(args, name) <= 0:
            parser.error(f"--{name.replace('_', '-')} must be greater than 0, not {getattr(args, name):g}")
    if args.keep is not None and args.keep.exists() and (not args.keep.is_dir() or any(args.keep.iterdir())):
        parser.error(f"--keep {args.keep} is not an empty folder; name a new or empty one")
    scale = Scale(args.speed, args.hours, args.rotate_hours)
    try:
        if args.keep is not None:
            args.keep.mkdir(parents=True, exist_ok=True)
            figures = measure(scale, args.keep.resolve())
        else:
            with tempfile.TemporaryDirectory(prefix="session-day-") as scratch:
                figures = measure(scale, Path(scratch))
        report(figures)
        check(scale, figures)
    except BenchError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

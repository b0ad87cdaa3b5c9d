"""`gpt-trader speedtest`: how long evaluating the five built-in strategies takes here, four ways.

The same strategies on the same products and the same synthetic market, evaluated by sequential paper
trading (one `paper` run per strategy, one after another), parallel paper trading (one run, every strategy
on one feed), the multi-account simulation (`sim`) and rapid backtesting (`backtest`). The paper runs trade
a sandbox exchange started in a subprocess on a free loopback port, replaying the market at `--speed`; each
run stops once every product has closed `--bars` bars. Each method runs in a process of its own
(`cli.speedtest_methods`), so its peak memory is its own, with a throwaway database, so the user's record
is left alone. The table shows each method's time, its speed-up over the sequential baseline, its CPU use
and peak memory, and the work it did, so the comparison can be checked for fairness.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer

from gpt_trader.cli.speedtest_methods import LABELS, METHODS, PAPER_METHODS, Workload
from gpt_trader.errors import UserError
from gpt_trader.market.products import QUICK_PRODUCTS

START = 1_735_689_600
"""2025-01-01 00:00 UTC: a fixed start, so every speedtest replays the same market."""
QUICK_BARS, QUICK_SYMBOLS = 10, "BTC-USD,ETH-USD"
DEFAULT_BARS, DEFAULT_SYMBOLS = 120, ",".join(QUICK_PRODUCTS)
SANDBOX_START_SECONDS = 120.0
WARM_UP_ALLOWANCE = 300.0
"""Wall seconds of market the sandbox holds for its start and the kernels' warm-up, before the paper runs."""
DAY = 86_400


def speedtest(
    quick: Annotated[bool, typer.Option("--quick", help=f"A small run: {QUICK_BARS} bars of {QUICK_SYMBOLS}.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON instead of the table.")] = False,
    bars: Annotated[
        int | None,
        typer.Option(metavar="N", help=f"Bars each strategy trades per product.  [default: {DEFAULT_BARS}]"),
    ] = None,
    symbols: Annotated[
        str | None,
        typer.Option(
            "--symbols", "-p", metavar="PRODUCTS", help=f"Comma-separated products.  [default: {DEFAULT_SYMBOLS}]"
        ),
    ] = None,
    speed: Annotated[
        float, typer.Option(metavar="X", help="Market seconds the sandbox replays per wall-clock second.")
    ] = 600.0,
    seed: Annotated[int, typer.Option(metavar="N", help="Seed of the synthetic market.")] = 7,
) -> None:
    """Time the five built-in strategies evaluated by sequential and parallel paper trading (on a local
    sandbox), the multi-account simulation and rapid backtesting; print time, speed-up, CPU and memory."""
    default_bars, default_symbols = (QUICK_BARS, QUICK_SYMBOLS) if quick else (DEFAULT_BARS, DEFAULT_SYMBOLS)
    workload = _workload(default_bars if bars is None else bars, symbols or default_symbols, speed, seed)
    load_before = os.getloadavg()
    try:
        measured = _measure_all(workload)
    except MeasurementFailed as failure:
        typer.secho(f"error: {failure}", fg="red", err=True)
        raise typer.Exit(1) from None
    report = _report(workload, measured, load_before, os.getloadavg())
    if as_json:
        typer.echo(json.dumps(report, indent=2))
    else:
        _print_table(report)


def _workload(bars: int, symbols: str, speed: float, seed: int) -> Workload:
    from gpt_trader.market.sources.synthetic import SyntheticSource
    from gpt_trader.strategies.builtin import BUILTIN_NAMES
    from gpt_trader.strategies.registry import get_strategy

    if bars < 1:
        raise UserError(f"--bars {bars}: give the bars each strategy trades, 1 or more, e.g. --bars 120")
    if not speed > 0:
        raise UserError(f"--speed {speed:g}: give the sandbox's replay speed, above 0, e.g. --speed 600")
    if seed < 0:
        raise UserError(f"--seed {seed}: give a seed of 0 or more")
    products = tuple(dict.fromkeys(part.strip().upper() for part in symbols.split(",") if part.strip()))
    if not products:
        raise UserError("--symbols is empty; name at least one product, e.g. -p BTC-USD")
    carried = SyntheticSource(seed).products()
    unknown = [product for product in products if product not in carried]
    if unknown:
        raise UserError(f"the synthetic market has no {', '.join(unknown)}; choose from {', '.join(carried)}")
    strategies = [get_strategy(name) for name in BUILTIN_NAMES]
    warm_up = max(strategy.lookback(strategy.resolve(None)) for strategy in strategies)
    return Workload(tuple(BUILTIN_NAMES), products, bars, warm_up, speed, seed, START)


def _measure_all(workload: Workload) -> list[dict[str, Any]]:
    """Every method: the paper ones while the sandbox runs, the others after it has stopped."""
    measured: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="gpt-trader-speedtest-") as folder:
        scratch = Path(folder)
        _note(f"starting the sandbox ({workload.source} at {workload.speed:g}x) and loading the kernels")
        with _sandbox(workload, scratch) as sandbox:
            # Numba compiles a kernel once per install: done here, while the sandbox starts, so that no
            # method's time holds it (each still loads the compiled code, as every run does).
            _run_worker("warm-up", workload, scratch)
            ws_url, rest_url = sandbox.urls()
            for method in PAPER_METHODS:
                result = _measure(method, replace(workload, feed=ws_url), scratch)
                measured.append({**result, "effective_speed": _effective_speed(rest_url)})
        for method in METHODS:
            if method not in PAPER_METHODS:
                measured.append({**_measure(method, workload, scratch), "effective_speed": None})
    return measured


def _note(text: str) -> None:
    typer.echo(text, err=True)


class _Sandbox:
    """A `gpt-trader sandbox serve` process, its output going to `log`."""

    def __init__(self, process: subprocess.Popen[str], log: Path) -> None:
        self.process = process
        self.log = log

    def urls(self) -> tuple[str, str]:
        """The WebSocket and REST URLs it prints once it listens (waiting for them)."""
        deadline = time.monotonic() + SANDBOX_START_SECONDS
        while time.monotonic() < deadline and self.process.poll() is None:
            found = {}
            for line in self.log.read_text().splitlines():
                label, _, value = line.strip().partition(": ")
                if label in ("WebSocket", "REST"):
                    found[label] = value.strip()
            if len(found) == 2:
                return found["WebSocket"], found["REST"]
            time.sleep(0.1)
        raise _failed("the sandbox", self.log, "did not start")


@contextmanager
def _sandbox(workload: Workload, scratch: Path) -> Iterator[_Sandbox]:
    """`gpt-trader sandbox serve` starting in a subprocess on a free loopback port, stopped at the end.

    It holds enough market for the kernels' warm-up and every paper run to reach its time limit (should the
    market end sooner, the runs stop short of their bars, and the table says so), and the history before it.
    """
    runs = len(workload.strategies) + 1
    wall_seconds = WARM_UP_ALLOWANCE + runs * (workload.paper_timeout + 30)
    market_seconds = wall_seconds * workload.speed
    history_days = 2 * workload.warm_up * workload.bar_seconds / DAY
    log = scratch / "sandbox.log"
    command = [
        sys.executable, "-m", "gpt_trader", "sandbox", "serve", "--port", "0", "--source", workload.source,
        "--products", ",".join(workload.products), "--speed", f"{workload.speed:g}", "--start", str(workload.start),
        "--days", f"{market_seconds / DAY + 0.01:.3f}", "--history-days", f"{history_days:.3f}",
        "--no-rate-limits", "--state-dir", str(scratch / "sandbox"),
    ]  # fmt: skip
    with log.open("w") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, text=True)
    try:
        yield _Sandbox(process, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _effective_speed(rest_url: str) -> float | None:
    """The sandbox's replay speed over its last few seconds, as it reports it."""
    import urllib.request

    try:
        with urllib.request.urlopen(f"{rest_url}/sandbox/feed", timeout=10) as answer:
            return float(json.load(answer)["effective_speed"])
    except (OSError, ValueError, KeyError):
        return None


def _measure(method: str, workload: Workload, scratch: Path) -> dict[str, Any]:
    _note(f"measuring {LABELS[method]} ...")
    measured = _run_worker(method, workload, scratch)
    _note(f"  {measured['wall_s']:.2f} s")
    return measured


def _run_worker(method: str, workload: Workload, scratch: Path) -> dict[str, Any]:
    """`method` in a process of its own, with its own database; what it measured."""
    spec, out, log = scratch / f"{method}.workload.json", scratch / f"{method}.json", scratch / f"{method}.log"
    spec.write_text(workload.to_json())
    env = {**os.environ, "GPT_TRADER_DATABASE_URL": f"sqlite:///{scratch / method}.db", "NO_COLOR": "1"}
    command = [sys.executable, "-m", "gpt_trader.cli.speedtest_methods", method, str(spec), str(out)]
    with log.open("w") as output:
        done = subprocess.run(command, stdout=output, stderr=subprocess.STDOUT, env=env, check=False)
    if done.returncode != 0 or not out.is_file():
        raise _failed(LABELS.get(method, method), log, f"exited with status {done.returncode}")
    measured: dict[str, Any] = json.loads(out.read_text())
    return measured


class MeasurementFailed(Exception):
    """A method (or the sandbox) failed: what it printed last says why."""


def _failed(what: str, log: Path, how: str) -> MeasurementFailed:
    tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:]) if log.is_file() else ""
    return MeasurementFailed(f"{what} {how}; its last output:\n{tail}")


def _report(
    workload: Workload, measured: list[dict[str, Any]], load_before: tuple[float, ...], load_after: tuple[float, ...]
) -> dict[str, Any]:
    baseline = next(row["wall_s"] for row in measured if row["method"] == "sequential")
    methods = []
    for row in measured:
        paper = row["method"] in PAPER_METHODS
        methods.append({
            **row, "label": LABELS[row["method"]], "speedup": baseline / row["wall_s"],
            "cpu_percent": 100 * row["cpu_s"] / row["wall_s"], "replay_speed": workload.speed if paper else None,
        })  # fmt: skip
    return {
        "workload": {
            "strategies": list(workload.strategies), "products": list(workload.products), "bars": workload.bars,
            "warm_up_bars": workload.warm_up, "granularity": workload.granularity, "source": workload.source,
            "start": workload.start, "replay_speed": workload.speed,
        },
        "methods": methods,
        "machine": {"cpus": os.cpu_count(), "load_average_before": list(load_before),
                    "load_average_after": list(load_after)},
    }  # fmt: skip


def _print_table(report: dict[str, Any]) -> None:
    from datetime import UTC, datetime

    from rich import box
    from rich.table import Table

    from gpt_trader.cli.output import console

    workload = report["workload"]
    table = Table(title=f"{len(workload['strategies'])} strategies × {len(workload['products'])} products, "
                  f"{workload['bars']} bars of {workload['granularity']} each, evaluated four ways")  # fmt: skip
    # Fits 80 columns: the figures never wrap, the method's name may (runs, instances and bars are in the
    # title and the lines below, and in --json).
    table = Table(title=table.title, box=box.SIMPLE_HEAD, padding=(0, 1))
    table.add_column("method", min_width=13)
    for column in ("time", "speed-up", "CPU", "memory"):
        table.add_column(column, justify="right", no_wrap=True)
    table.add_column("instance\nbars", justify="right", min_width=9)
    table.add_column("replay", justify="right", min_width=6)
    for row in report["methods"]:
        replay = "max" if row["method"] == "sim" else "-"
        if row["replay_speed"] is not None:
            effective = row["effective_speed"]
            replay = f"{row['replay_speed']:g}x" + ("" if effective is None else f" ({effective:.0f}x)")
        table.add_row(
            row["label"], f"{row['wall_s']:.2f} s", f"{row['speedup']:.1f}x", f"{row['cpu_percent']:.0f} %",
            f"{row['peak_rss_mb']:.0f} MB", f"{row['instance_bars']:,}", replay,
        )  # fmt: skip
    start = datetime.fromtimestamp(workload["start"], UTC).strftime("%Y-%m-%d %H:%M UTC")
    machine = report["machine"]
    shown = console()
    shown.print(table)
    for line in (
        f"Strategies: {', '.join(workload['strategies'])}; products: {', '.join(workload['products'])}; "
        f"market: {workload['source']} from {start}.",
        f"Sequential paper trading is one run per strategy, parallel one run for all; each trades "
        f"{workload['bars']} live bars per product after a warm-up of "
        f"{workload['warm_up_bars']} history bars, on the sandbox at the replay speed shown (effective speed in "
        f"brackets); sim and backtest evaluate the {workload['warm_up_bars'] + workload['bars']} bars of the same "
        "span as fast as the CPU allows.",
        "Time is each method's work (not its process's start); speed-up is over sequential paper "
        f"trading; CPU is CPU time over wall time (100 % = one core; this machine has {machine['cpus']}); "
        "memory is the method's peak resident set.",
        "Load average before and after: " + ", ".join(
            f"{load:.2f}" for load in (machine["load_average_before"][0], machine["load_average_after"][0])
        ) + ".",
    ):  # fmt: skip
        shown.print(line, markup=False, soft_wrap=True)
    for row in report["methods"]:
        if row["method"] in PAPER_METHODS and row["bars_per_product"] < workload["bars"]:
            shown.print(
                f"{row['label']} stopped short of {workload['bars']} bars (at its time limit): the sandbox "
                "replayed slower than asked; compare its bar count, not only its time.",
                style="yellow", markup=False, soft_wrap=True,
            )  # fmt: skip

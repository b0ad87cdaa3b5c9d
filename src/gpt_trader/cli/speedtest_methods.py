"""The four ways `speedtest` evaluates the same strategies, each measured in a process of its own.

    python -m gpt_trader.cli.speedtest_methods METHOD WORKLOAD.json OUT.json

runs one method on the workload and writes what it measured to OUT.json. Every method goes through the
command it stands for, with that command's defaults: `paper` (sequential: one `--mode single` run per
strategy, one after another; parallel: one `--mode parallel` run of every strategy on one feed) against the
sandbox at `workload.feed`, `sim` and `backtest` on the same synthetic market read as candles.

What is timed: the method's work, from its first call into the command's code to its last; not the
interpreter's start, the import of the command modules, nor creating the empty database (the heavy libraries
a command imports when it runs are loaded inside the timed work, as they are in the command). CPU seconds
are this process's and its finished children's (a backtest's worker processes); peak memory is the largest
resident set of either.
"""

from __future__ import annotations

import json
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

METHODS = ("sequential", "parallel", "sim", "backtest")
LABELS = {
    "sequential": "sequential paper trading",
    "parallel": "parallel paper trading",
    "sim": "multi-account simulation",
    "backtest": "rapid backtesting",
}
PAPER_METHODS = ("sequential", "parallel")


@dataclass(frozen=True)
class Workload:
    """What every method evaluates: the strategies on the products, `bars` bars each after a warm-up of
    `warm_up` bars, on the synthetic market of `seed` from `start` (the sandbox replays it at `speed`)."""

    strategies: tuple[str, ...]
    products: tuple[str, ...]
    bars: int
    warm_up: int
    speed: float
    seed: int
    start: int
    granularity: str = "1m"
    feed: str | None = None
    """The sandbox's WebSocket URL, for the paper methods."""

    @property
    def source(self) -> str:
        return f"synthetic:{self.seed}"

    @property
    def bar_seconds(self) -> int:
        from gpt_trader.market.granularity import Granularity

        return Granularity.parse(self.granularity).seconds

    @property
    def paper_timeout(self) -> float:
        """Wall seconds a paper run may take to close its bars before it stops short (and says so in its count)."""
        return 3 * self.bars * self.bar_seconds / self.speed + 30

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Workload:
        fields = json.loads(text)
        return cls(**{**fields, "strategies": tuple(fields["strategies"]), "products": tuple(fields["products"])})


@dataclass(frozen=True)
class Work:
    """What a method evaluated: runs of its command, strategy instances, and bars."""

    runs: int
    instances: int
    bars_per_product: float
    """Bars each instance evaluated, on average over its runs."""
    instance_bars: int


def measure(method: str, workload: Workload) -> dict[str, Any]:
    """Run `method` on `workload` in this process: its work, wall and CPU seconds, and peak memory."""
    run = _prepared(method)
    cpu_before, started = _cpu_seconds(), time.perf_counter()
    work = run(workload)
    wall = time.perf_counter() - started
    cpu = _cpu_seconds() - cpu_before
    return {"method": method, "wall_s": wall, "cpu_s": cpu, "peak_rss_mb": _peak_rss_mb(), **asdict(work)}


def _prepared(method: str) -> Callable[[Workload], Work]:
    """The method's function, its modules imported and the database made, so the timer sees only the work."""
    from gpt_trader.cli import backtest, paper, sim  # noqa: F401  (imported for the timer's sake)
    from gpt_trader.config import load_settings
    from gpt_trader.store import open_store

    with open_store(load_settings().database):
        pass
    return {"sequential": _sequential, "parallel": _parallel, "sim": _sim, "backtest": _backtest,
            "warm-up": _warm_up}[method]  # fmt: skip


def _warm_up(workload: Workload) -> Work:
    """A bar of each kind of run on one product, so that Numba has compiled (and cached) every kernel the
    methods use: the backtest's, the simulation's signal tape, and the engine's bar by bar (as paper's)."""
    tiny = replace(workload, products=workload.products[:1], bars=1)
    _backtest(tiny)
    _sim(tiny)
    _sim(tiny, fill_model="book")
    return _recorded_work()


def _sequential(workload: Workload) -> Work:
    from gpt_trader.cli.paper import run_paper

    for strategy in workload.strategies:
        run_paper(_paper_plan(workload, strategy, "single"))
    return _recorded_work()


def _parallel(workload: Workload) -> Work:
    from gpt_trader.cli.paper import run_paper

    run_paper(_paper_plan(workload, ",".join(workload.strategies), "parallel"))
    return _recorded_work()


def _paper_plan(workload: Workload, strategies: str, mode: str) -> Any:
    from gpt_trader.cli.paper import check_plan

    assert workload.feed is not None, "the paper methods need the sandbox's feed"
    plan = check_plan(
        strategies=strategies, mode=mode, symbols=",".join(workload.products), duration=workload.paper_timeout,
        feed=workload.feed, granularity=workload.granularity, capital="10000", accounts_per_strategy=1,
        fill_model="book", on_stop="close", fill="next_open", fee=None, spread_bps=0.0, slippage_bps=0.0,
        stop_loss=None, take_profit=None, trailing_stop=None, fraction=1.0, params=(),
    )  # fmt: skip
    return replace(plan, bars=workload.bars)


def _sim(workload: Workload, fill_model: str = "bar") -> Work:
    from gpt_trader.cli.sim import sim

    first = workload.start - workload.warm_up * workload.bar_seconds
    sim(
        strategies=",".join(workload.strategies), symbols=",".join(workload.products), start=str(first),
        end=str(workload.start + workload.bars * workload.bar_seconds), granularity=workload.granularity,
        source=workload.source, fill_model=fill_model,
    )  # fmt: skip
    return _recorded_work()


def _recorded_work() -> Work:
    """The work of every trading session in this method's own database, as the engine counted it."""
    from gpt_trader.config import load_settings
    from gpt_trader.store import open_store
    from gpt_trader.trading.session_records import SessionRecords

    with open_store(load_settings().database) as store:
        sessions = [row for row, _ in SessionRecords(store).sessions(limit=1000)]
        accounts = [len(store.accounts(row.id)) for row in sessions]
    engines = [(row.state or {}).get("engine", {}) for row in sessions]
    instance_bars = sum(int(engine.get("instance_bars", 0)) for engine in engines)
    instances = sum(accounts)
    return Work(len(sessions), instances, instance_bars / instances if instances else 0.0, instance_bars)


def _backtest(workload: Workload) -> Work:
    from gpt_trader.cli.backtest import backtest

    first = workload.start - workload.warm_up * workload.bar_seconds
    with tempfile.TemporaryDirectory(prefix="gpt-trader-speedtest-") as folder:
        report = Path(folder) / "backtest.json"
        backtest(
            strategies=",".join(workload.strategies), symbols=",".join(workload.products), start=str(first),
            end=str(workload.start + workload.bars * workload.bar_seconds), granularity=workload.granularity,
            source=workload.source, json_path=report,
        )  # fmt: skip
        written = json.loads(report.read_text())
    bars = {product: described["bars"] for product, described in written["data"]["products"].items()}
    rows = written["results"]
    instance_bars = sum(bars[row["product_id"]] for row in rows)
    return Work(1, len(rows), instance_bars / len(rows) if rows else 0.0, instance_bars)


def _cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _peak_rss_mb() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return max(own.ru_maxrss, children.ru_maxrss) / 1024  # kilobytes on Linux


def main(argv: list[str]) -> None:
    from gpt_trader.config import load_settings
    from gpt_trader.log import configure_logging

    method, workload_file, out_file = argv
    if method not in (*METHODS, "warm-up"):
        raise SystemExit(f"unknown method {method!r}; one of {', '.join(METHODS)}")
    configure_logging(load_settings().log_level)  # as every command does: one handler, secrets masked
    measured = measure(method, Workload.from_json(Path(workload_file).read_text()))
    Path(out_file).write_text(json.dumps(measured))


if __name__ == "__main__":
    main(sys.argv[1:])

"""`gpt-trader demo`: the offline tour, no keys and no network.

It starts the sandbox exchange in this process (a server thread on a free loopback port, replaying the
synthetic market of `--seed`), runs the quick backtest on that same synthetic market, then paper-trades the
backtest's three best strategies (by average Sharpe) in parallel on the sandbox's WebSocket feed, every
product of the quick screen on one connection, and ends with the summary table and where the runs are
stored. The sandbox keeps its state in a temporary folder, gone when the demo ends. When the machine cannot
replay the market as fast as `--speed` asks, the sandbox's notes of it are kept out of the live output and
the last one is said once at the end.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from gpt_trader.cli.backtest import QUICK, WORKERS_HELP

TOP_STRATEGIES = 3


def demo(
    seed: Annotated[int, typer.Option(metavar="N", help="Seed of the synthetic market.")] = 7,
    workers: Annotated[int | None, typer.Option(min=1, metavar="N", help=WORKERS_HELP)] = None,
    duration: Annotated[
        float, typer.Option(min=1.0, metavar="SECONDS", help="Wall-clock seconds of paper trading.")
    ] = 30.0,
    speed: Annotated[
        float, typer.Option(min=1.0, metavar="X", help="Market seconds the sandbox replays per wall-clock second.")
    ] = 300.0,
) -> None:
    """Run the offline tour: the quick backtest on a synthetic market, then its three best strategies
    paper-trading that market on a local sandbox exchange."""
    from gpt_trader.backtest.api import DataSpec
    from gpt_trader.backtest.settings import SimulationSettings
    from gpt_trader.cli.backtest import BacktestRun, _open_store, _record, _report
    from gpt_trader.cli.paper import check_plan, run_paper
    from gpt_trader.market.products import QUICK_PRODUCTS

    source = f"synthetic:{seed}"
    typer.echo(f"GPT-Trader demo: the quick backtest on a synthetic market (seed {seed}); no keys, no network.")
    products = list(QUICK_PRODUCTS)
    run = BacktestRun(strategies=None, products=products, data=DataSpec(source, "15m", 30, None, None, "keep"),
                      settings=SimulationSettings(), workers=workers)  # fmt: skip
    with _open_store() as store:
        result = _record(run.execute(), run.data, products, store)
    _report(result, source, 10, "sharpe", None, None)
    best = result.summary().sort_values("avg_sharpe", ascending=False).index[:TOP_STRATEGIES]
    strategies = ",".join(str(name) for name in best)

    with (
        tempfile.TemporaryDirectory(prefix="gpt-trader-demo-") as state,
        _pace_noted(),
        _sandbox(Path(state), source, speed) as ws,
    ):
        typer.echo(
            f"\nPaper trading the top {len(best)} ({strategies.replace(',', ', ')}) in parallel on {QUICK} for "
            f"{duration:g} s, on the sandbox exchange at {ws} replaying the same market at {speed:g}x "
            "(1-minute bars; fills at the sandbox's bid and ask, walking its book)."
        )
        plan = check_plan(
            strategies=strategies, mode="parallel", symbols=QUICK, duration=duration, feed=ws, granularity="1m",
            capital="10000", accounts_per_strategy=1, fill_model="book", on_stop="close", fill="next_open",
            fee=None, spread_bps=0.0, slippage_bps=0.0, stop_loss=None, take_profit=None, trailing_stop=None,
            fraction=1.0, params=(),
        )  # fmt: skip
        run_paper(plan)


@contextmanager
def _sandbox(state_dir: Path, source: str, speed: float) -> Iterator[str]:
    """The sandbox exchange on a free loopback port in a server thread; yields its WebSocket URL."""
    from gpt_trader.market.products import QUICK_PRODUCTS
    from gpt_trader.sandbox.ratelimit import RateLimits
    from gpt_trader.sandbox.server import BackgroundServer, SandboxConfig, build_app

    # A day of history is plenty for the strategies' first windows, and loads in a moment.
    config = SandboxConfig(
        state_dir=state_dir, source=source, products=QUICK_PRODUCTS, speed=speed, history_days=1.0, days=2.0,
        rate_limits=RateLimits.off(),
    )  # fmt: skip
    server = BackgroundServer(build_app(config)).start()
    try:
        yield server.ws_url
    finally:
        server.stop()


@contextmanager
def _pace_noted() -> Iterator[None]:
    """Hold back the sandbox's notes that its market runs slower than asked (every ten seconds, amid the
    demo's tables), and say the last one once at the end."""
    from gpt_trader.sandbox.market import pace_log

    held: list[str] = []

    def hold(record: logging.LogRecord) -> bool:
        held.append(record.getMessage())
        return False

    pace_log.addFilter(hold)
    try:
        yield
    finally:
        pace_log.removeFilter(hold)
        if held:
            typer.echo(f"Sandbox: {held[-1]}.")

"""`gpt-trader backtest`: strategies × products × parameters on historical candles, in parallel."""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from gpt_trader.cli.optimize import CLUSTER_HELP, open_executor, verdict_lines
from gpt_trader.errors import UserError
from gpt_trader.market.products import QUICK_PRODUCTS

if TYPE_CHECKING:
    from gpt_trader.backtest.api import DataSpec, SweepResult
    from gpt_trader.backtest.runner import Executor
    from gpt_trader.backtest.settings import SimulationSettings
    from gpt_trader.store import Store
    from gpt_trader.store.sqlite_runs import RunRecorder

QUICK = ",".join(QUICK_PRODUCTS)
WORKERS_HELP = "Processes to use (default: every core for big runs, this one for small)."


def backtest(
    strategies: Annotated[
        str | None,
        typer.Option(
            "--strategies", "-s", metavar="NAMES",
            help="Comma-separated strategy names (see `gpt-trader strategies`), or FILE.py[:Class].  "
            "[default: every built-in]",
        ),
    ] = None,
    symbols: Annotated[
        str | None,
        typer.Option(
            "--symbols", "-p", metavar="PRODUCTS",
            help="Comma-separated products.  [default: BTC-USD, or the PRODUCT of file:PATH:PRODUCT]",
        ),
    ] = None,
    days: Annotated[
        float | None,
        typer.Option(metavar="DAYS", help="Days of history before --end.  [default: 30]"),
    ] = None,
    start: Annotated[
        str | None, typer.Option(metavar="TIME", help="Start: ISO 8601 (2024-01-01) or Unix seconds.")
    ] = None,
    end: Annotated[
        str | None,
        typer.Option(metavar="TIME", help="End, exclusive.  [default: now, or the end of a file's data]"),
    ] = None,
    granularity: Annotated[
        str, typer.Option("--granularity", "-g", metavar="SIZE", help="Candle size: 1m 5m 15m 30m 1h 2h 6h 1d.")
    ] = "15m",
    quick: Annotated[
        bool, typer.Option("--quick", help=f"The quick screen: built-ins × {QUICK}, 30 days of 15m.")
    ] = False,
    source: Annotated[
        str,
        typer.Option(
            metavar="SOURCE", help="coinbase, synthetic[:SEED], file:PATH[:PRODUCT] or local (imported candles)."
        ),
    ] = "coinbase",
    gaps: Annotated[str, typer.Option(metavar="POLICY", help="Gap policy: keep, fill-flat or fail.")] = "keep",
    fill: Annotated[
        str, typer.Option(metavar="RULE", help="next_open (no same-bar execution) or close.")
    ] = "next_open",
    fee: Annotated[
        float | None,
        typer.Option(metavar="RATE", help="Fee rate per fill.  [default: 0.006, Coinbase's taker fee]"),
    ] = None,
    spread_bps: Annotated[float, typer.Option(metavar="BPS", help="Half-spread paid per fill, basis points.")] = 0.0,
    slippage_bps: Annotated[float, typer.Option(metavar="BPS", help="Slippage per fill, basis points.")] = 0.0,
    stop_loss: Annotated[
        float | None, typer.Option(metavar="FRACTION", help="Stop-loss, fraction of the entry price (0.05).")
    ] = None,
    take_profit: Annotated[
        float | None, typer.Option(metavar="FRACTION", help="Take-profit, fraction of the entry price.")
    ] = None,
    trailing_stop: Annotated[
        float | None, typer.Option(metavar="FRACTION", help="Trailing stop, fraction of the best price.")
    ] = None,
    fraction: Annotated[float, typer.Option(metavar="FRACTION", help="Share of equity per entry (1 = all-in).")] = 1.0,
    cash: Annotated[float, typer.Option(metavar="AMOUNT", help="Starting cash, in the quote currency.")] = 10_000.0,
    allow_short: Annotated[bool, typer.Option("--allow-short", help="Let bearish signals open shorts.")] = False,
    param: Annotated[
        list[str] | None,
        typer.Option(
            metavar="NAME=VALUES",
            help="name=10, name=5,10,20 or name=start:stop:step (stop included); strategy.name=... "
            "targets one strategy. Repeatable.",
        ),
    ] = None,
    samples: Annotated[int | None, typer.Option(min=1, metavar="N", help="Random combinations per strategy.")] = None,
    seed: Annotated[int, typer.Option(metavar="N", help="Seed of --samples.")] = 0,
    top: Annotated[int, typer.Option(min=0, metavar="N", help="How many of the best combinations to list.")] = 10,
    sort: Annotated[str, typer.Option(metavar="METRIC", help="Metric to rank the best combinations by.")] = "sharpe",
    json_path: Annotated[
        Path | None, typer.Option("--json", metavar="PATH", help="Write every result as JSON.")
    ] = None,
    csv_path: Annotated[
        Path | None, typer.Option("--csv", metavar="PATH", help="Write every result as CSV.")
    ] = None,
    workers: Annotated[int | None, typer.Option(min=1, metavar="N", help=WORKERS_HELP)] = None,
    cluster: Annotated[str | None, typer.Option(metavar="ADDRESS", help=CLUSTER_HELP)] = None,
    record: Annotated[bool, typer.Option(help="Record the run in the database.")] = True,
    report: Annotated[
        Path | None,
        typer.Option(metavar="PATH", help="Write the recorded run's HTML report (`gpt-trader report`) to PATH."),
    ] = None,
) -> None:
    """Backtest strategies × products × parameters and rank them.

    Prints what was tested (data and costs), a summary per strategy beside buy-and-hold, then the best
    combinations, and records the run in the database.
    """
    from gpt_trader.cli.app import imports_kept

    with imports_kept():
        from gpt_trader.backtest.api import DataSpec
        from gpt_trader.backtest.metrics import METRIC_NAMES
        from gpt_trader.backtest.settings import SimulationSettings
        from gpt_trader.cli.export import check_writable

    if days is not None and days <= 0:
        raise UserError(f"--days {days:g}: give a number of days above 0, e.g. --days 30")
    if sort not in METRIC_NAMES:
        raise UserError(f"--sort {sort!r}: choose one of {', '.join(METRIC_NAMES)}")
    for path, flag in ((json_path, "--json"), (csv_path, "--csv"), (report, "--report")):
        if path is not None:
            check_writable(path, flag)
    if report is not None and not record:
        raise UserError("--report reports the run as recorded in the database; drop --no-record")
    products = _split(symbols) or (_split(QUICK) if quick else [_file_product(source) or "BTC-USD"])
    try:
        settings = SimulationSettings(
            fill=fill,  # type: ignore[arg-type]  # checked by SimulationSettings
            half_spread_bps=spread_bps, slippage_bps=slippage_bps, stop_loss=stop_loss,
            take_profit=take_profit, trailing_stop=trailing_stop, fraction=fraction, allow_short=allow_short,
            initial_cash=cash, **({} if fee is None else {"fee_rate": fee}),
        )
    except ValueError as error:
        raise UserError(str(error).replace("initial_cash", "--cash")) from None
    run = BacktestRun(
        strategies=_split(strategies) if strategies is not None else None,
        products=products,
        data=DataSpec(source, granularity, 30 if days is None and start is None else days, start, end, gaps),
        settings=settings,
        params=param or [],
        samples=samples,
        seed=seed,
        workers=workers,
    )
    with ExitStack() as stack:
        store = stack.enter_context(_open_recorder()) if record else None  # a bad database fails before the work
        run.executor = stack.enter_context(open_executor(cluster, workers))
        result = run.execute()
        if store is not None and result.backtests:
            result = _record(result, run.data, products, store)
            if report is not None and result.run_id is not None:
                _write_report(result.run_id, report)
    _report(result, run.data.source, top, sort, json_path, csv_path)
    if report is not None and result.run_id is not None:
        typer.echo(f"Wrote the report of run {result.run_id} to {report}.")


def _report(
    result: SweepResult, source: str, top: int, sort: str, json_path: Path | None, csv_path: Path | None
) -> None:
    from gpt_trader.cli.backtest_output import print_report
    from gpt_trader.cli.export import write_csv, write_json
    from gpt_trader.cli.output import console

    print_report(result, source, top, sort)
    for line in verdict_lines(result, sort):
        console().print(line, markup=False)
    if result.run_id is not None:
        console().print(f"Recorded as run {result.run_id}.", markup=False)
    if json_path:
        write_json(result, source, json_path)
    if csv_path:
        write_csv(result, source, csv_path)
    if result.failures:
        raise UserError("\n".join(result.failures.values()))


@dataclass
class BacktestRun:
    """A backtest as the command line describes it: checked, then loaded, then swept with progress bars."""

    strategies: list[str] | None
    products: list[str]
    data: DataSpec
    settings: SimulationSettings
    params: list[str] = field(default_factory=list)
    samples: int | None = None
    seed: int = 0
    workers: int | None = None
    executor: Executor | None = None

    def execute(self) -> SweepResult:
        from gpt_trader.backtest.api import plan_spaces, sweep
        from gpt_trader.cli.output import progress_bar
        from gpt_trader.strategies.builtin import BUILTIN_NAMES
        from gpt_trader.strategies.registry import get_strategy

        if self.strategies is not None and not self.strategies:
            raise UserError("--strategies is empty; name at least one, e.g. ma_crossover")
        strategies = [get_strategy(spec) for spec in self.strategies or BUILTIN_NAMES]
        param_specs = _param_specs(self.params, strategies)
        plan_spaces(strategies, param_specs, self.samples, self.seed)  # bad ranges fail before any loading
        with progress_bar("loading") as loading:
            bars = self.data.load(self.products, progress=loading)
        with (
            progress_bar("kernels (compiled on first use, then loaded from cache)", min_total=1) as compiling,
            progress_bar("backtesting", min_total=500) as running,
        ):
            return sweep(
                strategies, self.products, params=param_specs, samples=self.samples, seed=self.seed, bars=bars,
                settings=self.settings, workers=self.workers, executor=self.executor,
                progress=lambda done, total: running("", done, total),
                compile_progress=lambda done, total: compiling("", done, total),
            )


def _file_product(source: str) -> str | None:
    """The product a `file:PATH:PRODUCT` source names, the default of --symbols then."""
    kind, _, argument = source.partition(":")
    if kind.strip().lower() != "file":
        return None
    from gpt_trader.market.sources.file import split_product

    return split_product(argument.strip())[1]


def _split(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def _param_specs(assignments: list[str], strategies: list[Any]) -> dict[str, dict[str, str]]:
    """`--param` values per strategy: `name=spec` for each strategy having `name`; `strat.name=spec` for one."""
    from gpt_trader.backtest.space import parse_assignment

    in_run = [s.name for s in strategies]
    by_strategy: dict[str, dict[str, str]] = {}
    for assignment in assignments:
        target, spec = parse_assignment(assignment)
        owner, _, name = target.rpartition(".")
        if owner and owner not in in_run:
            raise UserError(
                f"--param {assignment}: {owner} is not in this run (-s {','.join(in_run)}); "
                f"add it to --strategies or drop the parameter"
            )
        matched = [s for s in strategies if (not owner or s.name == owner) and name in s.params]
        if not matched:
            lacking = f"strategy {owner!r} has no" if owner else "no strategy of this run has a"
            known = "; ".join(f"{s.name}: {', '.join(s.params)}" for s in strategies)
            raise UserError(f"--param {assignment}: {lacking} parameter {name!r} ({known})")
        for strategy in matched:
            by_strategy.setdefault(strategy.name, {})[name] = spec
    return by_strategy


def _open_store() -> Store:
    from gpt_trader.config import load_settings
    from gpt_trader.store import open_store

    return open_store(load_settings().database)


def _write_report(run_id: int, path: Path) -> None:
    # The report reads the run back through the whole store (the recorder may be the plain sqlite3 one).
    from gpt_trader.config import load_settings
    from gpt_trader.monitor.report import write_report
    from gpt_trader.store.db import open_store
    from gpt_trader.store.views import StoreViews

    with open_store(load_settings().database) as store:
        write_report(StoreViews.of(store), run_id, path)


def _open_recorder() -> RunRecorder:
    from gpt_trader.config import load_settings
    from gpt_trader.store.sqlite_runs import open_run_recorder

    return open_run_recorder(load_settings().database)


def _record(result: SweepResult, data: DataSpec, products: list[str], store: RunRecorder) -> SweepResult:
    from dataclasses import asdict
    from datetime import UTC, datetime

    from gpt_trader.backtest.api import fingerprint
    from gpt_trader.backtest.record import record_sweep

    first = min(b.start for b in result.bars.values())
    last = max(b.end for b in result.bars.values())
    config = {
        "strategies": list(result.strategies),
        "products": products,
        "granularity": str(data.granularity),
        "source": data.source,
        "gaps": data.gaps,
        "settings": asdict(result.settings),
    }
    return record_sweep(
        result,
        name=f"{', '.join(result.strategies)} × {', '.join(products)}",
        config=config,
        data_fingerprint=fingerprint(result.bars),
        data_range=(datetime.fromtimestamp(first, UTC), datetime.fromtimestamp(last, UTC)),
        store=store,
    )

"""`gpt-trader optimize STRATEGY`: search a strategy's parameters and say whether the winner is luck."""

from __future__ import annotations

import json
import math
from contextlib import ExitStack
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from gpt_trader.errors import UserError

if TYPE_CHECKING:
    from gpt_trader.backtest.api import DataSpec, SweepResult
    from gpt_trader.backtest.optimize import OptimizeResult
    from gpt_trader.store import Store

OBJECTIVE_HELP = "Metric to maximise: sharpe, sortino, return, calmar, cagr, ... (volatility minimised)."
CLUSTER_HELP = "Run on a Dask cluster: tcp://HOST:8786, or `local` to start one on this machine."


def optimize(
    strategy: Annotated[str, typer.Argument(metavar="STRATEGY", help="A strategy name or FILE.py[:Class].")],
    symbols: Annotated[str, typer.Option("--symbols", "-p", metavar="PRODUCTS", help="Comma-separated products.")] = (
        "BTC-USD"
    ),
    param: Annotated[
        list[str] | None,
        typer.Option(metavar="NAME=VALUES", help="name=5,10,20 or name=start:stop:step (stop included). Repeatable."),
    ] = None,
    method: Annotated[str, typer.Option(metavar="METHOD", help="grid, random or optuna.")] = "grid",
    trials: Annotated[
        int | None, typer.Option(min=1, metavar="N", help="Combinations for random and optuna.  [default: 100]")
    ] = None,
    objective: Annotated[str, typer.Option(metavar="METRIC", help=OBJECTIVE_HELP)] = "sharpe",
    folds: Annotated[int, typer.Option(min=1, metavar="N", help="Walk-forward folds.")] = 5,
    anchored: Annotated[bool, typer.Option("--anchored", help="Train each fold on all bars before its test.")] = False,
    purge: Annotated[int, typer.Option(min=0, metavar="BARS", help="Bars left out between training and test.")] = 0,
    days: Annotated[float, typer.Option(metavar="DAYS", help="Days of history before --end.")] = 30,
    start: Annotated[str | None, typer.Option(metavar="TIME", help="Start: ISO 8601 or Unix seconds.")] = None,
    end: Annotated[str | None, typer.Option(metavar="TIME", help="End, exclusive.  [default: now]")] = None,
    granularity: Annotated[str, typer.Option("--granularity", "-g", metavar="SIZE", help="Candle size.")] = "15m",
    source: Annotated[
        str, typer.Option(metavar="SOURCE", help="coinbase, synthetic[:SEED], file:PATH[:PRODUCT] or local.")
    ] = "coinbase",
    gaps: Annotated[str, typer.Option(metavar="POLICY", help="Gap policy: keep, fill-flat or fail.")] = "keep",
    fill: Annotated[str, typer.Option(metavar="RULE", help="next_open or close.")] = "next_open",
    fee: Annotated[
        float | None, typer.Option(metavar="RATE", help="Fee rate per fill.  [default: 0.006, Coinbase's taker fee]")
    ] = None,
    cash: Annotated[float, typer.Option(metavar="AMOUNT", help="Starting cash, in the quote currency.")] = 10_000.0,
    allow_short: Annotated[bool, typer.Option("--allow-short", help="Let bearish signals open shorts.")] = False,
    seed: Annotated[int, typer.Option(metavar="N", help="Seed of random and optuna.")] = 0,
    top: Annotated[int, typer.Option(min=1, metavar="N", help="Candidates to judge and list.")] = 5,
    study: Annotated[
        str | None, typer.Option(metavar="NAME", help="Optuna study name.  [default: from the command's arguments]")
    ] = None,
    storage: Annotated[
        str | None,
        typer.Option(metavar="URL", help="Optuna storage.  [default: a SQLite file beside the project database]"),
    ] = None,
    workers: Annotated[int | None, typer.Option(min=1, metavar="N", help="Local processes to use.")] = None,
    cluster: Annotated[str | None, typer.Option(metavar="ADDRESS", help=CLUSTER_HELP)] = None,
    json_path: Annotated[Path | None, typer.Option("--json", metavar="PATH", help="Write the result as JSON.")] = None,
    csv_path: Annotated[Path | None, typer.Option("--csv", metavar="PATH", help="Write every row as CSV.")] = None,
    record: Annotated[bool, typer.Option(help="Record the run, its rows and regimes in the database.")] = True,
) -> None:
    """Search STRATEGY's parameters; judge the best by walk-forward, deflated Sharpe, PBO and plateau."""
    from gpt_trader.backtest.api import DataSpec
    from gpt_trader.backtest.optimize import Evaluation
    from gpt_trader.backtest.optimize import optimize as run_optimize
    from gpt_trader.backtest.settings import SimulationSettings
    from gpt_trader.backtest.space import parse_assignment
    from gpt_trader.cli.export import check_writable
    from gpt_trader.cli.output import progress_bar

    for path, flag in ((json_path, "--json"), (csv_path, "--csv")):
        if path is not None:
            check_writable(path, flag)
    if days <= 0:
        raise UserError(f"--days {days:g}: give a number of days above 0, e.g. --days 30")
    try:
        settings = SimulationSettings(
            fill=fill,  # type: ignore[arg-type]  # checked by SimulationSettings
            allow_short=allow_short, initial_cash=cash, **({} if fee is None else {"fee_rate": fee}),
        )
    except ValueError as error:
        raise UserError(str(error).replace("initial_cash", "--cash")) from None
    specs = dict(parse_assignment(text) for text in param or [])
    products = [p.strip() for p in symbols.split(",") if p.strip()]
    data = DataSpec(source, granularity, days if start is None else None, start, end, gaps)
    with ExitStack() as stack:
        store = stack.enter_context(_open_store()) if record else None  # a bad database fails before the work
        executor = stack.enter_context(open_executor(cluster, workers))
        running = stack.enter_context(progress_bar("optimizing", min_total=100))
        result = run_optimize(
            strategy, products, params=specs, method=method, trials=trials, objective=objective,
            evaluation=Evaluation(folds, anchored, purge), seed=seed, data=data, settings=settings,
            workers=workers, executor=executor, storage=storage, study_name=study, top=top,
            progress=lambda done, total: running("", done, total),
        )
        if store is not None:
            result = record_optimization(result, data, store)
    print_optimization(result, source)
    if json_path:
        _write(json_path, json.dumps(result_document(result, source), indent=1, default=str))
    if csv_path:
        frame = result.table.copy()
        frame["params"] = [json.dumps(p) for p in frame["params"]]
        _write(csv_path, frame.to_csv(index=False))


def record_optimization(result: OptimizeResult, data: DataSpec, store: Store) -> OptimizeResult:
    """Store the run, every row's whole-history metrics, and each candidate's regime breakdown."""
    import dataclasses
    from datetime import UTC, datetime

    from gpt_trader.backtest.api import fingerprint
    from gpt_trader.backtest.regimes import record_regimes
    from gpt_trader.store import METRIC_COLUMNS, RunKind, RunStatus

    first = min(b.start for b in result.bars.values())
    last = max(b.end for b in result.bars.values())
    config = {
        "strategies": [result.strategy], "products": list(result.bars), "granularity": str(data.granularity),
        "source": data.source, "gaps": data.gaps, "settings": asdict(result.settings),
        "optimize": {"method": result.method, "objective": result.objective, **asdict(result.evaluation)},
        "verdicts": [{"product_id": c.product_id, "params": c.params, "verdict": c.verdict} for c in result.candidates],
    }
    run_id = store.start_run(
        RunKind.SWEEP, f"optimize {result.strategy} × {', '.join(result.bars)}", _plain(config),
        data_fingerprint=fingerprint(result.bars), trials=result.trials,
        data_range=(datetime.fromtimestamp(first, UTC), datetime.fromtimestamp(last, UTC)),
    )
    granularity = next(iter(result.bars.values())).granularity
    columns = ["strategy", "product_id", "params", *METRIC_COLUMNS]
    # inf (a profit factor without losses) has no SQL form; stored as NULL like NaN.
    rows = [
        {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in zip(columns, values, strict=True)}
        | {"granularity": granularity}
        for values in result.table[columns].itertuples(index=False, name=None)
    ]
    store.add_backtest_results(run_id, rows)
    record_regimes(store, run_id, [
        {"strategy": result.strategy, "product_id": c.product_id, "params": c.params, **regime}
        for c in result.candidates for regime in c.regimes
    ])
    store.finish_run(run_id, RunStatus.FINISHED)
    return dataclasses.replace(result, run_id=run_id)


def _open_store() -> Store:
    from gpt_trader.config import load_settings
    from gpt_trader.store import open_store

    return open_store(load_settings().database)


def open_executor(cluster: str | None, workers: int | None) -> Any:
    """The Dask executor `--cluster` names (closed on leaving), or a context giving None: the local runner."""
    from contextlib import nullcontext

    if cluster is None:
        return nullcontext(None)
    from gpt_trader.backtest.dask import connect

    return connect(cluster, workers)


def verdict_lines(result: SweepResult, by: str, top: int = 3) -> list[str]:
    """A sweep's best rows judged: the deflated Sharpe from every trial run, and a verdict."""
    from gpt_trader.backtest.judging import judge_sweep

    if not result.backtests:
        return []
    lines = []
    for row, dsr, said in judge_sweep(result, top, by):
        record = result.row(row)
        lines.append(
            f"{record['strategy']} {_params(record['params'])} on {record['product_id']}: deflated sharpe "
            f"{_num(dsr)} from {result.trials:,} trials: {said}"
        )
    lines.append("`gpt-trader optimize` tells whether a winner holds out of sample (walk-forward, PBO).")
    return lines


def print_optimization(result: OptimizeResult, source: str) -> None:
    from rich.table import Table

    from gpt_trader.cli.backtest_output import tested_header
    from gpt_trader.cli.output import console

    out = console()
    out.print(tested_header(result.bars, source, result.settings), markup=False)
    evaluation = result.evaluation
    kind = "anchored" if evaluation.anchored else "rolling"
    out.print(
        f"{result.method} search of {result.strategy}: {result.trials:,} trials (products × combinations), "
        f"objective {result.objective}, {evaluation.folds} {kind} walk-forward folds, purge {evaluation.purge} "
        f"bars; {result.seconds:.1f} s",
        markup=False,
    )
    candidates = Table(title="Best on the whole history, judged", title_justify="left")
    extra = () if result.objective == "sharpe" else ("sharpe",)
    for column in ("product", "params", result.objective, *extra, "deflated sharpe", "plateau", "verdict"):
        candidates.add_column(column)
    for c in result.candidates:
        sharpe = () if result.objective == "sharpe" else (_num(c.sharpe),)
        candidates.add_row(
            c.product_id, _params(c.params), _num(c.objective), *sharpe, _num(c.deflated_sharpe), _num(c.plateau),
            c.verdict,
        )
    out.print(candidates)
    for walk in result.walk_forward:
        folds = Table(title=f"Walk-forward on {walk.product_id}", title_justify="left")
        for column in ("fold", "chosen on training", f"train {result.objective}", f"test {result.objective}"):
            folds.add_column(column)
        for number, (chosen, train, test) in enumerate(
            zip(walk.chosen, walk.in_sample, walk.out_of_sample, strict=True), start=1
        ):
            folds.add_row(str(number), _params(chosen), _num(train), _num(test))
        out.print(folds)
        best = next((c for c in result.candidates if c.product_id == walk.product_id), None)
        if best is not None and best.regimes:
            out.print(
                f"By regime ({_params(best.params)}): " + "; ".join(
                    f"{r['regime']} {r['share']:.0%} of bars, return {r['total_return']:+.2%}, "
                    f"sharpe {_num(r['sharpe'])}" for r in best.regimes
                ),
                markup=False,
            )
        h = walk.headline
        out.print(
            f"Out of sample ({walk.product_id}, test ranges end to end): return {h['total_return']:+.2%} "
            f"(buy & hold {h['buy_and_hold_return']:+.2%}), sharpe {_num(h['sharpe'])}, "
            f"probability of backtest overfitting {_num(walk.pbo)}",
            markup=False,
        )
    out.print(
        "deflated sharpe: odds the edge is not the luck of this many trials (>= 0.95 significant); plateau: the "
        "neighbours' share of the winner's objective. See docs/optimisation.md.",
        markup=False,
    )
    if result.run_id is not None:
        out.print(f"Recorded as run {result.run_id}.", markup=False)


def result_document(result: OptimizeResult, source: str) -> dict[str, Any]:
    """The whole result as plain JSON values (NaN as null)."""
    from gpt_trader.market.bars import iso_time

    document = {
        "strategy": result.strategy,
        "method": result.method,
        "objective": result.objective,
        "trials": result.trials,
        "seconds": result.seconds,
        "evaluation": asdict(result.evaluation),
        "settings": asdict(result.settings),
        "data": {
            "source": source,
            "products": {
                p: {"start": iso_time(b.start), "end": iso_time(b.end), "bars": len(b)} for p, b in result.bars.items()
            },
        },
        "candidates": [asdict(c) for c in result.candidates],
        "walk_forward": [asdict(w) for w in result.walk_forward],
        "results": result.table.to_dict(orient="records"),
    }
    return _plain(document)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return value


def _write(path: Path, text: str) -> None:
    try:
        path.write_text(text)
    except OSError as error:
        raise UserError(f"cannot write {path}: {error.strerror or error}") from None


def _num(value: float) -> str:
    return "-" if not math.isfinite(value) else f"{value:.2f}"


def _params(params: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in params.items())

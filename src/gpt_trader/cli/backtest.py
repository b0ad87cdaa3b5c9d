"""`gpt-trader backtest`: strategies × products × parameters on historical candles, in parallel."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from gpt_trader.errors import UserError
from gpt_trader.market.products import QUICK_PRODUCTS

if TYPE_CHECKING:
    import pandas as pd

    from gpt_trader.backtest.api import DataSpec, SweepResult
    from gpt_trader.backtest.settings import SimulationSettings

BUILTINS = "momentum,mean_reversion,breakout,ma_crossover,volatility"
QUICK = ",".join(QUICK_PRODUCTS)
WORKERS_HELP = "Processes to use (default: every core for big runs, this one for small)."


def backtest(
    strategies: Annotated[
        str, typer.Option("--strategies", "-s", help="Comma-separated strategy names, or FILE.py[:Class].")
    ] = BUILTINS,
    symbols: Annotated[
        str | None, typer.Option("--symbols", "-p", help="Comma-separated products [default: BTC-USD].")
    ] = None,
    days: Annotated[float | None, typer.Option(help="Days of history before --end [default: 30].")] = None,
    start: Annotated[str | None, typer.Option(help="Start: ISO 8601 (2024-01-01) or Unix seconds.")] = None,
    end: Annotated[str | None, typer.Option(help="End [default: now, or the end of a file's data].")] = None,
    granularity: Annotated[str, typer.Option("--granularity", "-g", help="1m 5m 15m 30m 1h 2h 6h 1d.")] = "15m",
    quick: Annotated[bool, typer.Option(help=f"Built-ins × {QUICK} × 30 days of 15m candles.")] = False,
    source: Annotated[
        str, typer.Option(help="coinbase | synthetic[:SEED] | file:PATH | local (imported candles).")
    ] = "coinbase",
    gaps: Annotated[str, typer.Option(help="Gap policy: keep | fill-flat | fail.")] = "keep",
    fill: Annotated[str, typer.Option(help="next_open (no same-bar execution) | close.")] = "next_open",
    fee: Annotated[float | None, typer.Option(help="Fee rate per fill [default: 0.006, Coinbase taker].")] = None,
    spread_bps: Annotated[float, typer.Option(help="Half-spread paid per fill, basis points.")] = 0.0,
    slippage_bps: Annotated[float, typer.Option(help="Slippage per fill, basis points.")] = 0.0,
    stop_loss: Annotated[float | None, typer.Option(help="Stop-loss, fraction of entry (0.05).")] = None,
    take_profit: Annotated[float | None, typer.Option(help="Take-profit, fraction of entry.")] = None,
    trailing_stop: Annotated[float | None, typer.Option(help="Trailing stop, fraction.")] = None,
    fraction: Annotated[float, typer.Option(help="Share of equity per entry (1 = all-in).")] = 1.0,
    allow_short: Annotated[bool, typer.Option(help="Let bearish signals open shorts.")] = False,
    param: Annotated[
        list[str] | None,
        typer.Option(
            help="name=10, name=5,10,20 or name=start:stop:step (stop included); strategy.name=... "
            "targets one strategy. Repeatable."
        ),
    ] = None,
    samples: Annotated[int | None, typer.Option(min=1, help="Random combinations per strategy.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of --samples.")] = 0,
    top: Annotated[int, typer.Option(min=0, help="How many of the best combinations to list.")] = 10,
    sort: Annotated[str, typer.Option(help="Metric to rank the best combinations by.")] = "sharpe",
    json_path: Annotated[Path | None, typer.Option("--json", help="Write every result to a JSON file.")] = None,
    csv_path: Annotated[Path | None, typer.Option("--csv", help="Write every result to a CSV file.")] = None,
    workers: Annotated[int | None, typer.Option(min=1, help=WORKERS_HELP)] = None,
    record: Annotated[bool, typer.Option(help="Record the run in the database.")] = True,
) -> None:
    """Backtest strategies × products × parameters and rank them.

    Prints a summary per strategy, then the best combinations, and records the run in the database.
    """
    from gpt_trader.backtest.api import DataSpec
    from gpt_trader.backtest.metrics import METRIC_NAMES
    from gpt_trader.backtest.settings import SimulationSettings

    if days is not None and days <= 0:
        raise UserError(f"--days {days:g}: give a number of days above 0, e.g. --days 30")
    if sort not in METRIC_NAMES:
        raise UserError(f"--sort {sort!r}: choose one of {', '.join(METRIC_NAMES)}")
    products = _split(symbols) or (_split(QUICK) if quick else ["BTC-USD"])
    try:
        settings = SimulationSettings(
            fill=fill,  # type: ignore[arg-type]  # checked by SimulationSettings
            half_spread_bps=spread_bps, slippage_bps=slippage_bps, stop_loss=stop_loss,
            take_profit=take_profit, trailing_stop=trailing_stop, fraction=fraction, allow_short=allow_short,
            **({} if fee is None else {"fee_rate": fee}),
        )
    except ValueError as error:
        raise UserError(str(error)) from None
    run = BacktestRun(
        strategies=_split(strategies),
        products=products,
        data=DataSpec(source, granularity, 30 if days is None and start is None else days, start, end, gaps),
        settings=settings,
        params=param or [],
        samples=samples,
        seed=seed,
        workers=workers,
    )
    result = run.execute()
    run_id = _record(result, run.data, products) if record else None
    _print(result, top, sort, run_id)
    if json_path:
        _write_json(result, json_path)
    if csv_path:
        _write_csv(result.table, csv_path)


@dataclass
class BacktestRun:
    """A backtest as the command line describes it: checked, then loaded, then swept with progress bars."""

    strategies: list[str]
    products: list[str]
    data: DataSpec
    settings: SimulationSettings
    params: list[str] = field(default_factory=list)
    samples: int | None = None
    seed: int = 0
    workers: int | None = None

    def execute(self) -> SweepResult:
        from gpt_trader.backtest.api import plan_spaces, sweep
        from gpt_trader.cli.output import progress_bar
        from gpt_trader.strategies.registry import get_strategy

        if not self.strategies:
            raise UserError("--strategies is empty; name at least one, e.g. ma_crossover")
        strategies = [get_strategy(spec) for spec in self.strategies]
        param_specs = _param_specs(self.params, strategies)
        plan_spaces(strategies, param_specs, self.samples, self.seed)  # bad ranges fail before any loading
        with progress_bar("loading") as loading:
            bars = self.data.load(self.products, progress=loading)
        with progress_bar("backtesting", min_total=500) as running:
            return sweep(
                strategies, self.products, params=param_specs, samples=self.samples, seed=self.seed, bars=bars,
                settings=self.settings, workers=self.workers,
                progress=lambda done, total: running("", done, total),
            )


def _split(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def _param_specs(assignments: list[str], strategies: list[Any]) -> dict[str, dict[str, str]]:
    """`--param` values per strategy: `name=spec` for each strategy having `name`; `strat.name=spec` for one."""
    from gpt_trader.backtest.space import parse_assignment

    by_strategy: dict[str, dict[str, str]] = {}
    for assignment in assignments:
        target, spec = parse_assignment(assignment)
        owner, _, name = target.rpartition(".")
        matched = [s for s in strategies if (not owner or s.name == owner) and name in s.params]
        if not matched:
            lacking = f"strategy {owner!r} has no" if owner else "no strategy of this run has a"
            known = "; ".join(f"{s.name}: {', '.join(s.params)}" for s in strategies)
            raise UserError(f"--param {assignment}: {lacking} parameter {name!r} ({known})")
        for strategy in matched:
            by_strategy.setdefault(strategy.name, {})[name] = spec
    return by_strategy


def _record(result: SweepResult, data: DataSpec, products: list[str]) -> int:
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
    )


def _print(result: SweepResult, top: int, sort: str, run_id: int | None) -> None:
    from rich.table import Table

    from gpt_trader.cli.output import console

    out = console()
    bars = next(iter(result.bars.values()))
    count = len(result.table)
    rate = count / max(result.seconds, 1e-9)
    out.print(
        f"[bold]{_count(count, 'backtest')}[/] ({_count(len(result.strategies), 'strategy', 'strategies')} × "
        f"{_count(len(result.bars), 'product')}, "
        f"{bars.granularity.short} candles) in {result.seconds:.2f} s: {rate:,.0f} backtests/s"
    )
    summary = Table(title="Per strategy (averages over its backtests)", title_justify="left")
    for column in ("strategy", "backtests", "return", "sharpe", "max drawdown", "trades", "win rate"):
        summary.add_column(column, justify="left" if column == "strategy" else "right")
    for name, row in result.summary().iterrows():
        summary.add_row(
            str(name), str(int(row["backtests"])), _pct(row["avg_return"]), _num(row["avg_sharpe"]),
            _pct(row["avg_max_drawdown"]), _num(row["avg_trades"], 1), _pct(row["avg_win_rate"]),
        )
    out.print(summary)
    if top:
        table = Table(title=f"Top {min(top, count)} by {sort}", title_justify="left")
        left = ("strategy", "product", "params")
        for column in (*left, "return", "sharpe", "max drawdown", "trades", "win rate"):
            table.add_column(column, justify="left" if column in left else "right")
        for _, row in result.top(top, sort).iterrows():
            table.add_row(
                row["strategy"], row["product_id"], _params(row["params"]), _pct(row["total_return"]),
                _num(row["sharpe"]), _pct(row["max_drawdown"]), str(row["trades"]), _pct(row["win_rate"]),
            )
        out.print(table)
    if run_id is not None:
        out.print(f"Recorded as run {run_id}.")


def _count(number: int, singular: str, plural: str | None = None) -> str:
    return f"{number:,} {singular if number == 1 else plural or singular + 's'}"


def _pct(value: float) -> str:
    return "—" if value is None or math.isnan(value) else f"{value:+.2%}"


def _num(value: float, digits: int = 2) -> str:
    return "—" if value is None or math.isnan(value) else f"{value:.{digits}f}"


def _params(params: dict[str, Any]) -> str:
    return " ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())


def _rows(table: pd.DataFrame) -> list[dict[str, Any]]:
    records = table.to_dict(orient="records")
    for record in records:
        for key, value in record.items():
            if isinstance(value, float) and not math.isfinite(value):
                # JSON has no NaN or infinity: NaN (undefined) becomes null, infinities stay readable.
                record[key] = None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return records


def _write_json(result: SweepResult, path: Path) -> None:
    document = {"seconds": result.seconds, "trials": result.trials, "results": _rows(result.table)}
    try:
        path.write_text(json.dumps(document, indent=1, default=str))
    except OSError as error:
        raise UserError(f"cannot write {path}: {error.strerror or error}") from None


def _write_csv(table: pd.DataFrame, path: Path) -> None:
    frame = table.copy()
    frame["params"] = [json.dumps(p) for p in frame["params"]]
    try:
        frame.to_csv(path, index=False)
    except OSError as error:
        raise UserError(f"cannot write {path}: {error.strerror or error}") from None

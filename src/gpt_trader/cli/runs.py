"""`gpt-trader runs ...`: the performance database's questions, answered from the store.

`list` filters the runs, `show` gives one run's record and results, `compare` lines up one strategy's
backtest, simulation and paper runs. Every command reads only; `--json` prints the same rows for scripts.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from gpt_trader.cli.output import console
from gpt_trader.errors import UserError

if TYPE_CHECKING:
    from gpt_trader.store.views import StoreViews

app = typer.Typer(no_args_is_help=True)

RUN_KINDS = ("backtest", "sweep", "simulation", "paper", "live")
JSON_HELP = "Print JSON (for scripts) instead of tables."
TIME_HELP = "ISO 8601 (2026-01-01, 2026-01-01T12:00Z) or Unix seconds."


@app.command("list")
def list_runs(
    kind: Annotated[str | None, typer.Option(help=f"Only runs of this kind: {', '.join(RUN_KINDS)}.")] = None,
    strategy: Annotated[str | None, typer.Option(help="Only runs that tested or traded this strategy.")] = None,
    product: Annotated[str | None, typer.Option(help="Only runs that tested or traded this product.")] = None,
    since: Annotated[str | None, typer.Option(help=f"Only runs started at or after this time: {TIME_HELP}")] = None,
    until: Annotated[str | None, typer.Option(help=f"Only runs started before this time: {TIME_HELP}")] = None,
    source: Annotated[
        str | None, typer.Option(help="Only runs on this candle source (coinbase, synthetic, ...).")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many runs, newest first.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
) -> None:
    """List the runs in the performance database, newest first."""
    if kind is not None and kind not in RUN_KINDS:
        raise UserError(f"--kind {kind!r} is not a run kind; choose one of {', '.join(RUN_KINDS)}")
    start, end = _time(since, "--since"), _time(until, "--until")
    if start is not None and end is not None and end <= start:
        raise UserError(f"--until ({end:%Y-%m-%d %H:%M}) must come after --since ({start:%Y-%m-%d %H:%M})")
    with _views() as views:
        rows = views.runs(
            kind=kind, strategy=strategy, product=product, since=start, until=end, source=source, limit=limit
        )
    if as_json:
        _print_json(rows)
        return
    if not rows:
        console().print("No runs match. Backtests record theirs: try `gpt-trader backtest --quick`.")
        return
    _print_table(
        "Runs",
        ("id", "kind", "name", "status", "source", "started", "results", "best sharpe", "best return"),
        [
            (
                str(r["id"]),
                r["kind"],
                r["name"],
                r["status"],
                r["source"] or "",
                _when(r["started_at"]),
                str(r["results"]),
                _num(r["best_sharpe"]),
                _pct(r["best_return"]),
            )
            for r in rows
        ],
    )


@app.command()
def show(
    run_id: Annotated[int, typer.Argument(help="The run's id, as `runs list` shows it.")],
    top: Annotated[int, typer.Option(min=1, help="Show this many results, best first.")] = 20,
    sort: Annotated[str, typer.Option(help="Order results by this metric (sharpe, total_return, ...).")] = "sharpe",
    as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
) -> None:
    """One run: its config, code version, data fingerprint, trials, results, regimes and trades where stored."""
    from gpt_trader.store import RESULT_COLUMNS

    if sort not in RESULT_COLUMNS or sort in ("params", "strategy", "product_id", "granularity"):
        metrics = [name for name in RESULT_COLUMNS if name not in ("params", "strategy", "product_id", "granularity")]
        raise UserError(f"--sort {sort!r} is not a metric; choose one of {', '.join(metrics)}")
    with _views() as views:
        run = views.run(run_id)
        if run is None:
            raise UserError(f"there is no run {run_id} in the database; `gpt-trader runs list` shows the runs")
        results = views.results(run_id, sort=sort, limit=top)
        regimes = views.regimes(run_id)
        accounts = [account for session_id in run["sessions"] for account in views.accounts(session_id)]
        trades = {account["id"]: views.round_trips(account["id"], limit=top) for account in accounts}
    if as_json:
        _print_json({**run, "results": results, "regimes": regimes, "accounts": accounts, "round_trips": trades})
        return
    out = console()
    out.print(f"[bold]Run {run['id']}[/]: {run['name']} ({run['kind']}, {run['status']})")
    facts = {
        "started": _when(run["started_at"]),
        "ended": _when(run["ended_at"]),
        "code version": run["code_version"],
        "data": f"{_when(run['data_start'])} → {_when(run['data_end'])}" if run["data_start"] else "",
        "data fingerprint": run["data_fingerprint"] or "",
        "trials": str(run["trials"]),
        "results": str(run["results"]),
        "error": run["error"] or "",
    }
    for label, value in facts.items():
        if value:
            out.print(f"  {label:<17} {value}")
    from gpt_trader.store.types import json_dumps

    out.print(f"  {'config':<17} {json_dumps(run['config'])}", soft_wrap=True)
    if results:
        _print_table(
            f"Top {len(results)} of {run['results']} by {sort}",
            ("strategy", "product", "params", "return", "sharpe", "max drawdown", "trades", "win rate", "buy & hold"),
            [
                (
                    r["strategy"],
                    r["product_id"],
                    _params(r["params"]),
                    _pct(r["total_return"]),
                    _num(r["sharpe"]),
                    _pct(r["max_drawdown"]),
                    _int(r["trades"]),
                    _pct(r["win_rate"]),
                    _pct(r["buy_and_hold_return"]),
                )
                for r in results
            ],
        )
    if regimes:
        _print_table(
            "By market regime (each result's bars split by the regime they were in)",
            ("strategy", "product", "params", "regime", "bars", "share", "return", "sharpe"),
            [
                (
                    r["strategy"],
                    r["product_id"],
                    _params(r["params"]),
                    r["regime"],
                    str(r["bars"]),
                    _share(r["share"]),
                    _pct(r["total_return"]),
                    _num(r["sharpe"]),
                )
                for r in regimes
            ],
            left=4,
        )
    if accounts:
        _print_table(
            "Accounts",
            ("account", "strategy", "product", "status", "equity", "pnl", "return", "fills", "round trips"),
            [
                (
                    a["name"],
                    a["strategy"],
                    a["product_id"],
                    a["status"],
                    _money(a["equity"]),
                    _money(a["pnl"]),
                    _pct(a["pnl_pct"]),
                    str(a["fills"]),
                    str(a["round_trips"]),
                )
                for a in accounts
            ],
        )
        names = {account["id"]: account["name"] for account in accounts}
        trade_rows = [
            (
                names[account_id],
                t["side"],
                _when(t["entry_time"]),
                _money(t["entry_price"]),
                _when(t["exit_time"]),
                _money(t["exit_price"]),
                _money(t["pnl"]),
                t["exit_reason"],
            )
            for account_id, account_trades in trades.items()
            for t in account_trades
        ]
        if trade_rows:
            _print_table(
                "Closed positions (newest first)",
                ("account", "side", "entry", "entry price", "exit", "exit price", "pnl", "reason"),
                trade_rows,
            )


@app.command()
def compare(
    strategy: Annotated[str, typer.Argument(help="The strategy's name, e.g. ma_crossover.")],
    as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
) -> None:
    """One strategy across backtest, simulation and paper runs side by side, with the backtest-vs-paper gap."""
    from gpt_trader.monitor.compare import gaps, summarise

    with _views() as views:
        rows = views.strategy_runs(strategy)
    summary = summarise(rows)
    if as_json:
        _print_json({"strategy": strategy, "kinds": summary, "gaps": gaps(rows)})
        return
    out = console()
    if not rows:
        raise UserError(
            f"the database has no runs of strategy {strategy!r}; `gpt-trader runs list` shows which strategies ran"
        )
    _print_table(
        f"{strategy}: every recorded run, by kind (returns are over each run's own period)",
        ("kind", "runs", "records", "mean return", "mean win rate", "closed trades"),
        [
            (
                s["kind"],
                str(s["runs"]),
                str(s["records"]),
                _pct(s["mean_return"]),
                _pct(s["mean_win_rate"]),
                _int(s["closed_trades"]),
            )
            if s["runs"]
            else (s["kind"], "0", "0", "no runs yet", "", "")
            for s in summary
        ],
        left=1,
    )
    gap_rows = gaps(rows)
    if gap_rows:
        _print_table(
            "Backtest vs paper, per product (paper minus backtest)",
            ("product", "backtest return", "paper return", "gap"),
            [(g["product_id"], _pct(g["backtest_return"]), _pct(g["paper_return"]), _pct(g["gap"])) for g in gap_rows],
            left=1,
        )
    else:
        out.print("No backtest-vs-paper gap yet: it needs a backtest and a paper run of the same product.")


@contextmanager
def _views() -> Iterator[StoreViews]:
    from gpt_trader.config import load_settings
    from gpt_trader.store import open_store
    from gpt_trader.store.views import StoreViews

    with open_store(load_settings().database) as store:
        yield StoreViews.of(store)


def _time(value: str | None, what: str) -> datetime | None:
    from gpt_trader.market.load import to_unix_seconds

    return None if value is None else datetime.fromtimestamp(to_unix_seconds(value, what), UTC)


def _print_json(document: Any) -> None:
    from gpt_trader.store.types import json_dumps

    typer.echo(json_dumps(document))


def _print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[str]], left: int = 3) -> None:
    """A table whose first `left` columns are text (left-aligned) and the rest numbers."""
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for index, column in enumerate(columns):
        table.add_column(column, justify="left" if index < left else "right")
    for row in rows:
        table.add_row(*row)
    console().print(table)


def _when(value: datetime | None) -> str:
    return "" if value is None else f"{value:%Y-%m-%d %H:%M}"


def _pct(value: float | None) -> str:
    return "" if value is None else f"{value:+.2%}"


def _share(value: float | None) -> str:
    return "" if value is None else f"{value:.0%}"


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


def _int(value: int | None) -> str:
    return "" if value is None else str(value)


def _money(value: Any) -> str:
    return "" if value is None else f"{float(value):,.2f}"


def _params(params: dict[str, Any]) -> str:
    return " ".join(f"{key}={value}" for key, value in params.items())

"""`gpt-trader sim`: many accounts trading replayed history through the event engine, broker and ledger.

The same flags as `backtest` choose strategies, products, candles, costs and stops; every strategy ×
parameter combination × product gets `--accounts` accounts of `--capital` each. The candles are replayed
as a feed (a quote and a closed bar per candle) at `--speed` times the market's pace, or as fast as the CPU
allows; the run, with every order, fill, round trip and sampled equity, is recorded in the database.
"""

from __future__ import annotations

import asyncio
import gc
import json
import time as wall_clock
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from gpt_trader.cli.backtest import _open_store, _param_specs, _split
from gpt_trader.errors import UserError

if TYPE_CHECKING:
    from gpt_trader.market.bars import Bars
    from gpt_trader.market.events import MarketEvent
    from gpt_trader.trading.engine import EngineSummary, InstanceStatus
    from gpt_trader.trading.instance import InstanceSpec

_YOUNG_COLLECTION_EVERY = 100_000
"""Allocations between two collections of the youngest objects (Python's default: 700)."""
_FULL_COLLECTION_AFTER = 1_000
"""Collections of the middle generation before a full one (Python's default: 10)."""
SPEED_HELP = "Replay speed: N times the market's pace (60 = an hour a minute), or max (as fast as the CPU allows)."
SUMMARY_COLUMNS = (
    "strategy",
    "product_id",
    "params",
    "account",
    "trades",
    "closed_trades",
    "final_equity",
    "total_return",
    "fees",
    "win_rate",
    "max_drawdown",
    "error",
)


def sim(
    strategies: Annotated[
        str | None,
        typer.Option(
            "--strategies",
            "-s",
            metavar="NAMES",
            help="Comma-separated strategy names, or FILE.py[:Class].  [default: every built-in]",
        ),
    ] = None,
    symbols: Annotated[
        str, typer.Option("--symbols", "-p", metavar="PRODUCTS", help="Comma-separated products.")
    ] = "BTC-USD",
    accounts: Annotated[int, typer.Option(metavar="N", help="Accounts per strategy, parameters and product.")] = 1,
    days: Annotated[float, typer.Option(metavar="DAYS", help="Days of history before --end.")] = 30.0,
    start: Annotated[str | None, typer.Option(metavar="TIME", help="Start: ISO 8601 or Unix seconds.")] = None,
    end: Annotated[str | None, typer.Option(metavar="TIME", help="End, exclusive.  [default: now]")] = None,
    granularity: Annotated[
        str, typer.Option("--granularity", "-g", metavar="SIZE", help="Candle size: 1m 5m 15m 30m 1h 2h 6h 1d.")
    ] = "1m",
    source: Annotated[
        str, typer.Option(metavar="SOURCE", help="coinbase, synthetic[:SEED], file:PATH[:PRODUCT] or local.")
    ] = "synthetic",
    speed: Annotated[str, typer.Option(metavar="N|max", help=SPEED_HELP)] = "max",
    fill: Annotated[
        str, typer.Option(metavar="RULE", help="next_open (no same-bar execution) or close.")
    ] = "next_open",
    fill_model: Annotated[
        str, typer.Option(metavar="MODEL", help="bar (the backtest's fills), touch (bid/ask) or book.")
    ] = "bar",
    fee: Annotated[
        float | None, typer.Option(metavar="RATE", help="Fee rate per fill.  [default: 0.006, Coinbase's taker fee]")
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
    capital: Annotated[
        str, typer.Option("--capital", "--cash", metavar="AMOUNT", help="Starting cash of each account.")
    ] = "10000",
    allow_short: Annotated[bool, typer.Option("--allow-short", help="Let bearish signals open shorts.")] = False,
    param: Annotated[
        list[str] | None,
        typer.Option(
            metavar="NAME=VALUES",
            help="name=10, name=5,10 or name=start:stop:step; strategy.name=... targets one strategy.",
        ),
    ] = None,
    json_path: Annotated[
        Path | None, typer.Option("--json", metavar="PATH", help="Write one row per instance.")
    ] = None,
    csv_path: Annotated[Path | None, typer.Option("--csv", metavar="PATH", help="Write one row per instance.")] = None,
) -> None:
    """Simulate accounts trading replayed candles through the paper engine, and record the run."""
    from gpt_trader.backtest.api import DataSpec
    from gpt_trader.cli.export import check_writable

    pace = _speed(speed)
    amount = _capital(capital)
    if days <= 0:
        raise UserError(f"--days {days:g}: give a number of days above 0, e.g. --days 30")
    if accounts < 1:
        raise UserError(f"--accounts {accounts}: give at least 1 account per strategy and product")
    if fill_model not in ("bar", "touch", "book"):
        raise UserError(f"--fill-model {fill_model!r}: choose bar, touch or book")
    for path, flag in ((json_path, "--json"), (csv_path, "--csv")):
        if path is not None:
            check_writable(path, flag)
    products = [product.upper() for product in _split(symbols)]
    if not products:
        raise UserError("--symbols is empty; name at least one product, e.g. BTC-USD")
    settings = _settings(
        fill, fee, spread_bps, slippage_bps, stop_loss, take_profit, trailing_stop, fraction, allow_short
    )
    specs = _specs(
        _split(strategies) if strategies is not None else None, products, param or [], accounts, amount, settings
    )
    from gpt_trader.trading.grids import catalog_grids

    grids = catalog_grids(products)
    data = DataSpec(source, granularity, days if start is None else None, start, end)
    with ExitStack() as stack:
        stack.enter_context(_full_collections_deferred())
        store = stack.enter_context(_open_store())  # a bad database fails before the work
        bars = _load(data, products)
        summary, run_id, session_id = _simulate(store, specs, bars, grids, data, fill_model, pace, settings)
    _print_summary(summary, run_id)
    rows = [_row(status) for status in summary.statuses]
    if json_path is not None:
        json_path.write_text(json.dumps({"run_id": run_id, "session_id": session_id, "instances": rows}, indent=2))
    if csv_path is not None:
        import pandas as pd

        pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS)).to_csv(csv_path, index=False)
    failed = [status for status in summary.statuses if status.error]
    if failed:
        raise UserError("\n".join(f"account {status.account}: {status.error}" for status in failed))


@contextmanager
def _full_collections_deferred() -> Iterator[None]:
    """Python's cyclic garbage collector, kept from re-scanning what a simulation accumulates.

    The broker and the ledger keep every order, fill and round trip until the run ends: hundreds of
    thousands of objects, which each full collection walks again, and full collections come more often as
    they grow (a tenth of a month-long simulation went to them). None of them is cyclic garbage, so the
    full collections wait for the end of the command; young objects are still collected, in larger rounds.
    """
    thresholds = gc.get_threshold()
    gc.set_threshold(_YOUNG_COLLECTION_EVERY, thresholds[1], _FULL_COLLECTION_AFTER)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)


def _speed(text: str) -> float | None:
    if text.strip().lower() == "max":
        return None
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0 or value == float("inf"):
        raise UserError(f"--speed {text!r}: give a positive multiple of the market's pace (e.g. 60) or max")
    return value


def _capital(text: str) -> Decimal:
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise UserError(f"--capital {text!r} is not a number; give the starting cash, e.g. --capital 10000") from None
    if not amount.is_finite() or amount <= 0:
        raise UserError(f"--capital {text}: each account needs a positive starting cash, e.g. --capital 10000")
    return amount


def _settings(
    fill: str,
    fee: float | None,
    spread_bps: float,
    slippage_bps: float,
    stop_loss: float | None,
    take_profit: float | None,
    trailing_stop: float | None,
    fraction: float,
    allow_short: bool,
) -> Any:
    from gpt_trader.backtest.settings import SimulationSettings

    try:
        return SimulationSettings(
            fill=fill,  # type: ignore[arg-type]  # checked by SimulationSettings
            half_spread_bps=spread_bps,
            slippage_bps=slippage_bps,
            stop_loss=stop_loss,
            take_profit=take_profit,
            trailing_stop=trailing_stop,
            fraction=fraction,
            allow_short=allow_short,
            **({} if fee is None else {"fee_rate": fee}),
        )
    except ValueError as error:
        raise UserError(str(error)) from None


def _specs(
    names: list[str] | None, products: Sequence[str], params: list[str], accounts: int, capital: Decimal, settings: Any
) -> list[InstanceSpec]:
    """One instance per strategy × parameter combination × product × account."""
    from gpt_trader.backtest.api import plan_spaces
    from gpt_trader.strategies.builtin import BUILTIN_NAMES
    from gpt_trader.strategies.registry import get_strategy
    from gpt_trader.trading.instance import InstanceSpec

    if names is not None and not names:
        raise UserError("--strategies is empty; name at least one, e.g. momentum")
    chosen = list(names or BUILTIN_NAMES)
    strategies = [get_strategy(spec) for spec in chosen]
    spaces = plan_spaces(strategies, _param_specs(params, strategies), None, 0)
    specs = []
    for spec_text, space in zip(chosen, spaces, strict=True):
        for number, combination in enumerate(space.combinations):
            tag = f"#{number + 1}" if len(space.combinations) > 1 else ""
            for product_id in products:
                for account in range(1, accounts + 1):
                    name = f"{space.strategy.name}{tag}/{product_id}/{account}"
                    specs.append(InstanceSpec(spec_text, combination, product_id, name, capital, settings))
    return specs


def _load(data: Any, products: list[str]) -> dict[str, Bars]:
    from gpt_trader.cli.output import progress_bar

    with progress_bar("loading") as loading:
        bars: dict[str, Bars] = data.load(products, progress=loading)
    missing = [product for product in products if product not in bars]
    if missing:
        raise UserError(f"{data.source} carries no candles for {', '.join(missing)}; pick products it has")
    return bars


def _simulate(
    store: Any,
    specs: list[InstanceSpec],
    bars: dict[str, Bars],
    grids: Any,
    data: Any,
    fill_model: str,
    pace: float | None,
    settings: Any,
) -> tuple[EngineSummary, int, int]:
    from dataclasses import asdict
    from datetime import UTC, datetime

    from gpt_trader.backtest.api import fingerprint
    from gpt_trader.cli.output import progress_bar
    from gpt_trader.market.replay import DEFAULT_HALF_SPREAD_BPS, CandleReplay
    from gpt_trader.store.schema import RunStatus
    from gpt_trader.store.writer import StoreWriter
    from gpt_trader.trading.broker import PaperBroker
    from gpt_trader.trading.engine import Engine
    from gpt_trader.trading.fills import BOOK, TOUCH
    from gpt_trader.trading.run import finish_trading_run, start_trading_run
    from gpt_trader.trading.tape import SignalTape

    first, last = min(b.start for b in bars.values()), max(b.end for b in bars.values())
    config = {
        "strategies": sorted({spec.strategy for spec in specs}),
        "products": list(bars),
        "accounts": len(specs),
        "granularity": str(data.granularity),
        "source": data.source,
        "speed": pace or "max",
        "fill_model": fill_model,
        "capital": str(specs[0].capital),
        "settings": asdict(settings),
    }
    data_range = (datetime.fromtimestamp(first, UTC), datetime.fromtimestamp(last, UTC))
    run_id, session_id, account_ids = start_trading_run(
        store, "simulation", specs, config, data_fingerprint=fingerprint(bars), data_range=data_range
    )
    increments = {product_id: product_bars.price_increment for product_id, product_bars in bars.items()}
    replay = CandleReplay(list(bars.values()), half_spread_bps=settings.half_spread_bps or DEFAULT_HALF_SPREAD_BPS)
    total = sum(len(product_bars) for product_bars in bars.values())
    broker = PaperBroker(grids, fill_model=BOOK if fill_model == "book" else TOUCH, stale_after=None)
    summary: EngineSummary | None = None
    status, error = RunStatus.FAILED, None
    try:
        with (
            StoreWriter(store, clock=lambda: datetime.fromtimestamp(replay.market_time, UTC)) as writer,
            progress_bar("rule stepper (compiled on first use, then loaded from cache)", min_total=1) as compiling,
            progress_bar("simulating", min_total=1) as progress,
        ):
            done = 0

            def observe(_product: str, _bar: int) -> None:
                nonlocal done
                done += 1
                if done % 2048 == 0 or done == total:
                    progress("", done, total)

            engine = Engine(
                specs,
                granularity=data.granularity,
                broker=broker,
                fill_model=fill_model,  # type: ignore[arg-type]
                writer=writer,
                session_id=session_id,
                account_ids=account_ids,
                tape=SignalTape.record(specs, bars, increments) if fill_model == "bar" else None,
                price_increments=increments,
                observer=observe,
                compile_progress=lambda done, total: compiling("", done, total),
            )
            summary = asyncio.run(engine.run(_paced(replay.events(), replay.clock, pace)))
        status = RunStatus.FINISHED
    except KeyboardInterrupt:
        status = RunStatus.INTERRUPTED
        raise
    except Exception as failure:
        error = str(failure)
        raise
    finally:
        finish_trading_run(store, run_id, session_id, summary, status=status, error=error)
    return summary, run_id, session_id


def _paced(
    events: AsyncIterator[MarketEvent], market_clock: Callable[[], float], pace: float | None
) -> AsyncIterator[MarketEvent]:
    """`events` as they come (`pace` None), or slowed so market time passes `pace` times faster than wall time."""
    return events if pace is None else _slowed(events, market_clock, pace)


async def _slowed(
    events: AsyncIterator[MarketEvent], market_clock: Callable[[], float], pace: float
) -> AsyncIterator[MarketEvent]:
    started_wall = wall_clock.monotonic()
    started_market: float | None = None
    async for event in events:
        now = market_clock()
        if started_market is None:
            started_market = now
        ahead = (now - started_market) / pace - (wall_clock.monotonic() - started_wall)
        if ahead > 0:
            await asyncio.sleep(ahead)
        yield event


def _row(status: InstanceStatus) -> dict[str, Any]:
    return {
        "strategy": status.strategy,
        "product_id": status.product_id,
        "params": status.params,
        "account": status.account,
        "trades": status.trades,
        "closed_trades": status.closed_trades,
        "final_equity": float(status.equity),
        "total_return": status.total_return,
        "fees": float(status.fees),
        "win_rate": status.win_rate,
        "max_drawdown": status.max_drawdown,
        "error": status.error,
    }


def _print_summary(summary: EngineSummary, run_id: int) -> None:
    from rich.table import Table

    from gpt_trader.cli.output import console

    table = Table(
        title=f"{len(summary.statuses)} accounts, {summary.instance_bars:,} instance-bars in {summary.seconds:.1f} s"
    )
    for column in (
        "strategy",
        "product",
        "params",
        "account",
        "return",
        "trades",
        "fees",
        "win rate",
        "max drawdown",
        "final equity",
    ):
        table.add_column(column, justify="left" if column in ("strategy", "product", "params", "account") else "right")
    for status in summary.statuses:
        params = ", ".join(f"{name}={value}" for name, value in status.params.items())
        win_rate = "-" if status.win_rate is None else f"{status.win_rate:.1%}"
        table.add_row(
            status.strategy,
            status.product_id,
            params,
            status.account,
            "failed" if status.error else f"{status.total_return:+.2%}",
            str(status.trades),
            f"{status.fees:,.2f}",
            win_rate,
            f"{status.max_drawdown:.2%}",
            f"{status.equity:,.2f}",
        )
    shown = console()
    shown.print(table)
    shown.print(f"{summary.orders:,} orders, {summary.fills:,} fills; recorded as run {run_id}.", markup=False)

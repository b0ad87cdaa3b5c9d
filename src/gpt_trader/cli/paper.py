"""`gpt-trader paper`: strategies paper-trading the live market, every one on one feed connection.

Two modes: `single` (the default) trades one strategy, the production-validation run; `parallel` trades
every strategy of `-s` at once, each instance (strategy × product × account) on its own paper account.
Orders never leave the process: the paper broker fills them against the feed's book.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from gpt_trader.errors import UserError

if TYPE_CHECKING:
    from gpt_trader.market.events import MarketEvent
    from gpt_trader.store import Store
    from gpt_trader.trading.engine import Engine, EngineSummary
    from gpt_trader.trading.instance import InstanceSpec
    from gpt_trader.trading.live import LiveFeed
    from gpt_trader.trading.orders import Order

log = logging.getLogger(__name__)

MODES = ("single", "parallel")
FILL_MODELS = ("touch", "book")
ON_STOP = ("close", "keep")
CLOSE_OUT_SECONDS = 10.0
"""How long `--on-stop close` follows the feed for the positions the book could not take at once."""


@dataclass(frozen=True)
class PaperPlan:
    """A paper run as the command line describes it, checked."""

    strategies: tuple[str, ...]
    products: tuple[str, ...]
    feed: str
    granularity: str
    duration: float | None
    capital: Decimal
    accounts_per_strategy: int
    fill_model: str
    on_stop: str
    params: tuple[str, ...]
    fill: str
    fee: float | None
    spread_bps: float
    slippage_bps: float
    stop_loss: float | None
    take_profit: float | None
    trailing_stop: float | None
    fraction: float
    bars: int | None = None
    """Stop once every product has closed this many bars (a fixed amount of work, as `speedtest` needs);
    None trades until the duration ends or a signal comes."""


def paper(
    strategies: Annotated[
        str,
        typer.Option(
            "--strategies", "--strategy", "-s", metavar="NAMES",
            help="Comma-separated strategy names (see `gpt-trader strategies`); one in --mode single.",
        ),
    ] = "momentum",
    mode: Annotated[
        str, typer.Option(metavar="MODE", help="single: one strategy; parallel: every strategy of -s at once.")
    ] = "single",
    symbols: Annotated[
        str, typer.Option("--symbols", "-p", metavar="PRODUCTS", help="Comma-separated products.")
    ] = "BTC-USD",
    duration: Annotated[
        float | None,
        typer.Option(metavar="SECONDS", help="Wall-clock seconds to trade.  [default: until Ctrl-C or SIGTERM]"),
    ] = None,
    feed: Annotated[
        str, typer.Option(metavar="FEED", help="coinbase, sandbox (the coinbase_ws_url setting) or ws://HOST:PORT/ws.")
    ] = "coinbase",
    granularity: Annotated[
        str, typer.Option("--granularity", "-g", metavar="SIZE", help="Bar size the strategies trade on.")
    ] = "1m",
    capital: Annotated[
        str, typer.Option(metavar="AMOUNT", help="Starting cash of each account, in the quote currency.")
    ] = "10000",
    accounts_per_strategy: Annotated[
        int, typer.Option(metavar="N", help="Accounts per strategy and product, each trading the same signals.")
    ] = 1,
    fill_model: Annotated[
        str, typer.Option(metavar="MODEL", help="touch: fill at the best bid/ask; book: walk the level-2 book.")
    ] = "book",
    on_stop: Annotated[
        str,
        typer.Option(metavar="ACTION", help=f"At the stop, close: flatten at the market (following the feed for up "
                     f"to {CLOSE_OUT_SECONDS:g} s for what the book cannot take at once); keep: leave positions."),
    ] = "close",
    fill: Annotated[
        str, typer.Option(metavar="RULE", help="next_open (at the next bar's first quote) or close.")
    ] = "next_open",
    fee: Annotated[
        float | None,
        typer.Option(metavar="RATE", help="Fee rate per fill.  [default: Coinbase's entry-tier maker/taker fees]"),
    ] = None,
    spread_bps: Annotated[float, typer.Option(metavar="BPS", help="Extra half-spread per fill, basis points.")] = 0.0,
    slippage_bps: Annotated[float, typer.Option(metavar="BPS", help="Extra slippage per fill, basis points.")] = 0.0,
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
    param: Annotated[
        list[str] | None,
        typer.Option(metavar="NAME=VALUE", help="name=10, or strategy.name=10 for one strategy. Repeatable."),
    ] = None,
    json_path: Annotated[
        Path | None, typer.Option("--json", metavar="PATH", help="Write one row per instance as JSON.")
    ] = None,
    csv_path: Annotated[
        Path | None, typer.Option("--csv", metavar="PATH", help="Write one row per instance as CSV.")
    ] = None,
) -> None:
    """Paper-trade strategies on the live market: one feed connection, a paper account per instance.

    Shows a live table per strategy, stops after --duration or at Ctrl-C / SIGTERM (flattening positions
    with --on-stop close), stores the run and prints a summary.
    """
    plan = check_plan(
        strategies=strategies, mode=mode, symbols=symbols, duration=duration, feed=feed, granularity=granularity,
        capital=capital, accounts_per_strategy=accounts_per_strategy, fill_model=fill_model, on_stop=on_stop,
        fill=fill, fee=fee, spread_bps=spread_bps, slippage_bps=slippage_bps, stop_loss=stop_loss,
        take_profit=take_profit, trailing_stop=trailing_stop, fraction=fraction, params=tuple(param or ()),
    )
    from gpt_trader.cli.export import check_writable

    for path, flag in ((json_path, "--json"), (csv_path, "--csv")):
        if path is not None:
            check_writable(path, flag)
    run_paper(plan, json_path=json_path, csv_path=csv_path)


def check_plan(
    *, strategies: str, mode: str, symbols: str, duration: float | None, feed: str, granularity: str, capital: str,
    accounts_per_strategy: int, fill_model: str, on_stop: str, fill: str, fee: float | None, spread_bps: float,
    slippage_bps: float, stop_loss: float | None, take_profit: float | None, trailing_stop: float | None,
    fraction: float, params: tuple[str, ...],
) -> PaperPlan:
    """Every flag checked before anything connects: UserError naming the flag and what it takes."""
    from gpt_trader.market.granularity import Granularity
    from gpt_trader.strategies.registry import get_strategy

    names = _split(strategies)
    if not names:
        raise UserError("--strategies is empty; name at least one, e.g. -s momentum")
    for name in names:
        get_strategy(name)
    _choice(mode, MODES, "--mode")
    if mode == "single" and len(names) > 1:
        raise UserError(f"--mode single trades one strategy, and -s names {len(names)}; add --mode parallel")
    products = tuple(product.upper() for product in _split(symbols))
    if not products:
        raise UserError("--symbols is empty; name at least one product, e.g. -p BTC-USD")
    if duration is not None and not duration > 0:
        raise UserError(f"--duration {duration:g}: give the seconds to trade, above 0, e.g. --duration 120")
    try:
        cash = Decimal(capital.strip())
    except InvalidOperation:
        raise UserError(f"--capital {capital!r} is not a number; give the starting cash, e.g. 10000") from None
    if not cash.is_finite() or cash <= 0:
        raise UserError(f"--capital {capital}: each account needs starting cash above 0, e.g. --capital 10000")
    if accounts_per_strategy < 1:
        raise UserError(f"--accounts-per-strategy {accounts_per_strategy}: give 1 or more")
    _choice(fill_model, FILL_MODELS, "--fill-model")
    _choice(on_stop, ON_STOP, "--on-stop")
    Granularity.parse(granularity)
    return PaperPlan(
        strategies=tuple(dict.fromkeys(names)), products=tuple(dict.fromkeys(products)), feed=feed,
        granularity=granularity, duration=duration, capital=cash, accounts_per_strategy=accounts_per_strategy,
        fill_model=fill_model, on_stop=on_stop, params=params, fill=fill, fee=fee, spread_bps=spread_bps,
        slippage_bps=slippage_bps, stop_loss=stop_loss, take_profit=take_profit, trailing_stop=trailing_stop,
        fraction=fraction,
    )


def _choice(value: str, choices: tuple[str, ...], flag: str) -> None:
    if value not in choices:
        raise UserError(f"{flag} {value!r}: choose one of {', '.join(choices)}")


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def instance_specs(plan: PaperPlan) -> list[InstanceSpec]:
    """Every strategy × product × account of `plan`, each with its own account name; parameters checked."""
    from gpt_trader.backtest.settings import SimulationSettings
    from gpt_trader.cli.backtest import _param_specs
    from gpt_trader.strategies.registry import get_strategy
    from gpt_trader.trading.instance import InstanceSpec, resolve_strategy

    strategies = [get_strategy(name) for name in plan.strategies]
    params = _param_specs(list(plan.params), strategies)
    for strategy_params in params.values():
        for name, value in strategy_params.items():
            if "," in value or ":" in value:
                raise UserError(f"--param {name}={value}: paper trading takes one value per parameter, e.g. {name}=10")
    try:
        settings = SimulationSettings(
            fill=plan.fill,  # type: ignore[arg-type]  # checked by SimulationSettings
            half_spread_bps=plan.spread_bps, slippage_bps=plan.slippage_bps, stop_loss=plan.stop_loss,
            take_profit=plan.take_profit, trailing_stop=plan.trailing_stop, fraction=plan.fraction,
        )
        if plan.fee is not None:
            settings = replace(settings, fee_rate=plan.fee)
    except ValueError as error:
        raise UserError(str(error)) from None
    specs = []
    for strategy in strategies:
        for product_id in plan.products:
            for number in range(1, plan.accounts_per_strategy + 1):
                account = f"{strategy.name}:{product_id}:{number}"
                spec = InstanceSpec(strategy.name, params.get(strategy.name, {}), product_id, account, plan.capital,
                                    settings)
                resolve_strategy(spec)
                specs.append(spec)
    return specs


def run_paper(plan: PaperPlan, *, json_path: Path | None = None, csv_path: Path | None = None) -> int:
    """Trade `plan` until its duration ends or Ctrl-C / SIGTERM; print the summary; returns the run id."""
    from gpt_trader.cli.live_table import instance_rows, summary_table
    from gpt_trader.cli.output import console
    from gpt_trader.config import load_settings

    settings = load_settings()
    specs = instance_specs(plan)
    summary, run_id = asyncio.run(_trade(plan, specs, settings))
    out = console()
    out.print(summary_table(summary.statuses))
    out.print(f"Recorded as run {run_id} in {_where(settings.database)}.", markup=False, soft_wrap=True)
    rows = instance_rows(summary.statuses)
    if json_path is not None:
        import json

        json_path.write_text(json.dumps({"run_id": run_id, "instances": rows}, indent=2) + "\n")
    if csv_path is not None:
        import csv

        with csv_path.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows({**row, "params": _params_text(row["params"])} for row in rows)
    return run_id


async def _trade(plan: PaperPlan, specs: list[InstanceSpec], settings: Any) -> tuple[EngineSummary, int]:
    from gpt_trader.store import open_store
    from gpt_trader.store.schema import RunStatus
    from gpt_trader.store.writer import StoreWriter
    from gpt_trader.trading.broker import PaperBroker
    from gpt_trader.trading.engine import Engine
    from gpt_trader.trading.fills import FILL_MODELS
    from gpt_trader.trading.live import LiveFeed, feed_endpoints, fetch_venue_grids, freeze_warm_up
    from gpt_trader.trading.run import finish_trading_run, start_trading_run

    endpoints = feed_endpoints(plan.feed, settings)
    grids = await fetch_venue_grids(endpoints, plan.products)
    live = LiveFeed(endpoints, plan.products, plan.granularity, settings=settings)
    _compile_stepper()
    with open_store(settings.database) as store:
        run_id, session_id, account_ids = start_trading_run(
            store, "paper", specs, _config(plan, endpoints.name), name=f"paper: {', '.join(plan.strategies)}"
        )
        writer = StoreWriter(store)
        try:
            # A book goes stale after half a minute without an update, in wall time even on a fast sandbox
            # (once the feed knows how fast the sandbox's clock runs).
            broker = PaperBroker(grids, fill_model=FILL_MODELS[plan.fill_model], stale_after=live.venue_seconds(30.0))
            live.on_clock_measured(lambda: setattr(broker, "stale_after", live.venue_seconds(30.0)))
            engine = Engine(specs, granularity=plan.granularity, broker=broker, fill_model=plan.fill_model,  # type: ignore[arg-type]
                            writer=writer, session_id=session_id, account_ids=account_ids)
            # Everything slow comes before the feed opens (the stepper's compile, the history, the first
            # signals), so that no message read waits for it.
            await _warm_up(engine, live, store)
            freeze_warm_up()
            await live.open()
            summary = await _run(engine, live, plan)
        except BaseException as error:
            writer.close()
            await live.close()
            finish_trading_run(store, run_id, session_id, None, status=RunStatus.FAILED, error=str(error) or
                               type(error).__name__)
            raise
        await live.close()
        writer.close()
        finish_trading_run(store, run_id, session_id, summary, feed=live.statistics())
    return summary, run_id


def _compile_stepper() -> None:
    from gpt_trader.cli.output import progress_bar
    from gpt_trader.trading.stepper import compile_stepper

    with progress_bar("rule stepper (compiled on first use, then loaded from cache)", min_total=1) as compiling:
        compile_stepper(lambda done, total: compiling("", done, total))


async def _warm_up(engine: Engine, live: LiveFeed, store: Store) -> None:
    """History before the first live bar, as many bars as the longest lookback of each product's instances."""
    wanted: dict[str, int] = {}
    for instance in engine.instances:
        product_id = instance.spec.product_id
        wanted[product_id] = max(wanted.get(product_id, 0), instance.lookback)
    engine.warm_up(await live.history(wanted))


async def _run(engine: Engine, live: LiveFeed, plan: PaperPlan) -> EngineSummary:
    """The engine on the live feed until the duration ends or a signal comes; then the stop action."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(number, stop.set)
    timer = loop.call_later(plan.duration, stop.set) if plan.duration is not None else None
    started = time.monotonic()
    display = asyncio.create_task(_show(engine, live, stop, started, plan.duration))
    reading = Reading(live.events())
    events = reading.until(stop)
    if plan.bars is not None:
        events = _bar_quota(events, plan.products, plan.bars, stop)
    try:
        summary = await engine.run(events, stop)
        if plan.on_stop == "close":
            left = unclosed(await _close_out(engine, reading))
            if left:
                log.warning("--on-stop close left %d position(s) open, their state stored: %s", len(left),
                            "; ".join(left))  # fmt: skip
            summary = engine.summary(summary.seconds)
    finally:
        for number in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(number)
        if timer is not None:
            timer.cancel()
        stop.set()
        await display
        reading.close()
    return summary


async def _close_out(engine: Engine, reading: Reading) -> list[Order]:
    """Close every position, following the feed for up to `CLOSE_OUT_SECONDS` for those the book cannot take
    at once (another Ctrl-C leaves them open); the orders of the positions left open."""
    from gpt_trader.trading.close_out import close_out

    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    for number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(number, done.set)
    timer = loop.call_later(CLOSE_OUT_SECONDS, done.set)

    def waiting(count: int) -> None:
        typer.echo(f"{count} position(s) wait for the book to take what it could not at once; following the feed "
                   f"for up to {CLOSE_OUT_SECONDS:g} s (Ctrl-C again leaves them open)", err=True)  # fmt: skip

    try:
        return await close_out(engine, reading.until(done), on_wait=waiting)
    finally:
        timer.cancel()


def unclosed(orders: list[Order]) -> list[str]:
    """For each stop order that did not close its whole position: the account, what is left and why."""
    from gpt_trader.trading.orders import OrderStatus

    left = []
    for order in orders:
        if order.status is OrderStatus.FILLED:
            continue
        request = order.request
        why = order.rejection.message if order.rejection is not None else order.cancel_message or order.status.value
        left.append(f"{request.account_id} on {request.product_id}, {order.remaining_size} left ({why})")
    return left


class Reading:
    """The feed's events, read in turns: `until(stop)` yields them until `stop` is set, even while the feed is
    silent, and leaves a read under way to the next turn (the close-out after the stop reads on)."""

    def __init__(self, events: AsyncIterator[MarketEvent]) -> None:
        self._events = events
        self._next: asyncio.Future[MarketEvent] | None = None

    async def until(self, stop: asyncio.Event) -> AsyncIterator[MarketEvent]:
        stopping = asyncio.ensure_future(stop.wait())
        try:
            while not stop.is_set():
                following = self._next
                if following is None:
                    following = self._next = asyncio.ensure_future(anext(self._events))
                await asyncio.wait((following, stopping), return_when=asyncio.FIRST_COMPLETED)
                if not following.done():
                    return
                self._next = None
                try:
                    event = following.result()
                except StopAsyncIteration:
                    return
                yield event
        finally:
            stopping.cancel()

    def close(self) -> None:
        """Stop the read under way, if any."""
        if self._next is not None:
            self._next.cancel()
            self._next = None


async def _bar_quota(
    events: AsyncIterator[MarketEvent], products: tuple[str, ...], bars: int, stop: asyncio.Event
) -> AsyncIterator[MarketEvent]:
    """`events`, setting `stop` (as the end of the duration does) once every product has closed `bars` bars."""
    from gpt_trader.market.events import BarClosed

    closed = dict.fromkeys(products, 0)
    async for event in events:
        yield event
        if isinstance(event, BarClosed) and event.product_id in closed:
            closed[event.product_id] += 1
            if min(closed.values()) >= bars:
                stop.set()


async def _show(engine: Engine, live: LiveFeed, stop: asyncio.Event, started: float, duration: float | None) -> None:
    """The live tables, redrawn about once a second on a terminal (a log or pipe gets the summary only)."""
    from rich.live import Live

    from gpt_trader.cli.live_table import live_tables
    from gpt_trader.cli.output import console

    screen = console()
    if not screen.is_terminal:
        await stop.wait()
        return

    def frame() -> Any:
        elapsed = time.monotonic() - started
        left = None if duration is None else duration - elapsed
        return live_tables(engine.status(), _health(engine, live), elapsed, left)

    with Live(frame(), console=screen, auto_refresh=False, transient=True) as shown:
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), 1.0)
            except TimeoutError:
                shown.update(frame(), refresh=True)


def _health(engine: Engine, live: LiveFeed) -> str:
    latest = ", ".join(f"{health.kind.value}" for health in engine.feed_health.values()) or "waiting"
    counted = live.health_counts
    losses = sum(counted.get(kind, 0) for kind in ("gap", "disconnected", "stale"))
    return f"{latest}; {live.events_seen:,} events, {live.bars_closed} bars, {losses} losses"


def _config(plan: PaperPlan, feed: str) -> dict[str, Any]:
    config = asdict(plan)
    config["capital"] = str(plan.capital)
    config["feed"] = feed
    return config


def _where(database: str) -> str:
    """The database as it may be shown: a password in its URL is hidden."""
    from sqlalchemy.engine import make_url

    return make_url(database).render_as_string(hide_password=True)


def _params_text(params: dict[str, Any]) -> str:
    return ";".join(f"{name}={value}" for name, value in params.items())

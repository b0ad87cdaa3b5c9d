"""How fast the paper broker reads book events and fills market orders, on one core.

    python -m bench.paper_broker [--accounts N] [--events N] [--orders N] [--json out.json]

A synthetic BTC-USD book of 50 levels a side (Decimal prices on the 0.01 grid) receives `--events` level
updates, one trade every tenth, while `--accounts` accounts each keep one resting limit buy below the market
and one sell stop waiting. Then `--orders` market buys of three times the top size, spread over the
accounts, walk the book; after each, an update shows the levels it took again (inside the timing).

Figures: events and market orders per second, each the median of 3 timed runs after a warm-up; and from
one more pass, each event timed alone, its p50, p99 and maximum (on a shared machine the maximum is mostly
the scheduler's doing).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

from gpt_trader.market.events import BookLevel, BookUpdate, MarketEvent, Side, Trade
from gpt_trader.trading.broker import PaperBroker
from gpt_trader.trading.money import ProductIncrements
from gpt_trader.trading.orders import OrderRequest

PRODUCT = "BTC-USD"
GRID = ProductIncrements(
    PRODUCT, Decimal("0.00000001"), Decimal("0.01"), Decimal("0.01"), Decimal("0.00000001"), Decimal("3400"),
    Decimal("1"), Decimal("150000000"),
)  # fmt: skip
MID_CENTS = 6_500_000
LEVELS = 50
RUNS = 3


def snapshot(time_s: float) -> BookUpdate:
    bids = tuple(BookLevel(Decimal(MID_CENTS - 1 - i) / 100, Decimal("0.5")) for i in range(LEVELS))
    asks = tuple(BookLevel(Decimal(MID_CENTS + i) / 100, Decimal("0.5")) for i in range(LEVELS))
    return BookUpdate(PRODUCT, time_s, bids, asks, snapshot=True)


def feed(count: int, seed: int = 7) -> list[MarketEvent]:
    """Level changes a few ticks off the touch (never crossing it), and a trade every tenth event."""
    rng = random.Random(seed)
    events: list[MarketEvent] = []
    for number in range(count):
        at = number * 0.001
        if number % 10 == 9:
            events.append(
                Trade(PRODUCT, at, Decimal(MID_CENTS - 1 - rng.randrange(3)) / 100, Decimal("0.01"), Side.SELL)
            )
            continue
        size = Decimal(rng.randrange(1, 200)) / 100
        offset = rng.randrange(1, LEVELS)
        level = (BookLevel(Decimal(MID_CENTS - 1 - offset) / 100, size),)
        bid = rng.random() < 0.5
        events.append(BookUpdate(PRODUCT, at, level if bid else (), () if bid else (
            BookLevel(Decimal(MID_CENTS + offset) / 100, size),)))  # fmt: skip
    return events


def broker(accounts: int) -> PaperBroker:
    paper = PaperBroker({PRODUCT: GRID}, stale_after=None)
    paper.on_event(snapshot(0.0))
    for number in range(accounts):
        name = f"acct-{number}"
        paper.open_account(name, Decimal(1_000_000))
        below = Decimal(MID_CENTS - 20 - number % 20) / 100
        paper.submit(OrderRequest.limit(name, PRODUCT, Side.BUY, Decimal("0.001"), below), 0.0)
        paper.submit(OrderRequest.stop(name, PRODUCT, Side.SELL, Decimal("0.001"), below - 100), 0.0)
    return paper


def timed(prepare: Callable[[], PaperBroker], run: Callable[[PaperBroker], int]) -> float:
    """Items per second: the median of `RUNS` timed runs after a warm-up, each on a fresh broker (not timed)."""
    run(prepare())
    rates = []
    for _ in range(RUNS):
        paper = prepare()
        started = time.perf_counter()
        items = run(paper)
        rates.append(items / (time.perf_counter() - started))
    return statistics.median(rates)


def event_latencies_us(paper: PaperBroker, events: list[MarketEvent]) -> list[float]:
    """How long each event took, in microseconds, sorted."""
    took = []
    for event in events:
        started = time.perf_counter_ns()
        paper.on_event(event)
        took.append((time.perf_counter_ns() - started) / 1000)
    return sorted(took)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.paper_broker", description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=500, help="accounts, each with a resting limit and a stop")
    parser.add_argument("--events", type=int, default=20_000, help="book events per timed run")
    parser.add_argument("--orders", type=int, default=2_000, help="market orders per timed run")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    if min(args.accounts, args.events, args.orders) < 1:
        parser.error("--accounts, --events and --orders must each be at least 1")
    events = feed(args.events)

    def prepare() -> PaperBroker:
        return broker(args.accounts)

    def read_events(paper: PaperBroker) -> int:
        for event in events:
            paper.on_event(event)
        return len(events)

    # The book shows its best asks again after each order, so every order walks the same three levels.
    refill = BookUpdate(
        PRODUCT, 0.0, (), tuple(BookLevel(Decimal(MID_CENTS + i) / 100, Decimal("0.5")) for i in range(3))
    )

    def place_orders(paper: PaperBroker) -> int:
        for number in range(args.orders):
            paper.on_event(refill)
            request = OrderRequest.market(f"acct-{number % args.accounts}", PRODUCT, Side.BUY, base_size=Decimal("1.5"))
            paper.submit(request, number * 0.001)
        return args.orders

    latencies = event_latencies_us(prepare(), events)
    results = {
        "accounts": args.accounts,
        "book_levels_per_side": LEVELS,
        "events_per_s": round(timed(prepare, read_events)),
        "event_p50_us": round(latencies[len(latencies) // 2], 1),
        "event_p99_us": round(latencies[int(len(latencies) * 0.99)], 1),
        "event_max_us": round(latencies[-1], 1),
        "market_orders_per_s": round(timed(prepare, place_orders)),
    }
    print(f"paper broker, {args.accounts} accounts with a resting limit and a stop each, {LEVELS} levels a side:")
    print(f"  book events  {results['events_per_s']:>10,} per second")
    print(
        f"  per event    p50 {results['event_p50_us']} us, p99 {results['event_p99_us']} us, "
        f"max {results['event_max_us']} us"
    )
    print(f"  market buys  {results['market_orders_per_s']:>10,} per second (3x the top size, walking 3 levels)")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()

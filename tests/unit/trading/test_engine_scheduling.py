"""How the engine schedules its work: a closed bar with many decisions, or a slow strategy, does not hold up
the quotes of other instances, and every message read is decided. Orderings and counts, never wall-clock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

from gpt_trader.market.buffer import BarBuffer
from gpt_trader.market.events import BarClosed, MarketEvent, Quote
from gpt_trader.trading.engine import Engine, EngineSummary
from gpt_trader.trading.instance import InstanceSpec
from tests.support.scheduled_engine import START, bar, engine_of, module_of, quote, spec, strategies


class Script:
    """An in-process feed of bursts of events: the engine may work between two bursts (and between two
    events when it yields to its worker itself). Counts what it handed out per product."""

    def __init__(self, bursts: list[list[MarketEvent]]) -> None:
        self.bursts = bursts
        self.events = [event for burst in bursts for event in burst]
        self.read: dict[str, int] = {"BTC-USD": 0, "ETH-USD": 0}

    async def stream(self) -> AsyncIterator[MarketEvent]:
        for burst in self.bursts:
            await asyncio.sleep(0)
            for event in burst:
                self.read[event.product_id] += 1  # type: ignore[union-attr]
                yield event


def assert_all_decided(summary: EngineSummary, script: Script) -> None:
    bars = sum(isinstance(event, BarClosed) for event in script.events)
    quotes = sum(isinstance(event, Quote) for event in script.events)
    assert summary.messages == len(script.events)
    bar_latency, quote_latency = summary.latency["bar"], summary.latency["quote"]
    assert bar_latency is not None and bar_latency.count == bars
    assert quote_latency is not None and quote_latency.count == quotes


def test_quotes_read_after_a_bar_with_many_fills_do_not_wait_for_its_bookings(tmp_path: Path) -> None:
    path = strategies(tmp_path)
    many = [spec(f"{path}:AlwaysLong", "BTC-USD", f"btc-{n}") for n in range(40)]
    decided_elsewhere: list[int] = []
    engine: Engine

    def observe(product_id: str, index: int) -> None:
        if product_id == "BTC-USD":
            decided_elsewhere.append(engine.decided["ETH-USD"])

    engine = engine_of([*many, spec(f"{path}:AlwaysLong", "ETH-USD", "eth")], observe)
    after_bar = [quote("ETH-USD", START + 61 + n) for n in range(3)]
    script = Script([[event] for event in [quote("BTC-USD", START + 1), quote("ETH-USD", START + 1),
                                           bar("BTC-USD", 0), *after_bar]])  # fmt: skip
    summary = asyncio.run(engine.run(script.stream()))
    assert summary.fills == 40, "every BTC instance entered at the bar's close"
    assert decided_elsewhere == [4], "the ETH quotes read after the BTC bar were decided before its 40 fills were"
    assert engine.decided == {"BTC-USD": 2, "ETH-USD": 4}
    assert_all_decided(summary, script)


def bars_closing_together(specs: list[InstanceSpec]) -> tuple[EngineSummary, dict[str, int]]:
    """The engine's run on a quote of each product, then the first bars of BTC and ETH in one burst; with
    the fills booked so far as each product's bar was decided."""
    fills_when_decided: dict[str, int] = {}
    engine: Engine

    def observe(product_id: str, index: int) -> None:
        fills_when_decided[product_id] = engine.booker.fills

    engine = engine_of(specs, observe)
    quotes = [quote("BTC-USD", START + 1), quote("ETH-USD", START + 1)]
    script = Script([quotes, [bar("BTC-USD", 0), bar("ETH-USD", 0)]])
    summary = asyncio.run(engine.run(script.stream()))
    assert_all_decided(summary, script)
    return summary, fills_when_decided


def test_bars_of_two_products_with_many_fills_are_booked_one_product_after_the_other(tmp_path: Path) -> None:
    """Taking turns run by run would finish both bars together, each as late as the later: one product's bar
    is booked to its end first, so its quotes wait for its own bookings only."""
    path = strategies(tmp_path)
    specs = [spec(f"{path}:AlwaysLong", product_id, f"{product_id}-{n}")
             for product_id in ("BTC-USD", "ETH-USD") for n in range(40)]  # fmt: skip
    summary, fills_when_decided = bars_closing_together(specs)
    assert summary.fills == 80, "every instance entered at its bar's close"
    assert fills_when_decided == {"BTC-USD": 40, "ETH-USD": 80}, "BTC's bar was decided before ETH's bookings began"


def test_a_bar_with_nothing_to_book_is_decided_before_the_bookings_of_a_bar_that_closed_with_it(
    tmp_path: Path,
) -> None:
    """When the bars of several products close together, every evaluation goes before the bookings: a product
    whose instances trade nothing on its bar does not wait for another product's fills."""
    path = strategies(tmp_path)
    specs = [*(spec(f"{path}:AlwaysLong", "BTC-USD", f"btc-{n}") for n in range(40)),
             spec(f"{path}:Flat", "ETH-USD", "eth")]  # fmt: skip
    summary, fills_when_decided = bars_closing_together(specs)
    assert summary.fills == 40, "every BTC instance entered at its bar's close"
    assert fills_when_decided == {"ETH-USD": 0, "BTC-USD": 40}, "ETH's bar was decided before BTC's bookings began"


def test_a_slow_strategy_never_holds_up_a_quote_of_another_instance(tmp_path: Path) -> None:
    path = strategies(tmp_path)
    engine = engine_of([spec(f"{path}:Slow", "BTC-USD", "slow"), spec(f"{path}:AlwaysLong", "BTC-USD", "fast"),
                        spec(f"{path}:AlwaysLong", "ETH-USD", "other")])  # fmt: skip
    bursts: list[list[MarketEvent]] = [[quote("BTC-USD", START), quote("ETH-USD", START)]]
    for n in range(5):
        later = [quote(product_id, START + 60 * n + 61 + k) for k in range(3) for product_id in ("ETH-USD", "BTC-USD")]
        bursts.append([bar("BTC-USD", n), *later])
    script = Script(bursts)
    module = module_of(engine, "slow")
    module.PROBE = lambda: (engine.decided["ETH-USD"], script.read["ETH-USD"])
    summary = asyncio.run(engine.run(script.stream()))
    assert len(module.SEEN) == 5, "the slow strategy was evaluated on every BTC bar"
    assert module.SEEN[-1][1] > module.SEEN[0][1], "quotes kept coming in while it was busy"
    for decided, read in module.SEEN:
        assert decided == read, "every ETH quote read before an evaluation of the slow strategy was decided before it"
    statuses = {status.account: status for status in summary.statuses}
    assert statuses["fast"].trades == 1 and statuses["slow"].trades == statuses["other"].trades == 0
    assert_all_decided(summary, script)


def test_warm_up_gives_each_instance_its_signal_at_the_end_of_the_history(tmp_path: Path) -> None:
    path = strategies(tmp_path)
    engine = engine_of([spec(f"{path}:AlwaysLong", "BTC-USD", "long"), spec(f"{path}:Broken", "BTC-USD", "broken")])
    history = BarBuffer("BTC-USD", "1m")
    for n in range(3):
        history.append(bar("BTC-USD", n))
    engine.warm_up({"BTC-USD": history.view()})
    long, broken = engine.instances
    assert long.last_signal == 1 and long.running
    assert broken.error is not None and "RuntimeError: no signal today" in broken.error
    summary = asyncio.run(engine.run(Script([[quote("BTC-USD", START + 181)], [bar("BTC-USD", 3)]]).stream()))
    assert summary.instance_bars == 1, "only the instance that computed its signal trades the feed's bars"

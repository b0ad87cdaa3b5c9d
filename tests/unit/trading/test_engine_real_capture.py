"""The real Advanced Trade WebSocket capture replayed through the engine and the paper broker, end to end:
every event read, no warning, no book ever crossed, and orders filled against the recorded book."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from gpt_trader.backtest.settings import SimulationSettings
from gpt_trader.coinbase.replay import CaptureReplay
from gpt_trader.market.aggregate import BarAggregator
from gpt_trader.market.bars import Bars
from gpt_trader.market.events import BarClosed, MarketEvent
from gpt_trader.market.granularity import Granularity
from gpt_trader.trading.broker import PaperBroker
from gpt_trader.trading.engine import Engine
from gpt_trader.trading.fills import BOOK
from gpt_trader.trading.grids import catalog_grids
from gpt_trader.trading.instance import InstanceSpec

CAPTURE = "data/real/coinbase_advtrade_ws_BTC-ETH_2026-08-09.jsonl.gz"
PRODUCTS = ("BTC-USD", "ETH-USD")
MINUTE_OF_THE_CAPTURE = 1_786_309_500
"""21:05:00 UTC: the capture (21:05:48 to 21:06:12) opens with a trades snapshot reaching back before it, so
the trades of this minute are complete and its bar closes during the replay."""
BUILTINS = {"breakout": {"window": 5}, "momentum": {"lookback": 3, "threshold": 0.0005}}
TIGHT = SimulationSettings(fill="close", fee_rate=0.006, stop_loss=5e-5, take_profit=5e-5, trailing_stop=3e-5)
"""Levels a few dollars from the entry: the capture's last nine seconds after the bar closes move that much."""


def flat_history(product_id: str, price: float, count: int = 30) -> Bars:
    """Still minutes before the capture, 2 % under its prices: the capture's first bar is a breakout and a
    jump, so both built-ins enter on it and the stops then work on the recorded quotes."""
    time = MINUTE_OF_THE_CAPTURE - 60 * np.arange(count, 0, -1)
    prices = np.full(count, round(price * 0.98, 2))
    return Bars(product_id, Granularity.ONE_MINUTE, time, prices, prices, prices, prices, np.ones(count),
                price_increment=0.01)  # fmt: skip


async def checked(events: AsyncIterator[MarketEvent], broker: PaperBroker, seen: list[MarketEvent],
                  crossed: list[str]) -> AsyncIterator[MarketEvent]:  # fmt: skip
    """The replay's events, each book checked after the engine has read the one before."""
    async for event in events:
        crossed.extend(f"{product_id} after event {len(seen)}" for product_id, book in broker.books.items()
                       if book.crossed)  # fmt: skip
        seen.append(event)
        yield event
    crossed.extend(f"{product_id} at the end" for product_id, book in broker.books.items() if book.crossed)


@pytest.mark.filterwarnings("error")
def test_the_real_capture_trades_through_the_engine_without_a_warning_on_a_book_never_crossed(
    shared_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    replay = CaptureReplay(shared_dir / CAPTURE)
    first_trades = {"BTC-USD": 65_090.99, "ETH-USD": 1_919.62}  # the capture's first trade of each product
    specs = [InstanceSpec(name, params, product_id, f"{name}-{product_id}", Decimal(20_000), TIGHT)
             for name, params in BUILTINS.items() for product_id in PRODUCTS]  # fmt: skip
    broker = PaperBroker(catalog_grids(PRODUCTS), fill_model=BOOK, stale_after=30.0)
    engine = Engine(specs, granularity="1m", broker=broker, fill_model="book")
    engine.warm_up({product_id: flat_history(product_id, price) for product_id, price in first_trades.items()})
    bars = BarAggregator("1m", products=PRODUCTS, clock=replay.clock, since=MINUTE_OF_THE_CAPTURE)
    seen: list[MarketEvent] = []
    crossed: list[str] = []
    with caplog.at_level(logging.WARNING):
        summary = asyncio.run(engine.run(checked(replay.events(bars), broker, seen, crossed)))
    assert [record.getMessage() for record in caplog.records if record.levelno >= logging.WARNING] == []
    assert crossed == []
    assert summary.messages == len(seen) > 1_200, "the engine read every event of the capture"
    assert replay.duplicates == 0 and replay.parser.counts["malformed"] == 0
    closed = [event for event in seen if isinstance(event, BarClosed)]
    assert sorted(event.product_id for event in closed) == sorted(PRODUCTS)
    assert summary.bars == 2 and summary.rejected_orders == 0
    orders = list(broker.orders.values())
    assert {order.request.account_id for order in orders} == {spec.account for spec in specs}, "every one entered"
    exits = {order.request.reason for order in orders} - {"signal"}
    assert exits, "the stops worked on the recorded quotes"
    for order in orders:
        for fill in order.fills:
            assert fill.quote is not None and fill.quote.bid < fill.quote.ask
    for status in summary.statuses:
        assert status.error is None and status.trades >= 1

"""An engine of paper instances on two products, the strategy file its tests load, and the quotes and bars
they feed it: shared by the engine's scheduling and read-moment tests."""

from __future__ import annotations

import sys
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from types import ModuleType

from gpt_trader.backtest.settings import SimulationSettings
from gpt_trader.market.events import BarClosed, Quote
from gpt_trader.trading.broker import PaperBroker
from gpt_trader.trading.engine import Engine
from gpt_trader.trading.fills import TOUCH
from gpt_trader.trading.grids import catalog_grids
from gpt_trader.trading.instance import InstanceSpec

START = 1_700_000_040
STRATEGIES = """\
import time

import numpy as np

from gpt_trader.strategies import Strategy

PROBE = None
SEEN = []
'''What PROBE returned as each evaluation of the slow strategy began.'''


class AlwaysLong(Strategy):
    name = "always_long"

    def lookback(self, params):
        return 2

    def signals(self, bars, params, cache=None):
        return np.ones(len(bars), dtype=np.int8)


class Flat(Strategy):
    name = "flat"

    def lookback(self, params):
        return 2

    def signals(self, bars, params, cache=None):
        return np.zeros(len(bars), dtype=np.int8)


class Broken(Strategy):
    name = "broken"

    def lookback(self, params):
        return 2

    def signals(self, bars, params, cache=None):
        raise RuntimeError("no signal today")


class Slow(Strategy):
    name = "slow"

    def lookback(self, params):
        return 2

    def signals(self, bars, params, cache=None):
        if PROBE is not None:
            SEEN.append(PROBE())
        time.sleep(0.02)  # an expensive strategy: the whole engine shares one thread
        return np.zeros(len(bars), dtype=np.int8)
"""


def quote(product_id: str, time: float) -> Quote:
    price = Decimal(30_000 if product_id == "BTC-USD" else 2_000)
    return Quote(product_id, time, price, price + 1, Decimal(50), Decimal(50))


def bar(product_id: str, n: int) -> BarClosed:
    price = 30_000.5 if product_id == "BTC-USD" else 2_000.5
    return BarClosed(product_id, 60, START + 60 * n, price, price + 2, price - 2, price, 1.0)


def strategies(tmp_path: Path) -> Path:
    path = tmp_path / "scheduled.py"
    path.write_text(STRATEGIES)
    return path


def spec(strategy: str, product_id: str, account: str) -> InstanceSpec:
    """Half the cash per entry: the rules size at the bar close, the touch model buys at the ask above it."""
    return InstanceSpec(
        strategy, {}, product_id, account, Decimal(1000), SimulationSettings(fill="close", fraction=0.5)
    )


def engine_of(specs: list[InstanceSpec], observer: Callable[[str, int], None] | None = None) -> Engine:
    broker = PaperBroker(catalog_grids(["BTC-USD", "ETH-USD"]), fill_model=TOUCH, stale_after=None)
    # A time slice of 0: the worker hands back to the reader after every step, so the test is deterministic.
    return Engine(specs, granularity="1m", broker=broker, fill_model="touch", observer=observer, slice_seconds=0)


def module_of(engine: Engine, account: str) -> ModuleType:
    instance = next(instance for instance in engine.instances if instance.spec.account == account)
    return sys.modules[type(instance.strategy).__module__]

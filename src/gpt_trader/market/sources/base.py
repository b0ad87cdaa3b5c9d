"""The contract every candle source follows: Coinbase REST, files, the synthetic market."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from gpt_trader.market.bars import Bars
from gpt_trader.market.granularity import Granularity

Progress = Callable[[int, int], None]
"""Called as progress(done, total) while a long fetch runs (units are the source's: bars or requests)."""


class Source(Protocol):
    """Where candles come from. Sources do not cache; `market.cache.CandleCache` wraps any of them."""

    name: str
    """Short name used in cache paths and the store, e.g. `coinbase`, `synthetic`, `file`."""

    def fetch(
        self,
        product_id: str,
        granularity: Granularity,
        start: int,
        end: int,
        progress: Progress | None = None,
    ) -> Bars:
        """Bars whose open time lies in [start, end) (Unix seconds), oldest first; gaps stay gaps."""
        ...

    def products(self) -> list[str]:
        """Product ids this source can serve (may be a fixed list or a network call)."""
        ...

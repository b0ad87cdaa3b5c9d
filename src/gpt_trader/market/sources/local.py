"""The `local` source: candles stored with `gpt-trader data import`, read back from the cache."""

from __future__ import annotations

from gpt_trader.errors import DataError
from gpt_trader.market.bars import Bars
from gpt_trader.market.cache import LOCAL_SOURCE, CandleCache
from gpt_trader.market.granularity import Granularity
from gpt_trader.market.sources.base import Progress


class LocalSource:
    """Candles stored with `gpt-trader data import`, served from the cache as stored: never refreshed."""

    name = LOCAL_SOURCE

    def __init__(self, cache: CandleCache) -> None:
        self.cache = cache

    def fetch(
        self,
        product_id: str,
        granularity: Granularity,
        start: int,
        end: int,
        progress: Progress | None = None,
    ) -> Bars:
        stored = self.cache.read(self.name, product_id, granularity)
        if stored is None:
            available = ", ".join(g.short for g in self.granularities(product_id)) or "none"
            raise DataError(
                f"no imported {product_id} candles at {granularity.short} (stored: {available}); "
                "import a file with `gpt-trader data import PATH`"
            )
        return stored.bars.slice(start, end)

    def products(self) -> list[str]:
        return sorted({entry.product_id for entry in self.cache.entries(source=self.name)})

    def granularities(self, product_id: str) -> list[Granularity]:
        """The granularities imported for `product_id`, finest first."""
        return self.cache.granularities(self.name, product_id)

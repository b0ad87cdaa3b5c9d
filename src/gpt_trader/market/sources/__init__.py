"""Candle sources, and `open_source` to pick one by the spec a user types (`--source`).

| spec | source |
|---|---|
| `coinbase` | Coinbase Advanced Trade public candles (`CoinbaseSource`) |
| `synthetic`, `synthetic:SEED` | the seeded synthetic market (`SyntheticSource`, seed 7 by default) |
| `file:PATH`, `file:PATH:PRODUCT` | a CSV or Parquet file, read directly (`FileSource`); PRODUCT names its product |
| `local` | what `gpt-trader data import` stored in the cache (`sources.local.LocalSource`), never refreshed |
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from gpt_trader.errors import UserError
from gpt_trader.market.sources.base import Progress, Source

if TYPE_CHECKING:
    from gpt_trader.config import Settings
    from gpt_trader.market.sources.coinbase import CoinbaseSource
    from gpt_trader.market.sources.file import FileSource
    from gpt_trader.market.sources.synthetic import SyntheticSource

__all__ = [
    "SPEC_FORMS",
    "CoinbaseSource",
    "FileSource",
    "Progress",
    "Source",
    "SyntheticSource",
    "open_source",
]

SPEC_FORMS = "coinbase, synthetic, synthetic:SEED, file:PATH, local"
# The sources bring httpx, pandas and Numba with them: each is imported on first use, so that code
# needing only the `Source` protocol (the cache, `data list`) starts fast.
_LAZY_MODULES = {"CoinbaseSource": "coinbase", "FileSource": "file", "SyntheticSource": "synthetic"}


def __getattr__(name: str) -> object:
    module = _LAZY_MODULES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


def open_source(spec: str, settings: Settings | None = None) -> Source:
    """The source a spec names (see the module table); a UserError lists the valid forms.

    `settings` (default: `load_settings()`) supply the Coinbase URL and the cache of `local`.
    """
    kind, colon, argument = spec.strip().partition(":")
    kind, argument = kind.lower(), argument.strip()
    if kind == "synthetic":
        if colon and not argument.isdigit():
            raise UserError(f"source {spec!r}: the seed must be a non-negative integer, e.g. synthetic:7")
        from gpt_trader.market.sources.synthetic import SyntheticSource

        return SyntheticSource(seed=int(argument)) if colon else SyntheticSource()
    if kind == "file" and argument:
        from gpt_trader.market.sources.file import FileSource

        return FileSource.from_spec(argument)
    if kind not in ("coinbase", "local") or colon:
        raise UserError(f"unknown source {spec!r}; use one of: {SPEC_FORMS}")
    if settings is None:
        from gpt_trader.config import load_settings

        settings = load_settings()
    if kind == "coinbase":
        from gpt_trader.market.sources.coinbase import CoinbaseSource

        return CoinbaseSource(rest_url=settings.coinbase_rest_url)
    from gpt_trader.market.cache import CandleCache
    from gpt_trader.market.sources.local import LocalSource

    return LocalSource(CandleCache(settings.cache_dir, settings.cache_ttl_seconds))

"""Candle sources, and `open_source` to pick one by the spec a user types (`--source`).

| spec | source |
|---|---|
| `coinbase` | Coinbase Advanced Trade public candles (`gpt_trader.coinbase.candles.CoinbaseSource`) |
| `synthetic`, `synthetic:SEED` | the seeded synthetic market (`SyntheticSource`, seed 7 by default) |
| `file:PATH`, `file:PATH:PRODUCT` | a CSV or Parquet file, read directly (`FileSource`); PRODUCT names its product |
| `local` | what `gpt-trader data import` stored in the cache (`sources.local.LocalSource`), never refreshed |

`market/` is venue-neutral and never imports a venue's package: a venue's source is registered here by the
path of the function that opens it (`VENUE_SOURCES`), and imported only when a spec names it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, cast
from urllib.parse import urlsplit, urlunsplit

from gpt_trader.errors import UserError
from gpt_trader.market.sources.base import Progress, Source

if TYPE_CHECKING:
    from gpt_trader.config import Settings
    from gpt_trader.market.sources.file import FileSource
    from gpt_trader.market.sources.synthetic import SyntheticSource

__all__ = [
    "SPEC_FORMS",
    "VENUE_SOURCES",
    "FileSource",
    "Progress",
    "Source",
    "SyntheticSource",
    "open_source",
    "source_url",
]

SPEC_FORMS = "coinbase, synthetic, synthetic:SEED, file:PATH, local"

VenueOpener = Callable[["Settings"], Source]
"""Opens a venue's candle source with the settings in force (its URL, its keys)."""

VENUE_SOURCES = {"coinbase": "gpt_trader.coinbase.candles:open_coinbase_source"}
"""Spec name -> `module:function` of the `VenueOpener` that serves it."""

# The sources bring pandas and Numba with them: each is imported on first use, so that code needing only
# the `Source` protocol (the cache, `data list`) starts fast.
_LAZY_MODULES = {"FileSource": "file", "SyntheticSource": "synthetic"}


def __getattr__(name: str) -> object:
    module = _LAZY_MODULES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


def open_source(spec: str, settings: Settings | None = None) -> Source:
    """The source a spec names (see the module table); a UserError lists the valid forms.

    `settings` (default: `load_settings()`) supply a venue's URL and the cache of `local`.
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
    if (kind not in VENUE_SOURCES and kind != "local") or colon:
        raise UserError(f"unknown source {spec!r}; use one of: {SPEC_FORMS}")
    if settings is None:
        from gpt_trader.config import load_settings

        settings = load_settings()
    if kind in VENUE_SOURCES:
        return _venue_opener(kind)(settings)
    from gpt_trader.market.cache import CandleCache
    from gpt_trader.market.sources.local import LocalSource

    return LocalSource(CandleCache(settings.cache_dir, settings.cache_ttl_seconds))


def source_url(spec: str, settings: Settings | None = None) -> str | None:
    """The URL a spec's candles come from: a venue's REST base URL, a file's `file://` URI.

    None for the synthetic market and imported candles, which come from no address. A run records it,
    so a result names the server (Coinbase, or a sandbox on loopback) that served its candles.
    """
    kind, _, argument = spec.strip().partition(":")
    kind, argument = kind.lower(), argument.strip()
    if kind == "file" and argument:
        return Path(argument).expanduser().resolve().as_uri()
    if kind in VENUE_SOURCES:
        url = getattr(open_source(kind, settings), "url", None)
        return _without_credentials(url) if isinstance(url, str) else None
    return None


def _without_credentials(url: str) -> str:
    """`url` without a user name, password or query string: what may be stored and shown."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, "", ""))


def _venue_opener(kind: str) -> VenueOpener:
    module, _, function = VENUE_SOURCES[kind].partition(":")
    return cast(VenueOpener, getattr(importlib.import_module(module), function))

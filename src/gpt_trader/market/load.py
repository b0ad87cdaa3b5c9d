"""`load_bars`: validated candles per product, from any source, through the cache: what the backtester calls.

    bars = load_bars(["BTC-USD", "ETH-USD"], "15m", "2024-01-01", "2024-02-01", source="synthetic:7")

Coinbase and synthetic candles go through `CandleCache` (fetched once, then read from disk); a file is
read directly, and `local` candles come from the cache as imported. When a source lacks the granularity
asked for (a file or an import holds 1-minute bars, 15-minute ones are wanted), the bars are resampled
from the finest finer granularity it has. Every product's bars pass `validation.check` before the gap
policy applies, so bad data raises a `DataError` naming the product and the rows.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, TypeGuard

from gpt_trader.errors import DataError, UserError
from gpt_trader.market.bars import Bars
from gpt_trader.market.cache import CandleCache
from gpt_trader.market.gaps import GapPolicy, apply_gap_policy
from gpt_trader.market.granularity import Granularity
from gpt_trader.market.resample import resample
from gpt_trader.market.sources import Progress, Source, open_source
from gpt_trader.market.sources.local import LocalSource
from gpt_trader.market.validation import check, iso_time

if TYPE_CHECKING:
    from gpt_trader.config import Settings
    from gpt_trader.market.sources.file import FileSource

__all__ = ["Instant", "LoadProgress", "load_bars", "parse_granularity", "to_unix_seconds"]

Instant = int | float | str | datetime | date
"""A point in time: Unix seconds, an ISO 8601 text (`2024-01-01`, `2024-01-01T12:00Z`) or a datetime
(naive ones are UTC)."""

LoadProgress = Callable[[str, int, int], None]
"""Called as progress(product_id, done, total) while a product's candles are fetched."""


def load_bars(
    products: str | Sequence[str],
    granularity: Granularity | str,
    start: Instant | None = None,
    end: Instant | None = None,
    source: str | Source = "coinbase",
    gaps: GapPolicy | str = GapPolicy.KEEP,
    settings: Settings | None = None,
    progress: LoadProgress | None = None,
    cache: CandleCache | None = None,
) -> dict[str, Bars]:
    """Bars with open time in [start, end) for each product, validated, with the gap policy applied.

    `source` is a spec (`coinbase`, `synthetic:SEED`, `file:PATH`, `local`) or a Source. Without
    `start`, a file or `local` gives all it holds (other sources need one); `end` defaults to now.
    `cache` defaults to the one in `settings.cache_dir` (settings default to `load_settings()`).
    """
    wanted = parse_granularity(granularity)
    policy = GapPolicy.parse(gaps)
    product_ids = [p.strip().upper() for p in ([products] if isinstance(products, str) else products)]
    if not product_ids:
        raise UserError("no product given; name at least one, e.g. BTC-USD")
    begin = None if start is None else to_unix_seconds(start, "start")
    finish = None if end is None else to_unix_seconds(end, "end")
    if begin is not None and finish is not None and finish <= begin:
        raise UserError(f"the end ({iso_time(finish)}) must come after the start ({iso_time(begin)})")

    if isinstance(source, str):
        source = open_source(source, settings)
    if _is_file_source(source):
        held = source.load_all()
        raw = {product: _from_file(source, held, product, wanted) for product in product_ids}
    elif isinstance(source, LocalSource):
        raw = {product: _from_local(source, product, wanted, begin, finish) for product in product_ids}
    else:
        if begin is None:
            raise UserError(f"the {source.name} source needs a start time (how far back to fetch)")
        if cache is None:
            if settings is None:
                from gpt_trader.config import load_settings

                settings = load_settings()
            cache = CandleCache(settings.cache_dir, settings.cache_ttl_seconds)
        stop = int(cache.clock()) if finish is None else finish
        raw = {
            product: cache.get(source, product, wanted, begin, stop, _for_product(progress, product))
            for product in product_ids
        }
    return {product: _finish(bars, wanted, begin, finish, policy) for product, bars in raw.items()}


def _finish(bars: Bars, wanted: Granularity, start: int | None, end: int | None, policy: GapPolicy) -> Bars:
    """Validate `bars` (at `wanted` or finer), resample and cut them to [start, end), apply the policy."""
    check(bars)
    if bars.granularity is not wanted:
        bars = resample(bars, wanted)
    return apply_gap_policy(bars.slice(start, end), policy)


def _is_file_source(source: Source) -> TypeGuard[FileSource]:
    # A file source needs pandas, which a replay of other candles never imports: one that is a FileSource
    # has imported its module already.
    module = sys.modules.get("gpt_trader.market.sources.file")
    return module is not None and isinstance(source, module.FileSource)


def _from_file(source: FileSource, held: dict[str, Bars], product: str, wanted: Granularity) -> Bars:
    if product not in held:
        raise DataError(f"{source.path}: no {product} bars; the file holds {', '.join(sorted(held))}")
    bars = held[product]
    if not _divides(bars.granularity, wanted):
        raise DataError(
            f"{source.path} holds {product} at {bars.granularity.short}; {wanted.short} bars cannot be "
            f"made from them (choose a multiple of {bars.granularity.short})"
        )
    return bars


def _from_local(
    source: LocalSource, product: str, wanted: Granularity, start: int | None, end: int | None
) -> Bars:
    stored = source.granularities(product)
    usable = [granularity for granularity in stored if _divides(granularity, wanted)]
    if not usable:
        held = f"are at {', '.join(g.short for g in stored)}" if stored else "do not exist"
        raise DataError(
            f"imported {product} candles {held}, so there are no {wanted.short} bars to give; import "
            "a file with `gpt-trader data import PATH` (at this granularity or a finer one)"
        )
    # The granularity asked for if it was imported, else the finest: resampling it keeps gaps as gaps.
    granularity = wanted if wanted in usable else usable[0]
    step = wanted.seconds
    # Widened to whole buckets of the wanted size, so the first and last resampled bars are complete.
    lower = None if start is None else start - start % step
    upper = None if end is None else -(-end // step) * step
    cached = source.cache.read(source.name, product, granularity)
    if cached is None:
        raise DataError(f"imported {product} {granularity.short} candles are unreadable; import them again")
    return cached.bars.slice(lower, upper)


def _divides(finer: Granularity, coarser: Granularity) -> bool:
    return coarser.seconds % finer.seconds == 0


def _for_product(progress: LoadProgress | None, product: str) -> Progress | None:
    if progress is None:
        return None
    return lambda done, total: progress(product, done, total)


def parse_granularity(text: Granularity | str) -> Granularity:
    """`Granularity.parse` with a UserError (printed without traceback) for a name it does not know."""
    try:
        return Granularity.parse(text)
    except ValueError as error:
        raise UserError(str(error)) from None


def to_unix_seconds(value: Instant, what: str = "time") -> int:
    """Unix seconds of an `Instant`; a UserError names `what` and the accepted forms when it is none."""
    if isinstance(value, bool):
        raise UserError(f"{what} {value!r} is not a time")
    if isinstance(value, int | float):
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        if text.lstrip("-").isdigit():
            return int(text)
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            raise UserError(
                f"{what} {text!r} is not a time; use ISO 8601 (2024-01-01 or 2024-01-01T12:00:00Z) "
                "or Unix seconds"
            ) from None
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return int(value.timestamp())

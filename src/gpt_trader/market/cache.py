"""`CandleCache`: candles kept as Parquet files, fetched from a `Source` only where they are missing.

Layout: `{cache_dir}/candles/{source}/{granularity}/{product}.parquet`, one file per (source, product,
granularity). Each file's schema metadata records the range it covers, [covered_start, covered_end), and
when its newest part was fetched. The covered range is wider than the bars in it: a bucket without trades is
absent (a gap), and remembering that it was asked for is what keeps the cache from asking again.

A candle can still change while its bucket forms and shortly after it closes. So the bucket that had
just closed at fetch time and every later one are *unsettled*: fetched again once older than the TTL, and
whenever the covered range grows forwards. Everything before them is final and never fetched twice. Files
are replaced atomically; a file that cannot be read is moved aside with a warning and fetched again.

A source whose oldest bars begin more than a day after the start asked for holds less history than asked:
that is a `DataError` naming what it holds, and nothing is cached, so asking again once it holds more works.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from gpt_trader.errors import DataError, UserError
from gpt_trader.market.bars import COLUMNS, Bars, iso_time
from gpt_trader.market.granularity import Granularity
from gpt_trader.market.sources.base import Progress, Source

logger = logging.getLogger(__name__)

# What reading a damaged file raises: pyarrow's errors, and ours for metadata that does not add up.
_UNREADABLE = (OSError, ValueError, KeyError, TypeError, pa.ArrowException)

_METADATA_KEY = b"gpt_trader.candles"
_FORMAT_VERSION = 1
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
SHORT_HISTORY_SLACK_SECONDS = 86_400
"""How long the oldest bars asked for may be absent before the answer counts as short: a market may be quiet
for hours, but a day without a single candle at the start of a range means the source has no such history."""
LOCAL_SOURCE = "local"
"""The source name of imported candles (`sources.local.LocalSource`): the cache is their only copy."""
# Parquet has no seconds unit for timestamps: bar times are stored in milliseconds.
_SCHEMA = pa.schema(
    [("time", pa.timestamp("ms", tz="UTC"))] + [(name, pa.float64()) for name in COLUMNS[1:]]
)
# Files that flag gap fillers (e.g. an export's zero-volume fill rows) keep the flags in this column.
_SYNTHETIC = pa.field("synthetic", pa.bool_())


@dataclass(frozen=True)
class CachedBars:
    """A cache file's content: its bars and what they cover."""

    bars: Bars
    covered_start: int
    covered_end: int
    fetched_at: float
    """Unix time at which the newest part of the covered range was fetched (or the data imported)."""


@dataclass(frozen=True)
class CacheEntry:
    """One cache file, as `gpt-trader data list` shows it.

    `error` says why a file cannot be read (it is moved aside when next used); its counts are then 0.
    """

    source: str
    product_id: str
    granularity: Granularity
    path: Path
    bars: int
    first_time: int | None
    last_time: int | None
    covered_start: int
    covered_end: int
    fetched_at: float
    size_bytes: int
    error: str | None = None


class CandleCache:
    """Candles per (source, product, granularity) under `cache_dir`, fetched incrementally from sources.

    `ttl_seconds` is how long the unsettled, most recent buckets are trusted before they are fetched
    again; `clock` returns the current Unix time (inject one in tests).
    """

    def __init__(
        self,
        cache_dir: Path | str,
        ttl_seconds: float = 3600,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.root = Path(cache_dir) / "candles"
        self.ttl_seconds = ttl_seconds
        self.clock = clock

    def path(self, source: str, product_id: str, granularity: Granularity) -> Path:
        """Where the bars of `product_id` at `granularity` from `source` are (or would be) stored."""
        file_name = f"{_safe(product_id, 'product')}.parquet"
        return self.root / _safe(source, "source") / granularity.short / file_name

    def get(
        self,
        source: Source,
        product_id: str,
        granularity: Granularity | str,
        start: int,
        end: int,
        progress: Progress | None = None,
    ) -> Bars:
        """The bars whose open time lies in [start, end), fetching from `source` only what is missing.

        `end` is capped at the end of the bucket forming now: the future is never marked as covered.
        """
        granularity = Granularity.parse(granularity)
        if source.name == LOCAL_SOURCE:
            # Imported data is the whole truth about its range: nothing to fetch, never refreshed.
            return source.fetch(product_id, granularity, start, end)
        step = granularity.seconds
        now = self.clock()
        start = _ceil(int(start), step)
        end = min(_ceil(int(end), step), _floor(int(now), step) + step)
        if end <= start:
            return _empty(product_id, granularity)
        name = cache_name(source)
        path = self.path(name, product_id, granularity)
        stored = self._read(path, product_id, granularity)
        head, tail = self._missing(stored, start, end, now, step)
        if head is None and tail is None:
            assert stored is not None
            return stored.bars.slice(start, end)

        pieces = []
        if head is not None:
            pieces.append(_oldest(source, _fetch(source, product_id, granularity, head, progress), head[0]))
        if stored is not None:
            keep_end = stored.covered_end if tail is None else tail[0]
            pieces.append(stored.bars.slice(stored.covered_start, keep_end))
        if tail is not None:
            fetched = _fetch(source, product_id, granularity, tail, progress)
            pieces.append(fetched if stored is not None else _oldest(source, fetched, tail[0]))
        merged = _concat(product_id, granularity, pieces)
        covered_start = start if stored is None else min(start, stored.covered_start)
        covered_end = end if stored is None else max(end, stored.covered_end)
        # Only a fetch of the newest part changes what is unsettled; an older prefix keeps the old time.
        fetched_at = now if tail is not None or stored is None else stored.fetched_at
        self._write(path, name, CachedBars(merged, covered_start, covered_end, fetched_at))
        return merged.slice(start, end)

    def _missing(
        self, stored: CachedBars | None, start: int, end: int, now: float, step: int
    ) -> tuple[tuple[int, int] | None, tuple[int, int] | None]:
        """The ranges to fetch: before the covered range (head) and its newest part onwards (tail).

        Both reach the covered range, so it stays one contiguous range.
        """
        if stored is None:
            return None, (start, end)
        head = (start, stored.covered_start) if start < stored.covered_start else None
        # Buckets that had not been closed for a whole bar when fetched may still change at the source.
        unsettled_from = max(stored.covered_start, _floor(int(stored.fetched_at), step) - step)
        expired = now - stored.fetched_at >= self.ttl_seconds
        needs_refresh = expired and unsettled_from < stored.covered_end and end > unsettled_from
        if end > stored.covered_end or needs_refresh:
            return head, (min(unsettled_from, stored.covered_end), max(end, stored.covered_end))
        return head, None

    def read(self, source: str, product_id: str, granularity: Granularity) -> CachedBars | None:
        """What is stored for (source, product, granularity), or None; never fetches."""
        return self._read(self.path(source, product_id, granularity), product_id, granularity)

    def put(self, source: str, bars: Bars, covered: tuple[int, int] | None = None) -> Path:
        """Store `bars` (e.g. imported from a file) as the whole entry for their product and granularity.

        `covered` defaults to the span of the bars. An existing entry is replaced, not merged.
        """
        step = bars.granularity.seconds
        if covered is None:
            covered = (bars.start, bars.end) if len(bars) else (0, 0)
        covered_start, covered_end = _floor(covered[0], step), _ceil(covered[1], step)
        if len(bars) and (bars.start < covered_start or bars.end > covered_end):
            raise ValueError(f"{bars.product_id}: bars {bars!r} lie outside the covered range {covered}")
        path = self.path(source, bars.product_id, bars.granularity)
        self._write(path, source, CachedBars(bars, covered_start, covered_end, self.clock()))
        return path

    def granularities(self, source: str, product_id: str) -> list[Granularity]:
        """The granularities stored for a product from a source, finest first."""
        found = []
        for path in self.root.glob(f"{_safe(source, 'source')}/*/{_safe(product_id, 'product')}.parquet"):
            granularity = _granularity_of(path)
            if granularity is not None:
                found.append(granularity)
        return sorted(found, key=lambda granularity: granularity.seconds)

    def entries(
        self,
        source: str | None = None,
        product_id: str | None = None,
        granularity: Granularity | None = None,
    ) -> list[CacheEntry]:
        """Every cache file matching the filters, by source, product and granularity (see `error`)."""
        entries = []
        for path, entry_source, entry_granularity in self._files(source, product_id, granularity):
            identity = (entry_source, path.stem, entry_granularity, path)
            size = path.stat().st_size
            try:
                stored = _load(path, path.stem, entry_granularity)
            except _UNREADABLE as error:
                problem = f"{type(error).__name__}: {error}"
                entries.append(CacheEntry(*identity, 0, None, None, 0, 0, 0.0, size, error=problem))
                continue
            bars = stored.bars
            first, last = (bars.start, int(bars.time[-1])) if len(bars) else (None, None)
            covered = (stored.covered_start, stored.covered_end, stored.fetched_at)
            entries.append(CacheEntry(*identity, len(bars), first, last, *covered, size))
        return sorted(entries, key=lambda e: (e.source, e.product_id, e.granularity.seconds))

    def remove(
        self,
        source: str | None = None,
        product_id: str | None = None,
        granularity: Granularity | None = None,
    ) -> list[Path]:
        """Delete the cache files matching the filters (all of them without filters); returns their paths."""
        removed = []
        for path, _, _ in self._files(source, product_id, granularity):
            path.unlink(missing_ok=True)
            removed.append(path)
        return removed

    def _files(
        self, source: str | None, product_id: str | None, granularity: Granularity | None
    ) -> Iterator[tuple[Path, str, Granularity]]:
        pattern = "/".join(
            (
                "*" if source is None else _safe(source, "source"),
                "*" if granularity is None else granularity.short,
                "*.parquet" if product_id is None else f"{_safe(product_id, 'product')}.parquet",
            )
        )
        for path in sorted(self.root.glob(pattern)):
            found = _granularity_of(path)
            if found is not None and path.is_file():
                yield path, path.parent.parent.name, found

    def _read(self, path: Path, product_id: str, granularity: Granularity) -> CachedBars | None:
        if not path.exists():
            return None
        try:
            return _load(path, product_id, granularity)
        except _UNREADABLE as error:
            aside = path.with_name(path.name + ".corrupt")
            os.replace(path, aside)
            logger.warning(
                "cache file %s is unreadable (%s: %s); moved it to %s, its range will be fetched again",
                path,
                type(error).__name__,
                error,
                aside,
            )
            return None

    def _write(self, path: Path, source: str, stored: CachedBars) -> None:
        bars = _ordered(stored.bars, source)
        metadata = {
            "format": _FORMAT_VERSION,
            "source": source,
            "product_id": bars.product_id,
            "granularity": bars.granularity.short,
            "covered_start": stored.covered_start,
            "covered_end": stored.covered_end,
            "fetched_at": stored.fetched_at,
            "price_increment": bars.price_increment,
        }
        arrays = [_arrow(bars.time * 1000, _SCHEMA.field("time").type)]
        arrays += [_arrow(getattr(bars, name), pa.float64()) for name in COLUMNS[1:]]
        schema = _SCHEMA
        if bars.synthetic is not None:
            arrays.append(_arrow(bars.synthetic, pa.bool_()))
            schema = schema.append(_SYNTHETIC)
        table = pa.Table.from_arrays(
            arrays, schema=schema.with_metadata({_METADATA_KEY: json.dumps(metadata).encode()})
        )
        # A temporary file in the same directory, then a rename: readers see the old file or the new one,
        # never half of one, and a crash leaves at worst a stray temporary file, never a damaged entry.
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        except OSError as error:
            raise UserError(
                f"cannot write to the candle cache {path.parent} ({error.strerror or error}); make cache_dir "
                "(--cache-dir or GPT_TRADER_CACHE_DIR) a folder you may write"
            ) from None
        os.close(handle)
        try:
            pq.write_table(table, temporary)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise


def cache_name(source: Source) -> str:
    """The folder a source's candles are cached under: its name, plus the seed of a seeded source
    (`synthetic-7`), since each seed is a different market."""
    seed = getattr(source, "seed", None)
    return source.name if seed is None else f"{source.name}-{seed}"


def _load(path: Path, product_id: str, granularity: Granularity) -> CachedBars:
    """Read and check one cache file; raises one of `_UNREADABLE` when it is damaged."""
    # ParquetFile.read is several times faster than read_table (no dataset layer) on files this small.
    with pq.ParquetFile(path) as parquet:
        table = parquet.read(use_threads=False)
    raw = (table.schema.metadata or {}).get(_METADATA_KEY)
    if raw is None:
        raise ValueError("no candle metadata in the file")
    metadata = json.loads(raw)
    if metadata["format"] != _FORMAT_VERSION:
        raise ValueError(f"format {metadata['format']}, expected {_FORMAT_VERSION}")
    if metadata["product_id"] != product_id or metadata["granularity"] != granularity.short:
        held = f"{metadata['product_id']} {metadata['granularity']}"
        raise ValueError(f"holds {held}, not the data its name says")
    covered_start, covered_end = int(metadata["covered_start"]), int(metadata["covered_end"])
    fetched_at = float(metadata["fetched_at"])
    schema = table.schema.remove_metadata()
    flagged = schema.equals(_SCHEMA.append(_SYNTHETIC))
    if not (flagged or schema.equals(_SCHEMA)) or table.column("time").null_count:
        raise ValueError(f"unexpected columns {schema}")
    times = _values(table.column("time"), np.int64) // 1000
    if len(times) and (
        times[0] < covered_start
        or times[-1] >= covered_end
        or (len(times) > 1 and not bool(np.all(np.diff(times) > 0)))
    ):
        raise ValueError("bar times out of order or outside the covered range")
    open_, high, low, close, volume = (_values(table.column(name), np.float64) for name in COLUMNS[1:])
    synthetic = _values(table.column("synthetic"), np.bool_) if flagged else None
    increment = metadata.get("price_increment")
    bars = Bars(product_id, granularity, times, open_, high, low, close, volume, synthetic, increment)
    return CachedBars(bars, covered_start, covered_end, fetched_at)


# Columns go between NumPy and Arrow through their buffers: pyarrow's own conversions (`pa.array` of an
# ndarray, `to_numpy`) import pandas on first use, which costs a quick screen a third of a second it has no
# other use for.


def _arrow(values: np.ndarray, arrow_type: pa.DataType) -> pa.Array:
    """`values` (int64 for timestamps, float64, bool) as an Arrow array of `arrow_type` without nulls."""
    if arrow_type == pa.bool_():  # Arrow packs booleans eight to a byte, least significant bit first
        data = np.packbits(np.asarray(values, dtype=np.bool_), bitorder="little")
    else:
        data = np.ascontiguousarray(values, dtype=np.int64 if pa.types.is_timestamp(arrow_type) else np.float64)
    return pa.Array.from_buffers(arrow_type, len(values), [None, pa.py_buffer(data)])


def _values(column: pa.ChunkedArray, dtype: type[np.generic]) -> np.ndarray:
    """A column without nulls as a new NumPy array of `dtype` (int64 for timestamps, float64, bool)."""
    array = column.combine_chunks()
    if array.null_count:
        raise ValueError(f"{array.null_count} missing value(s) in a {array.type} column")
    if not len(array):
        return np.empty(0, dtype)
    data = array.buffers()[1]
    if dtype is np.bool_:  # Arrow packs booleans eight to a byte, least significant bit first
        bits = np.unpackbits(np.frombuffer(data, np.uint8), bitorder="little")
        return bits[array.offset : array.offset + len(array)].astype(np.bool_)
    return np.frombuffer(data, dtype, count=len(array), offset=array.offset * np.dtype(dtype).itemsize).copy()


def _fetch(
    source: Source,
    product_id: str,
    granularity: Granularity,
    window: tuple[int, int],
    progress: Progress | None,
) -> Bars:
    # The checks keep the file's invariant (sorted, inside the covered range) against a source that
    # misorders bars or returns some beyond what was asked.
    fetched = source.fetch(product_id, granularity, window[0], window[1], progress)
    return _ordered(fetched, cache_name(source)).slice(*window)


def _oldest(source: Source, fetched: Bars, start: int) -> Bars:
    """`fetched`, the oldest bars a source was asked for, unless they begin too late to be a quiet market.

    Bars that begin long after `start` mean the source holds no older history (a sandbox serving a few days,
    a product listed later): an error, before the cache could remember the empty stretch as covered.
    """
    if not len(fetched):
        return fetched
    late = fetched.start - start
    if late <= max(SHORT_HISTORY_SLACK_SECONDS, fetched.granularity.seconds):
        return fetched
    first = iso_time(fetched.start)
    raise DataError(
        f"the {cache_name(source)} source has {fetched.product_id} {fetched.granularity.short} candles from "
        f"{first} on, {late / 86_400:.1f} days after the start asked for ({iso_time(start)}): it holds less "
        f"history than asked (a sandbox serves --history-days of it; a product has none before its listing). "
        f"Ask for less: --start {first[:10]} or fewer --days"
    )


def _ordered(bars: Bars, source: str) -> Bars:
    if len(bars) > 1 and not bool(np.all(np.diff(bars.time) > 0)):
        raise DataError(f"{bars.product_id} bars from {source} are unsorted or repeated; none were cached")
    return bars


def _concat(product_id: str, granularity: Granularity, pieces: list[Bars]) -> Bars:
    time, open_, high, low, close, volume = (
        np.concatenate([getattr(piece, name) for piece in pieces]) for name in COLUMNS
    )
    synthetic = None
    if any(piece.synthetic is not None for piece in pieces):
        synthetic = np.concatenate(
            [np.zeros(len(p), bool) if p.synthetic is None else p.synthetic for p in pieces]
        )
    increment = next((p.price_increment for p in reversed(pieces) if p.price_increment is not None), None)
    return Bars(product_id, granularity, time, open_, high, low, close, volume, synthetic, increment)


def _empty(product_id: str, granularity: Granularity) -> Bars:
    return Bars.empty(product_id, granularity)


def _granularity_of(path: Path) -> Granularity | None:
    try:
        return Granularity.parse(path.parent.name)
    except ValueError:
        return None


def _safe(name: str, what: str) -> str:
    if not _SAFE_NAME.fullmatch(name):
        raise UserError(f"{what} {name!r} cannot name a cache file; use letters, digits, '.', '_' and '-'")
    return name


def _floor(value: int, step: int) -> int:
    return value - value % step


def _ceil(value: int, step: int) -> int:
    return -(-value // step) * step

"""CandleCache against a counting source: what it fetches, when it refreshes, how it survives bad files."""

from __future__ import annotations

import dataclasses
import logging
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpt_trader.errors import DataError, UserError
from gpt_trader.market.bars import Bars
from gpt_trader.market.cache import CandleCache
from gpt_trader.market.granularity import Granularity
from gpt_trader.market.sources.base import Progress
from gpt_trader.market.sources.local import LocalSource

M15 = Granularity.FIFTEEN_MINUTE
H1 = Granularity.ONE_HOUR
DAY = 86_400
BASE = 19_675 * DAY  # 2023-11-14 00:00 UTC, on every granularity's grid


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class CountingSource:
    """Deterministic bars for every bucket except `absent` ones; records every window it is asked for.

    `revision` shifts every price, standing for the exchange revising its candles: bars fetched before
    and after a change tell which ones the cache fetched again.
    """

    name = "counting"

    def __init__(self, absent: frozenset[int] = frozenset()) -> None:
        self.absent = absent
        self.revision = 0
        self.calls: list[tuple[int, int]] = []

    def fetch(
        self,
        product_id: str,
        granularity: Granularity,
        start: int,
        end: int,
        progress: Progress | None = None,
    ) -> Bars:
        self.calls.append((start, end))
        step = granularity.seconds
        times = np.arange(-(-start // step) * step, end, step, dtype=np.int64)
        times = times[~np.isin(times, list(self.absent))]
        close = 100.0 + (times // step) % 17 + self.revision
        if progress is not None:
            progress(len(times), len(times))
        return Bars(product_id, granularity, times, close - 0.5, close + 1, close - 1, close, close / 100)

    def products(self) -> list[str]:
        return ["BTC-USD"]


def same(left: Bars, right: Bars) -> bool:
    return len(left) == len(right) and left.fingerprint() == right.fingerprint()


@pytest.fixture
def clock() -> Clock:
    return Clock(BASE + 30 * DAY)


@pytest.fixture
def cache(tmp_path: Path, clock: Clock) -> CandleCache:
    return CandleCache(tmp_path, ttl_seconds=600, clock=clock)


def test_a_repeated_request_is_served_from_disk(cache: CandleCache) -> None:
    source = CountingSource()
    first = cache.get(source, "BTC-USD", M15, BASE, BASE + DAY)
    second = cache.get(source, "BTC-USD", M15, BASE, BASE + DAY)
    assert source.calls == [(BASE, BASE + DAY)]
    assert len(first) == 96
    assert same(first, second)
    assert cache.path("counting", "BTC-USD", M15) == cache.root / "counting" / "15m" / "BTC-USD.parquet"
    assert cache.path("counting", "BTC-USD", M15).is_file()


def test_only_the_missing_parts_before_and_after_are_fetched(cache: CandleCache) -> None:
    source = CountingSource()
    cache.get(source, "BTC-USD", M15, BASE + DAY, BASE + 2 * DAY)
    inside = cache.get(source, "BTC-USD", M15, BASE + DAY + 3600, BASE + DAY + 7200)
    assert len(inside) == 4
    wider = cache.get(source, "BTC-USD", M15, BASE, BASE + 3 * DAY)
    assert source.calls == [
        (BASE + DAY, BASE + 2 * DAY),
        (BASE, BASE + DAY),
        (BASE + 2 * DAY, BASE + 3 * DAY),
    ]
    assert same(wider, source.fetch("BTC-USD", M15, BASE, BASE + 3 * DAY))


def test_a_disjoint_request_fills_the_hole_so_the_covered_range_stays_one_range(cache: CandleCache) -> None:
    source = CountingSource()
    cache.get(source, "BTC-USD", M15, BASE, BASE + DAY)
    later = cache.get(source, "BTC-USD", M15, BASE + 2 * DAY, BASE + 3 * DAY)
    assert source.calls[-1] == (BASE + DAY, BASE + 3 * DAY)
    assert later.start == BASE + 2 * DAY and len(later) == 96
    stored = cache.read("counting", "BTC-USD", M15)
    assert stored is not None
    assert (stored.covered_start, stored.covered_end) == (BASE, BASE + 3 * DAY)


def test_absent_buckets_are_gaps_that_are_not_asked_for_again(cache: CandleCache) -> None:
    absent = frozenset({BASE, BASE + 900, BASE + DAY - 900})
    source = CountingSource(absent)
    bars = cache.get(source, "BTC-USD", M15, BASE, BASE + DAY)
    assert len(bars) == 93
    again = cache.get(source, "BTC-USD", M15, BASE, BASE + DAY)
    assert len(source.calls) == 1
    assert same(bars, again)
    stored = cache.read("counting", "BTC-USD", M15)
    assert stored is not None
    assert (stored.covered_start, stored.covered_end) == (BASE, BASE + DAY)
    assert stored.bars.start == BASE + 1800


def test_unaligned_bounds_select_the_same_buckets(cache: CandleCache) -> None:
    source = CountingSource()
    bars = cache.get(source, "BTC-USD", M15, BASE + 1, BASE + 1801)
    assert list(bars.time) == [BASE + 900, BASE + 1800]
    assert source.calls == [(BASE + 900, BASE + 2700)]


def test_the_future_is_never_marked_as_covered(cache: CandleCache, clock: Clock) -> None:
    clock.now = BASE + 10 * DAY + 100
    source = CountingSource()
    bars = cache.get(source, "BTC-USD", H1, BASE + 9 * DAY, BASE + 20 * DAY)
    assert source.calls == [(BASE + 9 * DAY, BASE + 10 * DAY + 3600)]
    assert bars.time[-1] == BASE + 10 * DAY  # the bucket forming now
    stored = cache.read("counting", "BTC-USD", H1)
    assert stored is not None and stored.covered_end == BASE + 10 * DAY + 3600


def test_the_recent_part_is_fetched_again_only_once_the_ttl_has_passed(
    cache: CandleCache, clock: Clock
) -> None:
    clock.now = BASE + 10 * DAY + 100
    source = CountingSource()
    window = (BASE + 9 * DAY, BASE + 10 * DAY + 3600)
    cache.get(source, "BTC-USD", H1, *window)
    source.revision = 1

    clock.now += 300  # within the TTL (600 s)
    within_ttl = cache.get(source, "BTC-USD", H1, *window)
    assert len(source.calls) == 1
    assert within_ttl.close[-1] == source.fetch("BTC-USD", H1, *window).close[-1] - 1
    source.calls.clear()

    clock.now += 400  # 700 s after the fetch
    refreshed = cache.get(source, "BTC-USD", H1, *window)
    # The bucket forming at fetch time and the one just closed before it; nothing older.
    assert source.calls == [(BASE + 10 * DAY - 3600, BASE + 10 * DAY + 3600)]
    current = source.fetch("BTC-USD", H1, *window)
    assert np.array_equal(refreshed.close[-2:], current.close[-2:])
    assert np.array_equal(refreshed.close[:-2], current.close[:-2] - 1)


def test_settled_history_is_never_refreshed(cache: CandleCache, clock: Clock) -> None:
    source = CountingSource()
    cache.get(source, "BTC-USD", H1, BASE, BASE + DAY)  # fetched 29 days after it ended
    clock.now += 10 * DAY
    cache.get(source, "BTC-USD", H1, BASE, BASE + DAY)
    assert len(source.calls) == 1


def test_extending_forward_refetches_the_unsettled_buckets_even_within_the_ttl(
    tmp_path: Path, clock: Clock
) -> None:
    cache = CandleCache(tmp_path, ttl_seconds=DAY, clock=clock)
    clock.now = BASE + 10 * DAY + 100
    source = CountingSource()
    cache.get(source, "BTC-USD", H1, BASE + 9 * DAY, BASE + 11 * DAY)
    clock.now += 3600  # well within the TTL, but the next bucket now exists
    cache.get(source, "BTC-USD", H1, BASE + 9 * DAY, BASE + 11 * DAY)
    # Without refetching from the bucket that was forming, it would stay half-formed in the cache.
    assert source.calls[-1] == (BASE + 10 * DAY - 3600, BASE + 10 * DAY + 7200)


def test_prepending_history_keeps_the_fetch_time_of_the_newest_part(
    cache: CandleCache, clock: Clock
) -> None:
    clock.now = BASE + 10 * DAY + 100
    source = CountingSource()
    cache.get(source, "BTC-USD", H1, BASE + 9 * DAY, BASE + 11 * DAY)
    clock.now += 300
    cache.get(source, "BTC-USD", H1, BASE + 8 * DAY, BASE + 9 * DAY)
    stored = cache.read("counting", "BTC-USD", H1)
    assert stored is not None and stored.fetched_at == BASE + 10 * DAY + 100
    clock.now += 300  # 600 s after the newest part was fetched: due for a refresh
    cache.get(source, "BTC-USD", H1, BASE + 8 * DAY, BASE + 11 * DAY)
    assert source.calls[-1] == (BASE + 10 * DAY - 3600, BASE + 10 * DAY + 3600)


def test_progress_reaches_the_source(cache: CandleCache) -> None:
    seen: list[tuple[int, int]] = []
    cache.get(CountingSource(), "BTC-USD", M15, BASE, BASE + DAY, progress=lambda d, t: seen.append((d, t)))
    assert seen == [(96, 96)]


@settings(max_examples=40, deadline=None)
@given(
    windows=st.lists(st.tuples(st.integers(0, 200), st.integers(1, 80)), min_size=1, max_size=6),
    absent=st.frozensets(st.integers(0, 280), max_size=30),
)
def test_any_request_sequence_matches_the_source_and_fetches_no_bucket_twice(
    windows: list[tuple[int, int]], absent: frozenset[int]
) -> None:
    source = CountingSource(frozenset(BASE + 900 * slot for slot in absent))
    with tempfile.TemporaryDirectory() as folder:
        cache = CandleCache(folder, ttl_seconds=600, clock=Clock(BASE + 30 * DAY))
        for first, length in windows:
            start, end = BASE + 900 * first, BASE + 900 * (first + length)
            got = cache.get(source, "BTC-USD", M15, start, end)
            assert same(got, CountingSource(source.absent).fetch("BTC-USD", M15, start, end))
    fetched = np.concatenate([np.arange(start, end, 900) for start, end in source.calls])
    assert len(fetched) == len(np.unique(fetched))


def corrupted_entry(cache: CandleCache, source: CountingSource) -> Path:
    cache.get(source, "BTC-USD", M15, BASE, BASE + DAY)
    return cache.path(source.name, "BTC-USD", M15)


def test_a_truncated_file_is_moved_aside_with_a_warning_and_fetched_again(
    cache: CandleCache, caplog: pytest.LogCaptureFixture
) -> None:
    source = CountingSource()
    path = corrupted_entry(cache, source)
    content = path.read_bytes()
    path.write_bytes(content[: len(content) // 2])
    with caplog.at_level(logging.WARNING, logger="gpt_trader.market.cache"):
        bars = cache.get(source, "BTC-USD", M15, BASE, BASE + DAY)
    assert str(path) in caplog.text
    assert path.with_name(path.name + ".corrupt").read_bytes() == content[: len(content) // 2]
    assert source.calls == [(BASE, BASE + DAY)] * 2
    assert same(bars, source.fetch("BTC-USD", M15, BASE, BASE + DAY))
    assert cache.read("counting", "BTC-USD", M15) is not None


@pytest.mark.parametrize(
    "damage",
    ["garbage", "no-metadata", "other-product", "bad-json", "missing-column", "outside-covered"],
)
def test_files_with_bad_content_or_metadata_are_recovered(
    cache: CandleCache, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    source = CountingSource()
    path = corrupted_entry(cache, source)
    table = pq.read_table(path)
    metadata = dict(table.schema.metadata)
    key = b"gpt_trader.candles"
    if damage == "garbage":
        path.write_bytes(b"not a parquet file at all")
    elif damage == "no-metadata":
        pq.write_table(table.replace_schema_metadata(None), path)
    elif damage == "other-product":
        metadata[key] = metadata[key].replace(b"BTC-USD", b"ETH-USD")
        pq.write_table(table.replace_schema_metadata(metadata), path)
    elif damage == "bad-json":
        metadata[key] = metadata[key][:-5]
        pq.write_table(table.replace_schema_metadata(metadata), path)
    elif damage == "missing-column":
        pq.write_table(table.drop_columns(["volume"]), path)
    else:
        metadata[key] = metadata[key].replace(str(BASE).encode(), str(BASE + 3600).encode())
        pq.write_table(table.replace_schema_metadata(metadata), path)
    with caplog.at_level(logging.WARNING, logger="gpt_trader.market.cache"):
        bars = cache.get(source, "BTC-USD", M15, BASE, BASE + DAY)
    assert "unreadable" in caplog.text and str(path) in caplog.text
    assert len(source.calls) == 2
    assert same(bars, source.fetch("BTC-USD", M15, BASE, BASE + DAY))


def test_entries_report_an_unreadable_file_without_moving_it(cache: CandleCache) -> None:
    path = corrupted_entry(cache, CountingSource())
    path.write_bytes(b"PAR1")
    (entry,) = cache.entries()
    assert entry.error is not None and entry.bars == 0
    assert entry.path == path and path.exists()


def files_in(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


def test_writes_leave_no_temporary_files(cache: CandleCache) -> None:
    source = CountingSource()
    for day in range(4):
        cache.get(source, "BTC-USD", M15, BASE + day * DAY, BASE + (day + 1) * DAY)
    assert files_in(cache.path("counting", "BTC-USD", M15).parent) == ["BTC-USD.parquet"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary_file(
    cache: CandleCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = CountingSource()
    before = cache.get(source, "BTC-USD", M15, BASE, BASE + DAY)
    path = cache.path("counting", "BTC-USD", M15)

    def disk_full(table: pa.Table, where: str) -> None:
        Path(where).write_bytes(b"PAR1 half a file")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pq, "write_table", disk_full)
    with pytest.raises(OSError, match="No space left"):
        cache.get(source, "BTC-USD", M15, BASE, BASE + 2 * DAY)
    monkeypatch.undo()
    assert files_in(path.parent) == ["BTC-USD.parquet"]
    stored = cache.read("counting", "BTC-USD", M15)
    assert stored is not None and same(stored.bars, before)


def test_a_cache_folder_that_cannot_be_made_is_named(tmp_path: Path, clock: Clock) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("in the way\n")
    cache = CandleCache(blocker, clock=clock)
    with pytest.raises(UserError, match=r"cannot write to the candle cache .*a-file/candles.*--cache-dir"):
        cache.get(CountingSource(), "BTC-USD", M15, BASE, BASE + DAY)


def test_a_failing_source_leaves_the_cache_as_it_was(cache: CandleCache) -> None:
    class Offline(CountingSource):
        def fetch(self, *args: object, **kwargs: object) -> Bars:
            raise ConnectionError("network down")

    cache.get(CountingSource(), "BTC-USD", M15, BASE, BASE + DAY)
    path = cache.path("counting", "BTC-USD", M15)
    content = path.read_bytes()
    with pytest.raises(ConnectionError):
        cache.get(Offline(), "BTC-USD", M15, BASE, BASE + 2 * DAY)
    assert path.read_bytes() == content


def test_a_source_returning_unordered_bars_caches_nothing(cache: CandleCache) -> None:
    class Shuffled(CountingSource):
        def fetch(self, *args: object, **kwargs: object) -> Bars:
            return super().fetch(*args, **kwargs)[::-1]  # type: ignore[arg-type]

    with pytest.raises(DataError, match="unsorted or repeated; none were cached"):
        cache.get(Shuffled(), "BTC-USD", M15, BASE, BASE + DAY)
    assert not cache.path("counting", "BTC-USD", M15).exists()


def test_put_read_entries_and_remove(cache: CandleCache, clock: Clock) -> None:
    source = CountingSource(frozenset({BASE + 3600}))
    hourly = source.fetch("BTC-USD", H1, BASE, BASE + DAY)
    minutes = source.fetch("ETH-USD", M15, BASE, BASE + DAY)
    cache.put("local", hourly, covered=(BASE, BASE + 2 * DAY))
    cache.put("local", minutes)
    cache.get(source, "BTC-USD", M15, BASE, BASE + DAY)

    stored = cache.read("local", "BTC-USD", H1)
    assert stored is not None and same(stored.bars, hourly)
    assert (stored.covered_start, stored.covered_end, stored.fetched_at) == (BASE, BASE + 2 * DAY, clock.now)

    entries = cache.entries()
    assert [(e.source, e.product_id, e.granularity) for e in entries] == [
        ("counting", "BTC-USD", M15),
        ("local", "BTC-USD", H1),
        ("local", "ETH-USD", M15),
    ]
    local_btc = entries[1]
    assert (local_btc.bars, local_btc.first_time, local_btc.last_time) == (23, BASE, BASE + DAY - 3600)
    assert local_btc.size_bytes == cache.path("local", "BTC-USD", H1).stat().st_size > 0
    assert [e.product_id for e in cache.entries(source="local", granularity=M15)] == ["ETH-USD"]

    assert cache.granularities("local", "BTC-USD") == [H1]
    assert LocalSource(cache).products() == ["BTC-USD", "ETH-USD"]

    removed = cache.remove(source="local", product_id="BTC-USD")
    assert removed == [cache.path("local", "BTC-USD", H1)]
    left = [(e.source, e.product_id) for e in cache.entries()]
    assert left == [("counting", "BTC-USD"), ("local", "ETH-USD")]


def test_put_replaces_the_entry_and_refuses_bars_outside_the_covered_range(cache: CandleCache) -> None:
    source = CountingSource()
    cache.put("local", source.fetch("BTC-USD", H1, BASE, BASE + DAY))
    cache.put("local", source.fetch("BTC-USD", H1, BASE + 5 * DAY, BASE + 6 * DAY))
    stored = cache.read("local", "BTC-USD", H1)
    assert stored is not None and stored.bars.start == BASE + 5 * DAY and len(stored.bars) == 24
    with pytest.raises(ValueError, match="outside the covered range"):
        cache.put("local", source.fetch("BTC-USD", H1, BASE, BASE + DAY), covered=(BASE + 3600, BASE + DAY))


def test_flags_of_gap_filler_rows_survive_the_round_trip(cache: CandleCache) -> None:
    plain = CountingSource().fetch("BTC-USD", H1, BASE, BASE + DAY)
    flags = np.zeros(len(plain), dtype=bool)
    flags[[3, 4]] = True
    cache.put("local", dataclasses.replace(plain, synthetic=flags))
    stored = cache.read("local", "BTC-USD", H1)
    assert stored is not None and stored.bars.synthetic is not None
    assert list(np.flatnonzero(stored.bars.synthetic)) == [3, 4]


def test_local_source_serves_what_was_stored_and_names_what_is_missing(cache: CandleCache) -> None:
    source = CountingSource()
    cache.put("local", source.fetch("BTC-USD", M15, BASE, BASE + DAY))
    local = LocalSource(cache)
    assert len(local.fetch("BTC-USD", M15, BASE, BASE + 3600)) == 4
    with pytest.raises(DataError, match=r"no imported BTC-USD candles at 1h \(stored: 15m\).*data import"):
        local.fetch("BTC-USD", H1, BASE, BASE + DAY)


@pytest.mark.parametrize("product", ["../escape", "BTC/USD", "", ".hidden"])
def test_names_that_cannot_be_file_names_are_refused(cache: CandleCache, product: str) -> None:
    with pytest.raises(UserError, match="cannot name a cache file"):
        cache.get(CountingSource(), product, M15, BASE, BASE + DAY)

"""`load_bars` over real files: imported (`local`) candles, a file read directly, the synthetic market."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gpt_trader.config import Settings, load_settings
from gpt_trader.errors import DataError, UserError
from gpt_trader.market.bars import Bars
from gpt_trader.market.cache import CandleCache
from gpt_trader.market.granularity import Granularity
from gpt_trader.market.load import load_bars
from gpt_trader.market.sources import FileSource
from gpt_trader.market.sources.local import LocalSource

BENCH_PRODUCTS = ["BTC-USD", "ETH-USD", "SOL-USD", "LINK-USD", "MATIC-USD"]
JAN_1 = 1_704_067_200  # 2024-01-01 00:00 UTC
DAY = 86_400


@pytest.fixture(scope="module")
def bench_file(shared_dir: Path) -> Path:
    return shared_dir / "bench" / "ohlcv_1m.parquet"


@pytest.fixture(scope="module")
def imported(bench_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings whose cache holds the benchmark's 1-minute candles as source `local`."""
    settings = load_settings(cache_dir=tmp_path_factory.mktemp("cache"))
    cache = CandleCache(settings.cache_dir)
    for bars in FileSource(bench_file).load_all().values():
        cache.put("local", bars)
    return settings


def test_imported_minutes_resample_to_the_documented_quarter_hours(
    bench_file: Path, imported: Settings
) -> None:
    loaded = load_bars(BENCH_PRODUCTS, "15m", source="local", settings=imported)
    assert list(loaded) == BENCH_PRODUCTS
    assert {(len(bars), bars.granularity) for bars in loaded.values()} == {(2880, Granularity.FIFTEEN_MINUTE)}

    # An independent build of the same bars: pandas' left-closed, left-labelled resample.
    frame = pd.read_parquet(bench_file)
    sol = frame[frame["product_id"] == "SOL-USD"].set_index("time")
    expected = sol.resample("15min", closed="left", label="left").agg(
        {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}
    )
    got = loaded["SOL-USD"]
    np.testing.assert_array_equal(got.time, expected.index.as_unit("s").asi8)
    for column in ("open", "high", "low", "close"):
        np.testing.assert_array_equal(getattr(got, column), expected[column].to_numpy())
    np.testing.assert_allclose(got.volume, expected["volume"].to_numpy(), rtol=1e-12)

    direct = load_bars(BENCH_PRODUCTS, "15m", source=f"file:{bench_file}")
    assert all(direct[p].fingerprint() == loaded[p].fingerprint() for p in BENCH_PRODUCTS)


def test_a_range_of_imported_candles_at_any_coarser_granularity(imported: Settings) -> None:
    day = load_bars("ETH-USD", "15m", "2024-01-02", "2024-01-03", source="local", settings=imported)
    day = day["ETH-USD"]
    assert (day.start, len(day)) == (JAN_1 + DAY, 96)
    minutes = load_bars("ETH-USD", "1m", JAN_1 + DAY, JAN_1 + DAY + 600, source="local", settings=imported)
    assert len(minutes["ETH-USD"]) == 10
    daily = load_bars("ETH-USD", "1d", source="local", settings=imported)["ETH-USD"]
    assert len(daily) == 30 and daily.close[0] == day.open[0]


def test_what_local_cannot_give_is_named(imported: Settings, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="imported DOGE-USD candles do not exist"):
        load_bars("DOGE-USD", "15m", source="local", settings=imported)
    hourly_only = CandleCache(tmp_path)
    hourly = load_bars("BTC-USD", "1h", source="local", settings=imported)["BTC-USD"]
    hourly_only.put("local", hourly)
    with pytest.raises(DataError, match=r"BTC-USD candles are at 1h, so there are no 15m bars"):
        load_bars("BTC-USD", "15m", source=LocalSource(hourly_only))


def test_bad_or_gappy_data_is_refused_with_its_rows_named(tmp_path: Path) -> None:
    cache = CandleCache(tmp_path)
    times = JAN_1 + 60 * np.array([0, 1, 2, 5, 6])
    flat = np.full(5, 10.0)

    def store(close: np.ndarray) -> None:
        minutes = Bars("BTC-USD", Granularity.ONE_MINUTE, times, flat, flat + 1, flat - 1, close, flat)
        cache.put("local", minutes)

    store(np.array([10.0, np.nan, 10.0, 10.0, 10.0]))
    with pytest.raises(DataError, match=r"BTC-USD: 1 problem: row 1 \(2024-01-01T00:01:00Z\) close is NaN"):
        load_bars("BTC-USD", "1m", source=LocalSource(cache))

    store(flat)
    with pytest.raises(DataError, match="1 gap"):
        load_bars("BTC-USD", "1m", source=LocalSource(cache), gaps="fail")
    filled = load_bars("BTC-USD", "1m", source=LocalSource(cache), gaps="fill-flat")["BTC-USD"]
    assert len(filled) == 7 and filled.synthetic is not None and filled.synthetic.sum() == 2


def test_a_file_source_names_the_products_it_holds(bench_file: Path) -> None:
    with pytest.raises(DataError, match="no DOGE-USD bars; the file holds BTC-USD, ETH-USD"):
        load_bars("DOGE-USD", "15m", source=f"file:{bench_file}")


def test_synthetic_candles_are_cached_per_seed(tmp_path: Path) -> None:
    settings = load_settings(cache_dir=tmp_path)
    span = ("2024-03-01", "2024-03-03")
    first = load_bars(["BTC-USD", "SOL-USD"], "15m", *span, source="synthetic:5", settings=settings)
    assert (tmp_path / "candles" / "synthetic-5" / "15m" / "SOL-USD.parquet").is_file()
    again = load_bars(["BTC-USD", "SOL-USD"], "15m", *span, source="synthetic:5", settings=settings)
    other_seed = load_bars("BTC-USD", "15m", *span, source="synthetic:6", settings=settings)
    assert len(first["BTC-USD"]) == 192
    assert first["BTC-USD"].fingerprint() == again["BTC-USD"].fingerprint()
    assert first["BTC-USD"].fingerprint() != other_seed["BTC-USD"].fingerprint()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"products": []}, "no product given"),
        ({"granularity": "7m"}, "unknown granularity '7m'"),
        (
            {"start": 1706745600, "end": "2024-01-01"},
            r"the end \(2024-01-01T00:00:00Z\) must come after the start \(2024-02-01T00:00:00Z\)",
        ),
        ({"source": "synthetic"}, "needs a start time"),
        ({"start": "soon", "source": "synthetic"}, "start 'soon'"),
        ({"source": "binance"}, "unknown source 'binance'"),
    ],
)
def test_requests_that_cannot_be_served_get_a_user_error(arguments: dict[str, object], message: str) -> None:
    request: dict[str, object] = {"products": "BTC-USD", "granularity": "1h", **arguments}
    with pytest.raises(UserError, match=message):
        load_bars(**request)  # type: ignore[arg-type]

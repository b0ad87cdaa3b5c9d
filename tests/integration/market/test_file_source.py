"""FileSource on real files (the benchmark Parquet, real Coinbase and FTX exports) and written ones."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gpt_trader.errors import DataError
from gpt_trader.market.bars import Bars
from gpt_trader.market.granularity import Granularity
from gpt_trader.market.sources.file import FileSource
from gpt_trader.market.sources.synthetic import SyntheticSource
from gpt_trader.market.validation import ProblemKind, check, validate

JAN_1 = 1_704_067_200  # 2024-01-01T00:00:00Z
FIELDS = ("open", "high", "low", "close", "volume")


# ---- real files ---------------------------------------------------------------------------------


def test_reads_the_benchmark_parquet(shared_dir: Path) -> None:
    path = shared_dir / "bench" / "ohlcv_1m.parquet"
    source = FileSource(path)
    bars = source.load_all()
    assert source.products() == ["BTC-USD", "ETH-USD", "LINK-USD", "MATIC-USD", "SOL-USD"]
    raw = pd.read_parquet(path)
    for product, product_bars in bars.items():
        assert (len(product_bars), product_bars.granularity) == (43_200, Granularity.ONE_MINUTE)
        assert product_bars.start == JAN_1 and product_bars.synthetic is None
        check(product_bars)
        rows = raw[raw["product_id"] == product]
        for name in FIELDS:
            assert np.array_equal(getattr(product_bars, name), rows[name].to_numpy()), (product, name)
    hour = source.fetch("ETH-USD", Granularity.ONE_MINUTE, JAN_1 + 3600, JAN_1 + 7200)
    assert (len(hour), hour.start) == (60, JAN_1 + 3600)


def test_reads_the_real_coinbase_hourly_export(shared_dir: Path) -> None:
    path = shared_dir / "data" / "real" / "coinbase_1h_BTC-ETH-LTC-USD_2017-07_2019-08.csv.gz"
    bars = FileSource(path).load_all()
    assert sorted(bars) == ["BTC-USD", "ETH-USD", "LTC-USD"]
    raw = pd.read_csv(path)
    # The export marks its gap fillers in zero_volume_fill: 28, 11 and 12 rows (see the data's notes).
    fillers = {"BTC-USD": 28, "ETH-USD": 11, "LTC-USD": 12}
    for product, product_bars in bars.items():
        assert (len(product_bars), product_bars.granularity) == (18_401, Granularity.ONE_HOUR)
        assert product_bars.synthetic is not None
        assert int(product_bars.synthetic.sum()) == fillers[product]
        check(product_bars)
        rows = raw[raw["product_id"] == product]
        assert np.array_equal(product_bars.time, rows["unix_s"].to_numpy())
        assert np.array_equal(product_bars.volume, rows["volume_base"].to_numpy())
        assert np.array_equal(product_bars.close, rows["close"].to_numpy())
    assert str(bars["BTC-USD"]).endswith("2017-07-01T11:00:00Z .. 2019-08-07T03:00:00Z)")


def test_reads_the_single_product_ftx_export_naming_it_from_the_file(shared_dir: Path) -> None:
    path = shared_dir / "data" / "real" / "ftx_btc-perp_1m_2021-12-31_2022-02-01.csv.gz"
    source = FileSource(path)
    assert source.products() == ["BTC-PERP"]
    bars = source.load_all()["BTC-PERP"]
    assert (len(bars), bars.granularity) == (45_031, Granularity.ONE_MINUTE)
    assert str(bars) == "Bars(BTC-PERP, 1m, 45031 bars, 2021-12-31T23:01:00Z .. 2022-02-01T05:31:00Z)"
    assert (bars.open[0], bars.close[0], bars.volume[0]) == (46319.0, 46377.0, 2300413.7295)
    check(bars)
    daily = source.fetch("BTC-PERP", Granularity.ONE_DAY, 0, 2**40)
    assert daily.time[0] == 1_640_908_800 and len(daily) == 33  # 2021-12-31 .. 2022-02-01


# ---- written files: layouts and formats ---------------------------------------------------------


def market(products: tuple[str, ...] = ("BTC-USD", "ETH-USD"), days: int = 2) -> dict[str, Bars]:
    source = SyntheticSource(seed=3)
    return {p: source.fetch(p, Granularity.FIVE_MINUTE, JAN_1, JAN_1 + days * 86_400) for p in products}


def long_frame(bars: dict[str, Bars], product_column: str = "product_id") -> pd.DataFrame:
    frames = []
    for product, product_bars in bars.items():
        frame = product_bars.to_frame().reset_index()
        frame.insert(0, product_column, product)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def wide_frame(bars: dict[str, Bars], separator: str) -> pd.DataFrame:
    columns = {
        f"{product}{separator}{name}": product_bars.to_frame()[name]
        for product, product_bars in bars.items()
        for name in FIELDS
    }
    return pd.DataFrame(columns).rename_axis("timestamp").reset_index()


def assert_same_bars(got: dict[str, Bars], expected: dict[str, Bars]) -> None:
    assert sorted(got) == sorted(expected)
    for product, product_bars in expected.items():
        assert got[product].granularity is product_bars.granularity
        assert got[product].fingerprint() == product_bars.fingerprint(), product


@pytest.mark.parametrize("suffix", [".csv", ".csv.gz", ".parquet"])
@pytest.mark.parametrize("layout", ["long", "wide", "wide-dotted", "single"])
def test_round_trips_every_layout_and_format(tmp_path: Path, layout: str, suffix: str) -> None:
    expected = market(("SOL-USD",) if layout == "single" else ("BTC-USD", "ETH-USD", "DOGE-USD"))
    frame = {
        "long": lambda: long_frame(expected, "symbol"),
        "wide": lambda: wide_frame(expected, "_"),
        "wide-dotted": lambda: wide_frame(expected, "."),
        "single": lambda: expected["SOL-USD"].to_frame().reset_index(),
    }[layout]()
    path = tmp_path / f"sol-usd_5m{suffix}"
    if suffix == ".parquet":
        frame.to_parquet(path)
    else:
        frame.to_csv(path, index=False)  # pandas writes ISO times; gzip from the suffix
    assert_same_bars(FileSource(path).load_all(), expected)


def test_parquet_written_from_bars_to_frame_reads_back(tmp_path: Path) -> None:
    expected = market(("LINK-USD",))
    path = tmp_path / "link-usd.parquet"
    expected["LINK-USD"].to_frame().to_parquet(path)  # the time stays the index
    assert_same_bars(FileSource(path).load_all(), expected)


def test_wide_products_may_span_different_times(tmp_path: Path) -> None:
    bars = market(("BTC-USD", "LTC-USD"))
    shorter = {"BTC-USD": bars["BTC-USD"], "LTC-USD": bars["LTC-USD"][100:400]}
    path = tmp_path / "wide.csv"
    wide_frame(shorter, "_").to_csv(path, index=False)
    assert_same_bars(FileSource(path).load_all(), shorter)


@pytest.mark.parametrize(("unit", "scale"), [("unix seconds", 1), ("unix milliseconds", 1000)])
def test_unix_times_are_read_by_magnitude(tmp_path: Path, unit: str, scale: int) -> None:
    expected = market(("BTC-USD",))["BTC-USD"]
    frame = expected.to_frame().reset_index(drop=True)
    frame.insert(0, "time", expected.time * scale)
    path = tmp_path / "prices.csv"
    frame.to_csv(path, index=False)
    assert_same_bars(FileSource(path, product_id="btc-usd").load_all(), {"BTC-USD": expected})


def test_file_order_is_kept_so_validation_can_name_bad_rows(tmp_path: Path) -> None:
    path = tmp_path / "eth-usd.csv"
    path.write_text(
        "date,open,high,low,close,volume\n"
        "2024-01-01T00:00:00Z,10,11,9,10.5,1\n"
        "2024-01-01T00:02:00Z,10,11,9,10.5,1\n"
        "2024-01-01T00:01:00Z,10,11,9,10.5,1\n"
        "2024-01-01T00:03:00Z,10,11,9,10.5,1\n"
        "2024-01-01T00:03:00Z,10,11,9,10.5,1\n"
    )
    bars = FileSource(path).load_all()["ETH-USD"]
    assert bars.time.tolist() == [JAN_1, JAN_1 + 120, JAN_1 + 60, JAN_1 + 180, JAN_1 + 180]
    found = [(problem.kind, problem.row) for problem in validate(bars)]
    assert found == [(ProblemKind.UNSORTED, 2), (ProblemKind.DUPLICATE_TIME, 4)]


def test_synthetic_column_and_granularity_argument(tmp_path: Path) -> None:
    path = tmp_path / "ltc-usd.csv"
    path.write_text(
        "timestamp,open,high,low,close,volume,synthetic\n"
        "1704067200,10,11,9,10.5,1,False\n"
        "1704070800,10.5,10.5,10.5,10.5,0,True\n"
        "1704074400,10,11,9,10.5,1,False\n"
    )
    bars = FileSource(path, granularity="1h").load_all()["LTC-USD"]
    assert bars.granularity is Granularity.ONE_HOUR
    assert bars.synthetic is not None and bars.synthetic.tolist() == [False, True, False]
    assert FileSource(path, granularity="15m").load_all()["LTC-USD"].granularity is Granularity.FIFTEEN_MINUTE


def test_a_multi_product_file_can_be_narrowed_to_one_product(tmp_path: Path) -> None:
    path = tmp_path / "market.parquet"
    long_frame(market(), "product").to_parquet(path)
    assert FileSource(path, product_id="ETH-USD").products() == ["ETH-USD"]
    with pytest.raises(DataError, match=r"market.parquet: no SOL-USD rows; the file holds BTC-USD, ETH-USD"):
        FileSource(path, product_id="SOL-USD").load_all()


def test_fetch_slices_resamples_and_refuses_what_it_cannot_serve(tmp_path: Path) -> None:
    expected = market()
    path = tmp_path / "market.csv"
    long_frame(expected).to_csv(path, index=False)
    source = FileSource(path)
    assert source.name == "file"
    window = source.fetch("BTC-USD", Granularity.FIVE_MINUTE, JAN_1 + 3600, JAN_1 + 7200)
    assert window.fingerprint() == expected["BTC-USD"].slice(JAN_1 + 3600, JAN_1 + 7200).fingerprint()
    hourly = source.fetch("BTC-USD", Granularity.ONE_HOUR, JAN_1, JAN_1 + 86_400)
    assert len(hourly) == 24 and hourly.high[0] == expected["BTC-USD"].high[:12].max()
    with pytest.raises(DataError, match=r"no DOGE-USD bars; the file holds BTC-USD, ETH-USD"):
        source.fetch("DOGE-USD", Granularity.FIVE_MINUTE, JAN_1, JAN_1 + 3600)
    with pytest.raises(DataError, match=r"holds 5m bars of BTC-USD; 1m bars cannot be made from them"):
        source.fetch("BTC-USD", Granularity.ONE_MINUTE, JAN_1, JAN_1 + 3600)


# ---- errors name the file and the column or row -------------------------------------------------

HEADER = "time,open,high,low,close,volume\n"
ROW = "2024-01-01T00:00:00Z,10,11,9,10.5,1\n"
NEXT = "2024-01-01T00:01:00Z,10,11,9,10.5,1\n"
NO_VOLUME = "time,open,high,low,close\n2024-01-01,1,2,1,2\n2024-01-02,1,2,1,2\n"
NO_LOW = "time,open,high,close,volume\n2024-01-01,1,2,2,1\n2024-01-02,1,2,2,1\n"
WIDE = "time,BTC-USD_open,BTC-USD_close\n2024-01-01,1,2\n"
LONG = "product_id," + HEADER + "BTC-USD," + ROW + "," + NEXT


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("btc-usd.csv", "when,open,high,low,close,volume\n1,2,3,1,2,1\n", r"no time column; name one of "),
        ("btc-usd.csv", HEADER + ROW + "noon,1,1,1,1,1\n", r"column 'time' row 1: 'noon' is not a time"),
        ("btc-usd.csv", HEADER + ROW + ",10,11,9,10.5,1\n", r"column 'time' row 1 has no time"),
        ("btc-usd.csv", HEADER + ROW + NEXT.replace(":00Z", ":00.5Z"), r"'time' row 1 is not a whole second"),
        ("btc-usd.csv", HEADER + ROW + NEXT.replace(",11,", ",x,"), r"'high' row 1: 'x' is not a number"),
        ("btc-usd.csv", NO_VOLUME, r"BTC-USD has no volume or volume_base column"),
        ("btc-usd.csv", NO_LOW, r"BTC-USD has no low column"),
        ("prices.csv", HEADER + ROW + NEXT, r"cannot tell which product this is: no product_id/product/"),
        ("btc-usd_eth-usd.csv", HEADER + ROW + NEXT, r"file name \(the name holds btc-usd, eth-usd\)"),
        ("btc-usd.csv", HEADER + ROW, r"one bar per product is too few to infer the granularity; pass it"),
        ("btc-usd.csv", HEADER + ROW + NEXT.replace(":01:", ":02:"), r"most common time step is 120 s, "),
        ("btc-usd.csv", HEADER, r"holds no rows"),
        ("btc-usd.csv", "", r"cannot be read"),
        ("btc-usd.json", "{}", r"unsupported file type; use .csv, .csv.gz or .parquet"),
        ("wide.csv", WIDE, r"wide columns of BTC-USD lack high, low"),
        ("long.csv", LONG, r"column 'product_id' row 1 has no product"),
    ],
)
def test_errors_name_the_file_and_what_is_wrong(
    tmp_path: Path, name: str, content: str, message: str
) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(DataError, match=message) as raised:
        FileSource(path).load_all()
    assert str(raised.value).startswith(str(path))


def test_missing_and_corrupt_files(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"no-such\.csv: no such file"):
        FileSource(tmp_path / "no-such.csv").load_all()
    broken = tmp_path / "btc-usd.csv.gz"
    broken.write_bytes(gzip.compress((HEADER + ROW + NEXT).encode())[:30])
    with pytest.raises(DataError, match=r"btc-usd\.csv\.gz: cannot be read"):
        FileSource(broken).load_all()
    not_parquet = tmp_path / "btc-usd.parquet"
    not_parquet.write_text(HEADER + ROW)
    with pytest.raises(DataError, match=r"btc-usd\.parquet: cannot be read"):
        FileSource(not_parquet).load_all()

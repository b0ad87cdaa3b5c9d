"""Candles from a CSV (optionally gzipped) or Parquet file, in the shapes exports come in.

Three layouts are understood:

- long: a product column (`product_id`, `product` or `symbol`) and one row per product and time;
- wide: one time column and columns named `{PRODUCT}_{field}` or `{PRODUCT}.{field}` (`BTC-USD_close`);
- single product: plain `open`/`high`/`low`/`close` columns; the product comes from the `product_id`
  argument (the `:PRODUCT` of a `file:PATH:PRODUCT` source) or, failing that, from the file name
  (`btc-usd_1m.csv`).

Rows keep the file's order: `validation.check` (run by the loader) then names unsorted or repeated
rows instead of this module hiding them by sorting. Product ids are upper-cased, as Coinbase writes them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from gpt_trader.errors import DataError
from gpt_trader.market.bars import Bars, infer_price_increment
from gpt_trader.market.granularity import Granularity, choices
from gpt_trader.market.resample import resample
from gpt_trader.market.sources.base import Progress

__all__ = ["FileSource"]

TIME_COLUMNS = ("time", "timestamp", "start", "date", "datetime", "unix_s", "time_utc")
PRODUCT_COLUMNS = ("product_id", "product", "symbol")
PRICE_FIELDS = ("open", "high", "low", "close")
VOLUME_COLUMNS = ("volume", "volume_base")
SYNTHETIC_COLUMNS = ("zero_volume_fill", "synthetic")
FILE_SUFFIXES = (".csv", ".csv.gz", ".parquet", ".pq")
_WIDE_COLUMN = re.compile(
    r"(?P<product>.+?)[_.](?P<field>open|high|low|close|volume_base|volume|zero_volume_fill|synthetic)",
    re.IGNORECASE,
)
_PRODUCT_IN_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]*-[A-Za-z][A-Za-z0-9]*")
# Unix times by magnitude: seconds stay below 1e11 until the year 5138, milliseconds below 1e14, ...
_TIME_UNITS = ((1e11, 1), (1e14, 1_000), (1e17, 1_000_000), (np.inf, 1_000_000_000))

Columns = Mapping[str, str]
"""A product's fields (open, high, low, close, volume...) mapped to the file's column names."""


class FileSource:
    """A `Source` over one file; it is read once, on first use, and kept in memory."""

    name = "file"

    def __init__(
        self,
        path: str | Path,
        product_id: str | None = None,
        granularity: Granularity | str | None = None,
    ) -> None:
        """`product_id` names the product of a single-product file (or keeps only that product of a
        multi-product one); `granularity` overrides the one inferred from the most common time step."""
        self.path = Path(path)
        self.product_id = product_id.strip().upper() if product_id else None
        self.granularity = None if granularity is None else Granularity.parse(granularity)
        self._bars: dict[str, Bars] | None = None

    @classmethod
    def from_spec(cls, argument: str) -> FileSource:
        """The source of `PATH` or `PATH:PRODUCT` (what follows `file:` in a source spec)."""
        path, product = split_product(argument)
        return cls(Path(path).expanduser(), product_id=product)

    def load_all(self) -> dict[str, Bars]:
        """Every product's bars in the file, rows in file order, unvalidated."""
        if self._bars is None:
            self._bars = _load(self.path, self.product_id, self.granularity)
        return self._bars

    def products(self) -> list[str]:
        return sorted(self.load_all())

    def fetch(
        self,
        product_id: str,
        granularity: Granularity,
        start: int,
        end: int,
        progress: Progress | None = None,
    ) -> Bars:
        """The file's bars of `product_id` with open time in [start, end), resampled if a coarser
        `granularity` is asked for."""
        every = self.load_all()
        if product_id not in every:
            raise DataError(f"{self.path}: no {product_id} bars; the file holds {', '.join(sorted(every))}")
        bars = every[product_id]
        wanted = Granularity.parse(granularity)
        if wanted.seconds < bars.granularity.seconds:
            raise DataError(
                f"{self.path}: holds {bars.granularity.short} bars of {product_id}; "
                f"{wanted.short} bars cannot be made from them"
            )
        bars = resample(bars, wanted)
        keep = (bars.time >= start) & (bars.time < end)
        if keep.all():
            return bars
        return Bars(
            bars.product_id,
            bars.granularity,
            bars.time[keep],
            bars.open[keep],
            bars.high[keep],
            bars.low[keep],
            bars.close[keep],
            bars.volume[keep],
            None if bars.synthetic is None else bars.synthetic[keep],
            bars.price_increment,
        )


def split_product(argument: str) -> tuple[str, str | None]:
    """`("x.csv", "BTC-USD")` for `x.csv:BTC-USD`, `("x.csv", None)` for `x.csv` (a Windows drive stays a path)."""
    path, colon, product = argument.rpartition(":")
    if colon and _PRODUCT_IN_NAME.fullmatch(product.strip()) and path.lower().endswith(FILE_SUFFIXES):
        return path, product.strip().upper()
    return argument, None


def _load(path: Path, product_id: str | None, granularity: Granularity | None) -> dict[str, Bars]:
    frame = _read(path)
    by_name = {str(column).strip().lower(): str(column) for column in frame.columns}
    time_column = next((by_name[name] for name in TIME_COLUMNS if name in by_name), None)
    if time_column is None:
        raise DataError(
            f"{path}: no time column; name one of {', '.join(TIME_COLUMNS)} "
            f"(columns found: {', '.join(map(str, frame.columns))})"
        )
    time = _unix_seconds(path, time_column, frame[time_column])
    numbers = _NumericColumns(path, frame)

    product_column = next((by_name[name] for name in PRODUCT_COLUMNS if name in by_name), None)
    layouts: dict[str, tuple[np.ndarray | None, Columns]]
    if product_column is not None:
        layouts = _long_layout(path, frame[product_column], by_name)
    elif not any(field in by_name for field in PRICE_FIELDS) and (wide := _wide_columns(path, frame)):
        layouts = {name: (_rows_with_prices(columns, numbers), columns) for name, columns in wide.items()}
    else:
        layouts = {product_id or _product_from_name(path): (None, by_name)}

    if product_id is not None:
        if product_id not in layouts:
            raise DataError(f"{path}: no {product_id} rows; the file holds {', '.join(sorted(layouts))}")
        layouts = {product_id: layouts[product_id]}

    times = {product: time if rows is None else time[rows] for product, (rows, _) in layouts.items()}
    values = {
        product: _product_columns(path, product, rows, columns, numbers)
        for product, (rows, columns) in layouts.items()
    }
    size = granularity or _infer_granularity(path, times.values())
    every = (Bars(product, size, times[product], *values[product]) for product in layouts)
    # The file is the whole history known at import, so its grid becomes each product's increment.
    return {bars.product_id: bars.with_price_increment(infer_price_increment(bars)) for bars in every}


def _read(path: Path) -> pd.DataFrame:
    name = path.name.lower()
    if not name.endswith(FILE_SUFFIXES):
        raise DataError(f"{path}: unsupported file type; use .csv, .csv.gz or .parquet")
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    try:
        frame = pd.read_csv(path) if ".csv" in name else pd.read_parquet(path)
    except (OSError, ValueError, EOFError) as exc:
        raise DataError(f"{path}: cannot be read: {exc}") from exc
    if frame.empty:
        raise DataError(f"{path}: holds no rows")
    # Parquet written from an indexed DataFrame (such as Bars.to_frame()) restores the time as the index.
    return frame if isinstance(frame.index, pd.RangeIndex) else frame.reset_index()


def _unix_seconds(path: Path, column: str, values: pd.Series) -> np.ndarray:
    if values.isna().any():
        raise DataError(f"{path}: column {column!r} row {_first(values.isna())} has no time")
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        raw = values.to_numpy()
        factor = next(factor for limit, factor in _TIME_UNITS if np.abs(raw).max() < limit)
        fractional = raw % factor != 0
        if fractional.any():
            raise DataError(f"{path}: column {column!r} row {_first(fractional)} is not a whole second")
        return (raw // factor).astype(np.int64)
    if pd.api.types.is_datetime64_any_dtype(values):
        stamps = pd.to_datetime(values, utc=True)
    else:
        stamps = pd.to_datetime(values, utc=True, format="ISO8601", errors="coerce")
        if stamps.isna().any():
            row = _first(stamps.isna())
            raise DataError(
                f"{path}: column {column!r} row {row}: {values.iloc[row]!r} is not a time "
                "(use ISO 8601 such as 2024-01-01T00:00:00Z, or Unix seconds or milliseconds)"
            )
    fractional = stamps.dt.floor("s") != stamps
    if fractional.any():
        raise DataError(f"{path}: column {column!r} row {_first(fractional)} is not a whole second")
    return stamps.astype("datetime64[s, UTC]").astype("int64").to_numpy()


class _NumericColumns:
    """Each column converted to float64 once, with an error naming the first cell that is not a number."""

    def __init__(self, path: Path, frame: pd.DataFrame) -> None:
        self.path = path
        self.frame = frame
        self.converted: dict[str, np.ndarray] = {}

    def __call__(self, column: str) -> np.ndarray:
        if column not in self.converted:
            raw = self.frame[column]
            numbers = pd.to_numeric(raw, errors="coerce")
            unreadable = numbers.isna() & raw.notna()
            if unreadable.any():
                row = _first(unreadable)
                value = raw.iloc[row]
                raise DataError(f"{self.path}: column {column!r} row {row}: {value!r} is not a number")
            self.converted[column] = numbers.to_numpy(dtype=np.float64, na_value=np.nan)
        return self.converted[column]


def _long_layout(
    path: Path, products: pd.Series, by_name: Columns
) -> dict[str, tuple[np.ndarray | None, Columns]]:
    codes, names = pd.factorize(products.astype("string").str.strip().str.upper())
    if (codes < 0).any():
        raise DataError(f"{path}: column {products.name!r} row {_first(codes < 0)} has no product")
    return {str(name): (np.flatnonzero(codes == code), by_name) for code, name in enumerate(names)}


def _wide_columns(path: Path, frame: pd.DataFrame) -> dict[str, Columns]:
    wide: dict[str, dict[str, str]] = {}
    for column in map(str, frame.columns):
        match = _WIDE_COLUMN.fullmatch(column.strip())
        if match:
            product = match["product"].strip().upper()
            wide.setdefault(product, {})[match["field"].lower()] = column
    for product, columns in wide.items():
        missing = [field for field in PRICE_FIELDS if field not in columns]
        if missing:
            raise DataError(f"{path}: wide columns of {product} lack {', '.join(missing)}")
    return dict(wide)


def _rows_with_prices(columns: Columns, numbers: _NumericColumns) -> np.ndarray | None:
    """A wide file spans its longest-listed product: rows where a product has no price are not its bars."""
    empty = np.logical_and.reduce([np.isnan(numbers(columns[field])) for field in PRICE_FIELDS])
    return np.flatnonzero(~empty) if empty.any() else None


def _product_from_name(path: Path) -> str:
    stem = re.sub(r"(\.csv|\.csv\.gz|\.parquet|\.pq)$", "", path.name, flags=re.IGNORECASE)
    found = [part for part in re.split(r"[_\s.]+", stem) if _PRODUCT_IN_NAME.fullmatch(part)]
    if len(found) != 1:
        seen = f" (the name holds {', '.join(found)})" if found else ""
        raise DataError(
            f"{path}: cannot tell which product this is: no {'/'.join(PRODUCT_COLUMNS)} column and no single "
            f"product id like BTC-USD in the file name{seen}; name it in the source, e.g. --source "
            f"file:{path}:BTC-USD (with `data import`: --product BTC-USD), or in the file name (btc-usd_1h.csv)"
        )
    return found[0].upper()


def _infer_granularity(path: Path, times: Iterable[np.ndarray]) -> Granularity:
    steps = np.concatenate([np.diff(np.unique(t)) for t in times])
    if len(steps) == 0:
        raise DataError(f"{path}: one bar per product is too few to infer the granularity; pass it")
    values, counts = np.unique(steps, return_counts=True)
    step = int(values[np.argmax(counts)])
    try:
        return Granularity.parse(step)
    except ValueError:
        raise DataError(
            f"{path}: the most common time step is {step} s, not a Coinbase granularity ({choices()}); "
            "resample the file or pass the granularity"
        ) from None


def _product_columns(
    path: Path,
    product: str,
    rows: np.ndarray | None,
    columns: Columns,
    numbers: Callable[[str], np.ndarray],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """A product's open, high, low, close, volume and synthetic flags (None without a flag column)."""
    def column(*fields: str) -> np.ndarray | None:
        name = next((columns[field] for field in fields if field in columns), None)
        if name is None:
            return None
        values = numbers(name)
        return values if rows is None else values[rows]

    wanted = [*((field,) for field in PRICE_FIELDS), VOLUME_COLUMNS]
    needed = {" or ".join(fields): column(*fields) for fields in wanted}
    missing = [fields for fields, values in needed.items() if values is None]
    if missing:
        raise DataError(f"{path}: {product} has no {', '.join(missing)} column")
    open_, high, low, close, volume = (values for values in needed.values() if values is not None)
    flags = column(*SYNTHETIC_COLUMNS)
    synthetic = None if flags is None else np.nan_to_num(flags) != 0
    return open_, high, low, close, volume, synthetic


def _first(mask: pd.Series | np.ndarray) -> int:
    return int(np.argmax(np.asarray(mask)))

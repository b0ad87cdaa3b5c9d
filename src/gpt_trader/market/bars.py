"""`Bars`: one product's candles as columns of NumPy arrays, the form every kernel reads.

Bars may carry the product's price increment (the grid every price sits on: 0.01 for BTC-USD), a fact
known before the first bar: from the exchange's product metadata, or fixed once when a file is imported
(`infer_price_increment`). Strategies then compare prices exactly as whole numbers of increments
(`strategies.ticks`); without one they use float arithmetic on every bar. Either way the choice never
depends on which bars happen to be in the array, so a trailing window and the full history agree.
"""

from __future__ import annotations

import builtins
import hashlib
import math
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np

from gpt_trader.market.granularity import Granularity

if TYPE_CHECKING:
    import pandas as pd

PRICE_COLUMNS = ("open", "high", "low", "close")
COLUMNS = ("time", *PRICE_COLUMNS, "volume")
MAX_DECIMALS = 12
"""The finest price increment `infer_price_increment` looks for is 10**-MAX_DECIMALS."""
MAX_TICKS = 2**31 - 1
"""The largest price, in increments, that exact arithmetic takes (BTC at $1,000,000 on a cent grid is
1e8): window sums of such prices times a window stay far inside int64."""
GRID_TOLERANCE = 1e-12
"""How far a price may stray from the grid, relative to its size in increments: float noise such as
0.1 + 0.2 = 0.30000000000000004 is ~1e-16 relative, while a price off the grid is a sizeable fraction
of an increment away (0.00001234 is 1.2e-5 of a whole-number increment: all of itself)."""


@dataclass(frozen=True, eq=False)
class Bars:
    """OHLCV candles of one product at one granularity, oldest first.

    `time` holds each bar's open time in Unix seconds (int64); prices and volume are float64.
    `synthetic` marks bars that a gap policy invented (`fill-flat`); it is None when there are none.
    `price_increment` is the product's price grid when it is known up front (see the module doc).
    Construction checks only shapes and dtypes; `market.validation.validate` checks the values, and
    `first_off_grid` finds a price off the increment.
    """

    product_id: str
    granularity: Granularity
    time: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    synthetic: np.ndarray | None = field(default=None)
    price_increment: float | None = field(default=None)

    def __post_init__(self) -> None:
        n = len(self.time)
        if self.price_increment is not None:
            increment = float(self.price_increment)
            if not (math.isfinite(increment) and increment > 0):
                raise ValueError(f"{self.product_id}: price increment must be a positive number, got {increment}")
            object.__setattr__(self, "price_increment", increment)
        coerce = object.__setattr__
        time = np.ascontiguousarray(self.time, dtype=np.int64)
        coerce(self, "time", time if time.flags.writeable else time.copy())
        for name in (*PRICE_COLUMNS, "volume"):
            column = np.ascontiguousarray(getattr(self, name), dtype=np.float64)
            if not column.flags.writeable:
                # Kernels compile once per array layout; read-only views (pandas 3 hands them out)
                # would cost a second compilation of every kernel.
                column = column.copy()
            if len(column) != n:
                raise ValueError(f"{self.product_id}: column {name} has {len(column)} rows, time has {n}")
            coerce(self, name, column)
        if self.synthetic is not None:
            flags = np.ascontiguousarray(self.synthetic, dtype=np.bool_)
            if len(flags) != n:
                raise ValueError(f"{self.product_id}: synthetic flags have {len(flags)} rows, time has {n}")
            coerce(self, "synthetic", flags if flags.any() else None)

    @classmethod
    def empty(cls, product_id: str, granularity: Granularity, price_increment: float | None = None) -> Bars:
        """No bars of `product_id` at `granularity`."""
        none = np.empty(0)
        return cls(product_id, granularity, none, none, none, none, none, none, None, price_increment)

    def __len__(self) -> int:
        return len(self.time)

    def __repr__(self) -> str:
        if len(self) == 0:
            return f"Bars({self.product_id}, {self.granularity.short}, empty)"
        return (
            f"Bars({self.product_id}, {self.granularity.short}, {len(self)} bars, "
            f"{iso_time(self.time[0])} .. {iso_time(self.time[-1])})"
        )

    @property
    def start(self) -> int:
        """Open time of the first bar (Unix seconds)."""
        return int(self.time[0])

    @property
    def end(self) -> int:
        """End of the last bar, exclusive (Unix seconds)."""
        return int(self.time[-1]) + self.granularity.seconds

    def slice(self, start: int | None = None, end: int | None = None) -> Bars:
        """The bars whose open time lies in [start, end)."""
        lo = 0 if start is None else int(np.searchsorted(self.time, start, side="left"))
        hi = len(self) if end is None else int(np.searchsorted(self.time, end, side="left"))
        return self[lo:hi]

    def __getitem__(self, index: builtins.slice) -> Bars:
        if not isinstance(index, builtins.slice):
            raise TypeError("Bars can be sliced by position (bars[a:b]); use to_frame() for single rows")
        if index.step not in (None, 1):
            return Bars(
                self.product_id,
                self.granularity,
                self.time[index],
                self.open[index],
                self.high[index],
                self.low[index],
                self.close[index],
                self.volume[index],
                None if self.synthetic is None else self.synthetic[index],
                self.price_increment,
            )
        # A run of rows of checked columns is contiguous, writeable and of one length already: skip
        # __post_init__, which costs several times the slicing (the engine cuts a window every bar).
        window = object.__new__(Bars)
        for name in ("product_id", "granularity", "price_increment"):
            object.__setattr__(window, name, getattr(self, name))
        for name in COLUMNS:
            object.__setattr__(window, name, getattr(self, name)[index])
        flags = None if self.synthetic is None else self.synthetic[index]
        object.__setattr__(window, "synthetic", flags if flags is not None and flags.any() else None)
        return window

    def with_price_increment(self, increment: float | None) -> Bars:
        """These bars with `increment` as their price grid (None: prices are compared as floats)."""
        return replace(self, price_increment=increment)

    def first_off_grid(self) -> tuple[int, str] | None:
        """(bar, column) of the first price (open, high, low or close) off the price increment, or None.

        A missing (NaN) price and one above `MAX_TICKS` increments count as off the grid: exact
        arithmetic cannot take them. Bars without an increment have no grid and give None.
        """
        if self.price_increment is None:
            return None
        first: tuple[int, str] | None = None
        for name in PRICE_COLUMNS:
            bad = np.flatnonzero(~on_grid(getattr(self, name), self.price_increment))
            if bad.size and (first is None or bad[0] < first[0]):
                first = (int(bad[0]), name)
        return first

    def fingerprint(self) -> str:
        """A short SHA-256 of the product, granularity and every value: equal data, equal fingerprint."""
        digest = hashlib.sha256(f"{self.product_id}|{self.granularity.seconds}".encode())
        for name in COLUMNS:
            digest.update(getattr(self, name).tobytes())
        # Bars without an increment keep the fingerprint they always had.
        if self.price_increment is not None:
            digest.update(f"|{self.price_increment!r}".encode())
        return digest.hexdigest()[:16]

    def to_frame(self) -> pd.DataFrame:
        """A DataFrame indexed by UTC open time with open, high, low, close, volume (and synthetic)."""
        import pandas as pd

        frame = pd.DataFrame(
            {name: getattr(self, name) for name in (*PRICE_COLUMNS, "volume")},
            index=pd.DatetimeIndex(pd.to_datetime(self.time, unit="s", utc=True), name="time"),
        )
        if self.synthetic is not None:
            frame["synthetic"] = self.synthetic
        frame.attrs["product_id"] = self.product_id
        frame.attrs["granularity"] = self.granularity.short
        if self.price_increment is not None:
            frame.attrs["price_increment"] = self.price_increment
        return frame

    @classmethod
    def from_frame(
        cls,
        frame: pd.DataFrame,
        product_id: str | None = None,
        granularity: Granularity | str | None = None,
        price_increment: float | None = None,
    ) -> Bars:
        """Build Bars from a DataFrame with open/high/low/close/volume columns and a time index or column.

        Times may be datetimes (naive ones are read as UTC) or Unix seconds. The product id, granularity
        and price increment default to the frame's `attrs` (as `to_frame` sets them).
        """
        import pandas as pd

        product = product_id or frame.attrs.get("product_id")
        size = granularity or frame.attrs.get("granularity")
        if not product or not size:
            raise ValueError("from_frame needs a product_id and a granularity (as arguments or frame.attrs)")
        missing = [c for c in (*PRICE_COLUMNS, "volume") if c not in frame.columns]
        if missing:
            raise ValueError(f"{product}: frame lacks column(s) {', '.join(missing)}")
        times = frame["time"] if "time" in frame.columns else frame.index.to_series()
        if pd.api.types.is_datetime64_any_dtype(times):
            stamps = pd.to_datetime(times, utc=True)
            seconds = stamps.astype("datetime64[s, UTC]").astype("int64").to_numpy()
        else:
            seconds = np.asarray(times, dtype=np.int64)
        synthetic = frame["synthetic"].to_numpy(dtype=bool) if "synthetic" in frame.columns else None
        return cls(
            str(product),
            Granularity.parse(size),
            seconds,
            frame["open"].to_numpy(),
            frame["high"].to_numpy(),
            frame["low"].to_numpy(),
            frame["close"].to_numpy(),
            frame["volume"].to_numpy(),
            synthetic,
            price_increment if price_increment is not None else frame.attrs.get("price_increment"),
        )


def on_grid(prices: np.ndarray, increment: float) -> np.ndarray:
    """Per price: whether it is a whole number of `increment`s (within float noise, see
    `GRID_TOLERANCE`) and at most `MAX_TICKS` of them. NaN and infinities are not on any grid."""
    with np.errstate(invalid="ignore", over="ignore"):
        scaled = np.asarray(prices, dtype=np.float64) / increment
        return (np.abs(scaled) <= MAX_TICKS) & (np.abs(scaled - np.rint(scaled)) <= GRID_TOLERANCE * np.abs(scaled))


def infer_price_increment(bars: Bars) -> float | None:
    """The coarsest decimal grid (1, 0.1, ..., 1e-12) every high, low and close sits on, or None.

    For fixing a product's increment once, when a whole file is imported; never for deciding
    arithmetic from the bars a strategy happens to see. Robust to float noise (see `GRID_TOLERANCE`);
    None also covers NaN, infinities and prices above `MAX_TICKS` increments. A grid coarser than the
    exchange's (all prices whole dollars) is still a grid: exactness only needs *a* common step.
    """
    prices = np.concatenate([bars.high, bars.low, bars.close])
    for decimals in range(MAX_DECIMALS + 1):
        increment = 10.0**-decimals
        if bool(on_grid(prices, increment).all()):
            return increment
    return None


def iso_time(seconds: int | np.integer) -> str:
    """`2024-01-01T00:03:00Z` for a Unix time in seconds."""
    return str(np.datetime64(int(seconds), "s")) + "Z"

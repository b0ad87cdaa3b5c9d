"""`Bars`: one product's candles as columns of NumPy arrays, the form every kernel reads."""

from __future__ import annotations

import builtins
import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from gpt_trader.market.granularity import Granularity

if TYPE_CHECKING:
    import pandas as pd

PRICE_COLUMNS = ("open", "high", "low", "close")
COLUMNS = ("time", *PRICE_COLUMNS, "volume")


@dataclass(frozen=True, eq=False)
class Bars:
    """OHLCV candles of one product at one granularity, oldest first.

    `time` holds each bar's open time in Unix seconds (int64); prices and volume are float64.
    `synthetic` marks bars that a gap policy invented (`fill-flat`); it is None when there are none.
    Construction checks only shapes and dtypes; `market.validation.validate` checks the values.
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

    def __post_init__(self) -> None:
        n = len(self.time)
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
        )

    def fingerprint(self) -> str:
        """A short SHA-256 of the product, granularity and every value: equal data, equal fingerprint."""
        digest = hashlib.sha256(f"{self.product_id}|{self.granularity.seconds}".encode())
        for name in COLUMNS:
            digest.update(getattr(self, name).tobytes())
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
        return frame

    @classmethod
    def from_frame(
        cls,
        frame: pd.DataFrame,
        product_id: str | None = None,
        granularity: Granularity | str | None = None,
    ) -> Bars:
        """Build Bars from a DataFrame with open/high/low/close/volume columns and a time index or column.

        Times may be datetimes (naive ones are read as UTC) or Unix seconds. The product id and
        granularity default to the frame's `attrs` (as `to_frame` sets them).
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
        )


def iso_time(seconds: int | np.integer) -> str:
    """`2024-01-01T00:03:00Z` for a Unix time in seconds."""
    return str(np.datetime64(int(seconds), "s")) + "Z"

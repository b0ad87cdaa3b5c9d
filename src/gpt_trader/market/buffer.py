"""A growable bar buffer per product: closed bars appended one at a time, read as `Bars`.

The columns live in NumPy arrays with spare room that doubles when full, so an append is amortised
O(1), and `view()` hands out `Bars` over the filled part without copying: the whole history, or the
trailing `window` bars a strategy evaluates on each closed bar. A view stays valid after later
appends (rows already written never change; growing moves the buffer to new arrays and leaves the
old ones to the views that hold them).
"""

from __future__ import annotations

import numpy as np

from gpt_trader.market.bars import Bars
from gpt_trader.market.events import BarClosed
from gpt_trader.market.granularity import Granularity

_FLOAT_COLUMNS = ("open", "high", "low", "close", "volume")


class BarBuffer:
    """The closed bars of one product at one granularity, oldest first."""

    def __init__(
        self,
        product_id: str,
        granularity: Granularity | str,
        capacity: int = 1024,
        *,
        price_increment: float | None = None,
    ) -> None:
        self.product_id = product_id
        self.granularity = Granularity.parse(granularity)
        self.price_increment = price_increment
        """The product's price grid, carried by every view (strategies compute on it as the backtest does)."""
        size = max(1, capacity)
        self._time = np.empty(size, dtype=np.int64)
        self._floats = {name: np.empty(size, dtype=np.float64) for name in _FLOAT_COLUMNS}
        self._synthetic = np.zeros(size, dtype=np.bool_)
        self._length = 0
        self._last_synthetic = -1
        """Row of the newest synthetic bar: a view after it needs no flags (Bars then holds None)."""

    @classmethod
    def from_bars(cls, bars: Bars) -> BarBuffer:
        """A buffer holding `bars` (a history to warm up on), ready for more."""
        buffer = cls(bars.product_id, bars.granularity, capacity=2 * len(bars), price_increment=bars.price_increment)
        count = len(bars)
        buffer._time[:count] = bars.time
        for name in _FLOAT_COLUMNS:
            buffer._floats[name][:count] = getattr(bars, name)
        if bars.synthetic is not None:
            buffer._synthetic[:count] = bars.synthetic
            buffer._last_synthetic = int(np.flatnonzero(bars.synthetic)[-1])
        buffer._length = count
        return buffer

    def __len__(self) -> int:
        return self._length

    @property
    def last_start(self) -> int | None:
        """Open time of the newest bar, None while empty."""
        return self.start_before()

    def start_before(self, end: int | None = None) -> int | None:
        """Open time of the newest bar as the buffer stood when it held `end` bars (default: now), None when it
        held none: `view(1, end=end)`'s time, without building the view."""
        count = self._length if end is None else min(end, self._length)
        return int(self._time[count - 1]) if count > 0 else None

    def append(self, bar: BarClosed) -> None:
        """Add the next closed bar; it must be of this product and granularity and newer than the last."""
        if bar.product_id != self.product_id or bar.granularity != self.granularity.seconds:
            raise ValueError(
                f"a {bar.product_id} bar of {bar.granularity} s cannot join the {self.product_id} "
                f"{self.granularity.short} buffer"
            )
        length = self._length
        if length and bar.start <= self._time[length - 1]:
            raise ValueError(
                f"{self.product_id}: the bar opening at {bar.start} is not newer than the last one "
                f"({int(self._time[length - 1])}); bars must arrive oldest first, each once"
            )
        if length == len(self._time):
            self._grow()
        self._time[length] = bar.start
        floats = self._floats
        floats["open"][length] = bar.open
        floats["high"][length] = bar.high
        floats["low"][length] = bar.low
        floats["close"][length] = bar.close
        floats["volume"][length] = bar.volume
        self._synthetic[length] = bar.synthetic
        if bar.synthetic:
            self._last_synthetic = length
        self._length = length + 1

    def view(self, window: int | None = None, *, end: int | None = None) -> Bars:
        """The whole history, or its last `window` bars, as Bars sharing the buffer's memory; with `end`,
        as it stood when it held `end` bars (rows never change, so that is the view taken then)."""
        end = self._length if end is None else min(end, self._length)
        start = 0 if window is None else max(0, end - window)
        floats = self._floats
        return Bars(
            self.product_id,
            self.granularity,
            self._time[start:end],
            floats["open"][start:end],
            floats["high"][start:end],
            floats["low"][start:end],
            floats["close"][start:end],
            floats["volume"][start:end],
            self._synthetic[start:end] if self._last_synthetic >= start else None,
            self.price_increment,
        )

    def _grow(self) -> None:
        size = 2 * len(self._time)
        self._time = _enlarged(self._time, size)
        self._floats = {name: _enlarged(column, size) for name, column in self._floats.items()}
        self._synthetic = _enlarged(self._synthetic, size)


def _enlarged(column: np.ndarray, size: int) -> np.ndarray:
    grown = np.zeros(size, dtype=column.dtype)
    grown[: len(column)] = column
    return grown

"""Technical indicators as Numba kernels: float64 arrays in, float64 arrays out, NaN while warming up.

Every function is compiled with `@njit(cache=True, nogil=True)`, so strategies may call them from their
own Numba code and sweeps may run them in threads. Inputs are contiguous float64 arrays (`bars.close`
and friends already are); windows count bars and must be at least 1.

NaN inputs, such as another indicator's warm-up, are handled the way a chain of indicators needs:

* window indicators (`sma`, `rolling_mean_std`, `rolling_std`, `rolling_max`, `rolling_min`,
  `rolling_quantile`) give NaN
  for every window that holds a NaN, as pandas does with `min_periods=window`;
* smoothed indicators (`ema`, `rsi`, Wilder `atr`) start over after a NaN: they wait for `window`
  finite values again and re-seed.

Moving sums carry a compensation term (Neumaier; `rolling_mean_std` sums each window afresh instead), and
a window whose values are all equal gives exactly that value (standard deviation exactly 0), so flat
stretches of prices do not turn into rounding noise.
Exact comparisons of moving averages in ticks of the bars' price increment live in `ticks`.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def _check_window(window: int) -> None:
    if window < 1:
        raise ValueError("indicator window must be at least 1 bar")


@njit(cache=True, nogil=True)
def _compensated_add(total: float, compensation: float, value: float) -> tuple[float, float]:
    """Neumaier summation step: `total + compensation` carries the rounding error `total` lost."""
    updated = total + value
    if abs(total) >= abs(value):
        compensation += (total - updated) + value
    else:
        compensation += (value - updated) + total
    return updated, compensation


@njit(cache=True, nogil=True)
def sma(values: np.ndarray, window: int) -> np.ndarray:
    """Simple moving average of the `window` values ending at each bar (NaN for the first window-1)."""
    _check_window(window)
    out = np.full(values.size, np.nan)
    total = 0.0
    compensation = 0.0
    nans = 0
    run = 0
    for i in range(values.size):
        value = values[i]
        if np.isnan(value):
            nans += 1
        else:
            total, compensation = _compensated_add(total, compensation, value)
        if i >= window:
            leaving = values[i - window]
            if np.isnan(leaving):
                nans -= 1
            else:
                total, compensation = _compensated_add(total, compensation, -leaving)
        run = run + 1 if i > 0 and value == values[i - 1] else 1
        if i >= window - 1 and nans == 0:
            out[i] = value if run >= window else (total + compensation) / window
    return out


@njit(cache=True, nogil=True)
def rolling_mean_std(values: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean and population standard deviation (ddof 0) of the `window` values ending at each bar.

    Each window is computed on its own, in two passes over its values (mean first, then squared
    deviations from it): accurate even for prices near 40,000 moving by cents, and a function of the
    window's values alone, so a trailing window gives the full history's bits (which running sums,
    carrying the rounding of every earlier bar, do not). O(window) per bar.
    """
    _check_window(window)
    mean = np.full(values.size, np.nan)
    deviation = np.full(values.size, np.nan)
    nans = 0
    run = 0
    for i in range(values.size):
        value = values[i]
        if np.isnan(value):
            nans += 1
        if i >= window and np.isnan(values[i - window]):
            nans -= 1
        run = run + 1 if i > 0 and value == values[i - 1] else 1
        if i < window - 1 or nans:
            continue
        if run >= window:
            mean[i], deviation[i] = value, 0.0
            continue
        total = 0.0
        for j in range(i - window + 1, i + 1):
            total += values[j]
        average = total / window
        squares = 0.0
        for j in range(i - window + 1, i + 1):
            squares += (values[j] - average) * (values[j] - average)
        mean[i], deviation[i] = average, np.sqrt(squares / window)
    return mean, deviation


@njit(cache=True, nogil=True)
def rolling_std(values: np.ndarray, window: int) -> np.ndarray:
    """Population standard deviation (ddof 0) of the `window` values ending at each bar (see
    `rolling_mean_std`: each window on its own, two passes)."""
    return rolling_mean_std(values, window)[1]


@njit(cache=True, nogil=True)
def bollinger(values: np.ndarray, window: int, num_std: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bollinger bands: (middle, middle + num_std·σ, middle − num_std·σ), from `rolling_mean_std`."""
    middle, deviation = rolling_mean_std(values, window)
    width = num_std * deviation
    return middle, middle + width, middle - width


@njit(cache=True, nogil=True)
def _smoothed(values: np.ndarray, window: int, alpha: float) -> np.ndarray:
    """Exponential smoothing seeded with the SMA of the first `window` finite values of each run."""
    out = np.full(values.size, np.nan)
    seen = 0
    seed = 0.0
    level = 0.0
    for i in range(values.size):
        value = values[i]
        if np.isnan(value):
            seen = 0
            seed = 0.0
            continue
        if seen < window:
            seed += value
            seen += 1
            if seen == window:
                level = seed / window
                out[i] = level
        else:
            level = alpha * value + (1.0 - alpha) * level
            out[i] = level
    return out


@njit(cache=True, nogil=True)
def ema(values: np.ndarray, window: int) -> np.ndarray:
    """Exponential moving average, alpha = 2 / (window + 1).

    Seeded with the SMA of the first `window` values (the first output is at bar window-1), as TA-Lib
    does, so the start does not depend on how much history happens to precede it beyond that.
    """
    _check_window(window)
    return _smoothed(values, window, 2.0 / (window + 1))


@njit(cache=True, nogil=True)
def wilder(values: np.ndarray, window: int) -> np.ndarray:
    """Wilder's smoothing (alpha = 1 / window), seeded with the SMA of the first `window` values."""
    _check_window(window)
    return _smoothed(values, window, 1.0 / window)


@njit(cache=True, nogil=True)
def rsi(values: np.ndarray, window: int) -> np.ndarray:
    """Relative Strength Index (0..100) with Wilder smoothing of gains and losses.

    The first value is at bar `window` (it needs `window` price changes). A window with neither gains
    nor losses gives 50.
    """
    _check_window(window)
    gains = np.full(values.size, np.nan)
    losses = np.full(values.size, np.nan)
    for i in range(1, values.size):
        change = values[i] - values[i - 1]
        if not np.isnan(change):
            gains[i] = max(change, 0.0)
            losses[i] = max(-change, 0.0)
    average_gain = wilder(gains, window)
    average_loss = wilder(losses, window)
    out = np.full(values.size, np.nan)
    for i in range(values.size):
        total = average_gain[i] + average_loss[i]
        if not np.isnan(total):
            out[i] = 50.0 if total == 0.0 else 100.0 * average_gain[i] / total
    return out


@njit(cache=True, nogil=True)
def true_range(high: np.ndarray, low: np.ndarray, close: np.ndarray) -> np.ndarray:
    """max(high − low, |high − previous close|, |low − previous close|); NaN at bar 0 (no previous close).

    Leaving bar 0 undefined (as TA-Lib does) keeps every later value a function of a fixed number of
    bars, so a truncated history gives the same true ranges as the full one.
    """
    out = np.full(high.size, np.nan)
    for i in range(1, high.size):
        previous = close[i - 1]
        out[i] = max(high[i] - low[i], abs(high[i] - previous), abs(low[i] - previous))
    return out


@njit(cache=True, nogil=True)
def atr(
    high: np.ndarray, low: np.ndarray, close: np.ndarray, window: int, use_wilder: bool = False
) -> np.ndarray:
    """Average true range: the simple mean of the last `window` true ranges, or Wilder's smoothing.

    The first value is at bar `window` either way (true range starts at bar 1).
    """
    ranges = true_range(high, low, close)
    return wilder(ranges, window) if use_wilder else sma(ranges, window)


@njit(cache=True, nogil=True)
def _rolling_extreme(values: np.ndarray, window: int, want_max: bool, exclude_current: bool) -> np.ndarray:
    """Sliding maximum (or minimum) with a monotonic deque of indices: O(1) amortised per bar."""
    _check_window(window)
    size = values.size
    out = np.full(size, np.nan)
    deque = np.empty(window, np.int64)
    head = 0
    length = 0
    nans = 0
    shift = 1 if exclude_current else 0
    for i in range(size):
        if length > 0 and deque[head] <= i - window:
            head = (head + 1) % window
            length -= 1
        if i >= window and np.isnan(values[i - window]):
            nans -= 1
        value = values[i]
        if np.isnan(value):
            nans += 1
        else:
            while length > 0:
                last = values[deque[(head + length - 1) % window]]
                if (last <= value) if want_max else (last >= value):
                    length -= 1
                else:
                    break
            deque[(head + length) % window] = i
            length += 1
        if i >= window - 1 and nans == 0 and i + shift < size:
            out[i + shift] = values[deque[head]]
    return out


@njit(cache=True, nogil=True)
def rolling_max(values: np.ndarray, window: int, exclude_current: bool = False) -> np.ndarray:
    """Highest of the `window` values ending at each bar; with `exclude_current`, of the `window` bars
    before it (bars i-window .. i-1), as a breakout compares a close with the range it broke out of."""
    return _rolling_extreme(values, window, True, exclude_current)


@njit(cache=True, nogil=True)
def rolling_min(values: np.ndarray, window: int, exclude_current: bool = False) -> np.ndarray:
    """Lowest of the `window` values ending at each bar (or, with `exclude_current`, before it)."""
    return _rolling_extreme(values, window, False, exclude_current)


@njit(cache=True, nogil=True, inline="always")
def _rank(ordered: np.ndarray, count: int, value: float) -> int:
    """How many of the first `count` (sorted) values lie below `value`: its insertion point.

    A branch-free count rather than a binary search: the window is short and the count vectorises,
    while a binary search's branches are mispredicted on real data (twice as slow here).
    """
    below = 0
    for k in range(count):
        below += ordered[k] < value
    return below


@njit(cache=True, nogil=True)
def rolling_quantile(values: np.ndarray, window: int, quantile: float) -> np.ndarray:
    """The `quantile` (0..1) of the `window` values ending at each bar, the current bar included.

    Linear interpolation between the two nearest ranks, computed as pandas' rolling quantile does
    (low + (high − low) · fraction, at rank quantile·(window−1)), so results agree to the bit. The
    window is kept sorted: each bar swaps the leaving value for the new one with one shift of the values
    ranked between them (see `_rank` for how both are found): O(window) at worst, far less than re-sorting.
    """
    _check_window(window)
    if not 0.0 <= quantile <= 1.0:
        raise ValueError("quantile must lie between 0 and 1")
    out = np.full(values.size, np.nan)
    ordered = np.empty(window)
    count = 0
    nans = 0
    position = quantile * (window - 1)
    rank = int(position)
    fraction = position - rank
    for i in range(values.size):
        value = values[i]
        leaving = values[i - window] if i >= window else np.nan
        if i >= window and not np.isnan(leaving) and not np.isnan(value):
            # Replace the leaving value by the new one with a single shift of the values between them.
            gone = _rank(ordered, count, leaving)
            at = _rank(ordered, count, value)
            if at > gone:
                for k in range(gone, at - 1):
                    ordered[k] = ordered[k + 1]
                ordered[at - 1] = value
            else:
                for k in range(gone, at, -1):
                    ordered[k] = ordered[k - 1]
                ordered[at] = value
        else:
            if i >= window:
                if np.isnan(leaving):
                    nans -= 1
                else:
                    gone = _rank(ordered, count, leaving)
                    for k in range(gone, count - 1):
                        ordered[k] = ordered[k + 1]
                    count -= 1
            if np.isnan(value):
                nans += 1
            else:
                at = _rank(ordered, count, value)
                for k in range(count, at, -1):
                    ordered[k] = ordered[k - 1]
                ordered[at] = value
                count += 1
        if i >= window - 1 and nans == 0:
            low = ordered[rank]
            out[i] = low if fraction == 0.0 else low + (ordered[rank + 1] - low) * fraction
    return out


@njit(cache=True, nogil=True)
def roc(values: np.ndarray, window: int) -> np.ndarray:
    """Rate of change over `window` bars as a fraction: values[i] / values[i − window] − 1 (0.05 = +5 %).

    The same expression as pandas' `pct_change(window)`, so the two agree to the bit.
    """
    _check_window(window)
    out = np.full(values.size, np.nan)
    for i in range(window, values.size):
        out[i] = values[i] / values[i - window] - 1.0
    return out


@njit(cache=True, nogil=True)
def crossover(fast: np.ndarray, slow: np.ndarray) -> np.ndarray:
    """True where `fast` crosses strictly above `slow`: fast < slow on the bar before, fast > slow now.

    A touch (equality) on either bar is not a cross; NaN never crosses.
    """
    out = np.zeros(fast.size, np.bool_)
    for i in range(1, fast.size):
        out[i] = fast[i - 1] < slow[i - 1] and fast[i] > slow[i]
    return out


@njit(cache=True, nogil=True)
def crossunder(fast: np.ndarray, slow: np.ndarray) -> np.ndarray:
    """True where `fast` crosses strictly below `slow` (see `crossover`)."""
    out = np.zeros(fast.size, np.bool_)
    for i in range(1, fast.size):
        out[i] = fast[i - 1] > slow[i - 1] and fast[i] < slow[i]
    return out

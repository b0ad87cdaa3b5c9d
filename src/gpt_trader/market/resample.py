"""Resampling candles to a coarser granularity, the way exchanges build their larger candles.

Buckets are left-closed and left-labelled and aligned to multiples of the target length since the
Unix epoch (so daily bars start at 00:00 UTC and 6-hour bars at 00, 06, 12, 18 UTC, as on Coinbase).
A bucket exists only if at least one source bar falls in it: a gap in the source stays a gap.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from gpt_trader.errors import DataError
from gpt_trader.market.bars import Bars
from gpt_trader.market.granularity import Granularity

__all__ = ["resample"]


def resample(bars: Bars, granularity: Granularity | str) -> Bars:
    """`bars` aggregated to `granularity`: first open, highest high, lowest low, last close, summed volume.

    The target must be a whole multiple of the source granularity. A bucket is synthetic only if every
    source bar in it is. The source must be sorted by time (as `validation.check` ensures).
    """
    target = Granularity.parse(granularity)
    source_seconds = bars.granularity.seconds
    if target.seconds % source_seconds != 0:
        raise DataError(
            f"{bars.product_id}: cannot resample {bars.granularity.short} bars to {target.short}; "
            f"the target must be a whole multiple of {bars.granularity.short}"
        )
    if target is bars.granularity:
        return bars
    if (np.diff(bars.time) < 0).any():
        raise DataError(f"{bars.product_id}: cannot resample bars that are not sorted by time")

    if len(bars) == 0:
        return dataclasses.replace(bars, granularity=target)

    bucket = bars.time // target.seconds * target.seconds
    starts = np.flatnonzero(np.r_[True, bucket[1:] != bucket[:-1]])
    ends = np.r_[starts[1:], len(bars)] - 1
    return Bars(
        bars.product_id,
        target,
        bucket[starts],
        bars.open[starts],
        np.maximum.reduceat(bars.high, starts),
        np.minimum.reduceat(bars.low, starts),
        bars.close[ends],
        np.add.reduceat(bars.volume, starts),
        None if bars.synthetic is None else np.logical_and.reduceat(bars.synthetic, starts),
        bars.price_increment,
    )

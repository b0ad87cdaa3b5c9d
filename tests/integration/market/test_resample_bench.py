"""resample on the benchmark file: 1-minute to 15-minute bars, as the benchmark workloads define them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from gpt_trader.market.granularity import Granularity
from gpt_trader.market.resample import resample
from gpt_trader.market.sources.file import FileSource
from gpt_trader.market.validation import validate


def test_fifteen_minute_bars_of_the_benchmark_match_pandas(shared_dir: Path) -> None:
    path = shared_dir / "bench" / "ohlcv_1m.parquet"
    raw = pd.read_parquet(path)
    for product, minute_bars in FileSource(path).load_all().items():
        bars = resample(minute_bars, Granularity.FIFTEEN_MINUTE)
        assert len(bars) == 2_880 and validate(bars) == []
        expected = (
            raw[raw["product_id"] == product]
            .set_index("time")
            .resample("15min", closed="left", label="left")
            .agg({"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"})
        )
        got = bars.to_frame()
        assert got.index.equals(expected.index), product
        for name in ("open", "high", "low", "close"):
            assert np.array_equal(got[name].to_numpy(), expected[name].to_numpy()), (product, name)
        np.testing.assert_allclose(got["volume"].to_numpy(), expected["volume"].to_numpy(), rtol=1e-12)

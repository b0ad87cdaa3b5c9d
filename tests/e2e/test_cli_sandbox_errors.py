"""`sandbox serve` refuses a start after its market data ends, saying before what the start must lie."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from tests.support.cli import gpt_trader


def test_a_start_after_the_data_names_the_end_it_must_come_before(tmp_path: Path) -> None:
    candles = tmp_path / "btc-usd_1h.csv"
    hours = pd.date_range("2024-01-01", periods=48, freq="h", tz="UTC")
    prices = 100 + np.arange(48.0)
    pd.DataFrame({"time": hours, "open": prices, "high": prices + 1, "low": prices - 1, "close": prices,
                  "volume": 1.0}).to_csv(candles, index=False)
    run = gpt_trader(
        "sandbox", "serve", "--source", f"file:{candles}", "-g", "1h", "--start", "2024-03-01", "--port", "0"
    )
    assert run.returncode == 2 and "Traceback" not in run.stderr
    end = "2024-01-03 00:00:00 UTC"
    assert f"the market data ends at {end}; choose a --start before {end}" in run.stderr

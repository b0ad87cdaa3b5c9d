"""The price increment is fixed up front and travels with the bars: import, cache, load, resample, gaps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gpt_trader.config import load_settings
from gpt_trader.errors import DataError
from gpt_trader.market.bars import Bars
from gpt_trader.market.cache import CandleCache
from gpt_trader.market.gaps import apply_gap_policy
from gpt_trader.market.granularity import Granularity
from gpt_trader.market.load import load_bars
from gpt_trader.market.sources import FileSource
from gpt_trader.market.validation import ProblemKind, check, validate

INCREMENTS = {"BTC-USD": 0.01, "ETH-USD": 0.01, "SOL-USD": 0.001, "LINK-USD": 0.001, "MATIC-USD": 0.0001}


def test_a_file_import_fixes_each_products_increment_and_the_cache_keeps_it(
    shared_dir: Path, tmp_path: Path
) -> None:
    imported = FileSource(shared_dir / "bench" / "ohlcv_1m.parquet").load_all()
    assert {product: bars.price_increment for product, bars in imported.items()} == INCREMENTS
    settings = load_settings(cache_dir=tmp_path)
    cache = CandleCache(settings.cache_dir)
    for bars in imported.values():
        cache.put("local", bars)
    stored = cache.read("local", "SOL-USD", Granularity.ONE_MINUTE)
    assert stored is not None and stored.bars.price_increment == 0.001
    assert stored.bars.fingerprint() == imported["SOL-USD"].fingerprint()
    loaded = load_bars(list(INCREMENTS), "1h", source="local", settings=settings)
    assert {product: bars.price_increment for product, bars in loaded.items()} == INCREMENTS


def test_synthetic_bars_carry_their_products_tick_through_the_cache(tmp_path: Path) -> None:
    settings = load_settings(cache_dir=tmp_path)
    first = load_bars(["BTC-USD", "POL-USD"], "5m", "2024-01-01", "2024-01-03", "synthetic:3", settings=settings)
    again = load_bars(["BTC-USD"], "5m", "2024-01-01", "2024-01-02", "synthetic:3", settings=settings)
    assert (first["BTC-USD"].price_increment, first["POL-USD"].price_increment) == (0.01, 0.0001)
    assert again["BTC-USD"].price_increment == 0.01
    assert first["BTC-USD"].first_off_grid() is None and first["POL-USD"].first_off_grid() is None


def test_gap_filling_keeps_the_increment() -> None:
    hour = 3_600
    prices = np.array([10.25, 10.5, 10.75])
    bars = Bars(
        "ETH-USD", Granularity.ONE_HOUR, np.array([0, hour, 3 * hour]), prices, prices, prices, prices, prices,
        price_increment=0.25,
    )
    filled = apply_gap_policy(bars, "fill-flat")
    assert len(filled) == 4 and filled.price_increment == 0.25 and filled.first_off_grid() is None


def test_the_increment_survives_slices_frames_and_refuses_nonsense() -> None:
    prices = np.array([1.5, 2.0, 2.5])
    bars = Bars("X-USD", Granularity.ONE_MINUTE, np.arange(3) * 60, prices, prices, prices, prices, prices)
    assert bars.price_increment is None and bars.first_off_grid() is None
    on_halves = bars.with_price_increment(0.5)
    assert on_halves[1:].price_increment == 0.5
    assert Bars.from_frame(on_halves.to_frame()).price_increment == 0.5
    # Without an increment the fingerprint is the one such bars always had; with one it differs.
    assert bars.fingerprint() != on_halves.fingerprint() == on_halves[:].fingerprint()
    assert bars.with_price_increment(1.0).first_off_grid() == (0, "open")
    with pytest.raises(ValueError, match=r"X-USD: price increment must be a positive number, got 0\.0"):
        bars.with_price_increment(0.0)


def test_validation_names_a_price_off_the_increment() -> None:
    prices = np.array([10.25, 10.5, 10.75, 11.0])
    highs = np.array([10.25, 10.6, 10.75, 11.0])
    bars = Bars("ETH-USD", Granularity.ONE_HOUR, np.arange(4) * 3600, prices, highs, prices, prices, prices, None, 0.25)
    [problem] = validate(bars)
    assert (problem.kind, problem.row, problem.rows) == (ProblemKind.PRICE_OFF_INCREMENT, 1, 1)
    assert str(problem) == (
        "row 1 (1970-01-01T01:00:00Z) high 10.6 not a whole number of the price increment 0.25 "
        "(at most 2,147,483,647 of them)"
    )
    assert validate(bars.with_price_increment(0.05)) == []
    assert validate(bars.with_price_increment(None)) == []
    with pytest.raises(DataError, match=r"ETH-USD: 1 problem: row 1 .* high 10\.6 not a whole number"):
        check(bars)

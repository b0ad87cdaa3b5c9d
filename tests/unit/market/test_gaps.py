"""gaps: missing bars are found and reported; the policy keeps, fills (flagged) or refuses them."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpt_trader.errors import ConfigError, DataError
from gpt_trader.market.bars import Bars
from gpt_trader.market.gaps import Gap, GapPolicy, apply_gap_policy, find_gaps
from gpt_trader.market.granularity import Granularity
from gpt_trader.market.validation import validate

JAN_1 = 1_704_067_200  # 2024-01-01T00:00:00Z


def bars_at(slots: list[int] | np.ndarray, synthetic: list[bool] | None = None) -> Bars:
    """1-minute bars at the given minute slots after JAN_1, with distinct prices per row."""
    slots = np.asarray(slots, dtype=np.int64)
    close = 100.0 + np.arange(len(slots))
    return Bars(
        "ETH-USD",
        Granularity.ONE_MINUTE,
        JAN_1 + 60 * slots,
        close - 0.5,
        close + 1.0,
        close - 1.0,
        close,
        np.full(len(slots), 2.0),
        synthetic,
    )


def test_no_gaps() -> None:
    report = find_gaps(bars_at([0, 1, 2, 3]))
    assert (report.count, report.missing_bars, report.longest, report.gaps) == (0, 0, None, ())
    assert report.summary() == "ETH-USD 1m: no gaps"
    assert find_gaps(bars_at([])).count == 0


def test_gaps_are_counted_measured_and_summarised() -> None:
    report = find_gaps(bars_at([0, 1, 4, 5, 6, 10, 12]))
    assert report.gaps == (
        Gap(JAN_1 + 120, JAN_1 + 240, 2),
        Gap(JAN_1 + 420, JAN_1 + 600, 3),
        Gap(JAN_1 + 660, JAN_1 + 720, 1),
    )
    assert (report.count, report.missing_bars) == (3, 6)
    assert report.longest == Gap(JAN_1 + 420, JAN_1 + 600, 3)
    assert report.summary() == (
        "ETH-USD 1m: 3 gaps, 6 bars missing; "
        "longest 2024-01-01T00:07:00Z to 2024-01-01T00:10:00Z (3 bars missing)"
    )


@pytest.mark.parametrize(
    ("text", "policy"),
    [
        ("keep", GapPolicy.KEEP),
        ("fill-flat", GapPolicy.FILL_FLAT),
        (" FILL_FLAT ", GapPolicy.FILL_FLAT),
        ("Fail", GapPolicy.FAIL),
        (GapPolicy.FAIL, GapPolicy.FAIL),
    ],
)
def test_policy_parsing(text: str | GapPolicy, policy: GapPolicy) -> None:
    assert GapPolicy.parse(text) is policy


def test_an_unknown_policy_names_the_choices() -> None:
    with pytest.raises(ConfigError, match=r"unknown gap policy 'fill'; choose one of keep, fill-flat, fail"):
        GapPolicy.parse("fill")


def test_keep_is_the_default_and_returns_the_bars_unchanged() -> None:
    bars = bars_at([0, 3, 4])
    assert apply_gap_policy(bars) is bars
    assert apply_gap_policy(bars, "keep") is bars


def test_fail_names_the_product_the_first_gap_and_the_ways_out() -> None:
    with pytest.raises(DataError) as raised:
        apply_gap_policy(bars_at([0, 3, 4, 9]), GapPolicy.FAIL)
    message = str(raised.value)
    assert message.startswith("ETH-USD: 2 gap(s) in 1m bars, the first from 2024-01-01T00:01:00Z to ")
    assert "(2 bars missing)" in message
    assert "`--gaps keep`" in message and "`--gaps fill-flat`" in message
    complete = bars_at([0, 1, 2])
    assert apply_gap_policy(complete, "fail") is complete


def test_fill_flat_inserts_flagged_flat_bars_at_the_previous_close() -> None:
    bars = bars_at([0, 1, 4, 6])
    filled = apply_gap_policy(bars, "fill-flat")
    assert filled.time.tolist() == (JAN_1 + 60 * np.arange(7)).tolist()
    assert filled.synthetic is not None
    assert filled.synthetic.tolist() == [False, False, True, True, False, True, False]
    inserted = filled.synthetic
    for name in ("open", "high", "low", "close", "volume"):
        assert getattr(filled, name)[~inserted].tolist() == getattr(bars, name).tolist()
    assert filled.close[inserted].tolist() == [101.0, 101.0, 102.0]
    for name in ("open", "high", "low"):
        assert getattr(filled, name)[inserted].tolist() == filled.close[inserted].tolist()
    assert filled.volume[inserted].tolist() == [0.0, 0.0, 0.0]
    assert validate(filled) == [] and find_gaps(filled).count == 0


def test_fill_flat_keeps_flags_the_source_already_had() -> None:
    filled = apply_gap_policy(bars_at([0, 1, 3], synthetic=[False, True, False]), GapPolicy.FILL_FLAT)
    assert filled.synthetic is not None
    assert filled.synthetic.tolist() == [False, True, True, False]


def test_fill_flat_refuses_times_it_cannot_place() -> None:
    unsorted = bars_at([0, 3, 2])
    with pytest.raises(DataError, match="ETH-USD: cannot fill gaps in bars whose times are unsorted"):
        apply_gap_policy(unsorted, "fill-flat")


@settings(max_examples=60, deadline=None)
@given(present=st.lists(st.booleans(), min_size=1, max_size=80).filter(any))
def test_fill_flat_completes_any_grid(present: list[bool]) -> None:
    slots = np.flatnonzero(present)
    bars = bars_at(slots)
    report = find_gaps(bars)
    filled = apply_gap_policy(bars, GapPolicy.FILL_FLAT)
    span = int(slots[-1] - slots[0]) + 1
    assert len(filled) == span == len(bars) + report.missing_bars
    assert (np.diff(filled.time) == 60).all()
    inserted = np.zeros(span, dtype=bool) if filled.synthetic is None else filled.synthetic
    assert int(inserted.sum()) == report.missing_bars
    assert filled.close[~inserted].tolist() == bars.close.tolist()
    # A flat bar repeats the close of the last real bar before it.
    last_real = np.maximum.accumulate(np.where(~inserted, np.arange(span), 0))
    assert (filled.close == filled.close[last_real]).all()

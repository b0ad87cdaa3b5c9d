"""Reading a cache file's columns straight from the Arrow buffers gives what pyarrow's own conversion gives."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gpt_trader.market.cache import _arrow, _values


def chunked(values: list, arrow_type: pa.DataType, split: int, skip: int) -> pa.ChunkedArray:
    """`values` as chunks cut at `split`, each chunk a slice (a non-zero offset into a wider buffer)."""
    padded = pa.array([values[0]] * skip + values, type=arrow_type) if values else pa.array([], type=arrow_type)
    sliced = padded.slice(skip if values else 0)
    return pa.chunked_array([sliced.slice(0, split), sliced.slice(split)], type=arrow_type)


@given(st.lists(st.floats(allow_nan=True), max_size=40), st.integers(0, 40), st.integers(0, 9))
def test_floats_read_as_pyarrow_reads_them(values: list[float], split: int, skip: int) -> None:
    column = chunked(values, pa.float64(), min(split, len(values)), skip)
    read = _values(column, np.float64)
    assert read.dtype == np.float64 and read.flags.writeable
    np.testing.assert_array_equal(read, np.array(values, dtype=np.float64))


@given(st.lists(st.booleans(), max_size=40), st.integers(0, 40), st.integers(0, 9))
def test_flags_packed_eight_to_a_byte_read_at_any_offset(values: list[bool], split: int, skip: int) -> None:
    column = chunked(values, pa.bool_(), min(split, len(values)), skip)
    read = _values(column, np.bool_)
    assert read.dtype == np.bool_
    assert read.tolist() == values


def test_timestamps_read_as_their_milliseconds() -> None:
    milliseconds = [0, 900_000, 1_794_009_600_000]
    column = pa.chunked_array([pa.array(milliseconds, type=pa.timestamp("ms", tz="UTC")).slice(1)])
    assert _values(column, np.int64).tolist() == milliseconds[1:]


def test_a_missing_value_is_a_damaged_file() -> None:
    with pytest.raises(ValueError, match="1 missing value"):
        _values(pa.chunked_array([pa.array([1.0, None])]), np.float64)


@given(st.lists(st.floats(allow_nan=True), max_size=40), st.lists(st.booleans(), max_size=40))
def test_columns_written_through_their_buffers_read_back_unchanged(floats: list[float], flags: list[bool]) -> None:
    for values, arrow_type, dtype in ((floats, pa.float64(), np.float64), (flags, pa.bool_(), np.bool_)):
        array = _arrow(np.array(values, dtype=dtype), arrow_type)
        array.validate(full=True)
        assert array.type == arrow_type and array.null_count == 0
        np.testing.assert_array_equal(np.array(array.to_pylist(), dtype=dtype), np.array(values, dtype=dtype))
        np.testing.assert_array_equal(_values(pa.chunked_array([array]), dtype), np.array(values, dtype=dtype))

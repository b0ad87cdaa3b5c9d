"""`parse` fuzzed with broken frames (Hypothesis): nothing escapes, and a broken frame is never taken for a good one."""

from __future__ import annotations

import copy
import json
from typing import Any, get_args

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpt_trader.coinbase.messages import Malformed, Message, MessageParser, parse
from tests.support.fixtures import WS_FRAMES

MESSAGE_TYPES = get_args(Message)
FUZZ = settings(max_examples=150, deadline=None)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)


@pytest.fixture(scope="module")
def frames() -> list[bytes]:
    """One small frame of each channel and event type of the real capture (snapshots of books are megabytes)."""
    chosen: dict[tuple[str, str], bytes] = {}
    for frame in WS_FRAMES.read_bytes().splitlines():
        document = json.loads(frame)
        kind = (document["channel"], document["events"][0].get("type", ""))
        if len(frame) < 4000 and kind not in chosen:
            chosen[kind] = frame
    return list(chosen.values())


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a JSON document where a value sits."""
    found = [prefix] if prefix else []
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in children:
        found += paths(child, (*prefix, key))
    return found


def test_the_fuzz_pool_covers_every_channel(frames: list[bytes]) -> None:
    channels = {json.loads(frame)["channel"] for frame in frames}
    assert channels == {"l2_data", "ticker", "market_trades", "heartbeats", "candles", "subscriptions"}


@FUZZ
@given(data=st.data())
def test_a_truncated_frame_is_malformed(frames: list[bytes], data: st.DataObject) -> None:
    frame = data.draw(st.sampled_from(frames))
    cut = data.draw(st.integers(0, len(frame) - 1))
    message = parse(frame[:cut])
    assert isinstance(message, Malformed) and message.raw == frame[:cut]


@FUZZ
@given(data=st.data())
def test_flipped_bytes_never_escape(frames: list[bytes], data: st.DataObject) -> None:
    frame = bytearray(data.draw(st.sampled_from(frames)))
    for _ in range(data.draw(st.integers(1, 4))):
        frame[data.draw(st.integers(0, len(frame) - 1))] = data.draw(st.integers(0, 255))
    parser = MessageParser()
    assert isinstance(parser.parse(bytes(frame)), MESSAGE_TYPES)
    assert sum(parser.counts.values()) >= 1


@FUZZ
@given(data=st.data(), value=json_values)
def test_a_value_of_the_wrong_type_anywhere_never_escapes(frames: list[bytes], data: st.DataObject, value: Any) -> None:
    document = json.loads(data.draw(st.sampled_from(frames)))
    where = data.draw(st.sampled_from(paths(document)))
    broken = copy.deepcopy(document)
    parent = broken
    for key in where[:-1]:
        parent = parent[key]
    parent[where[-1]] = value
    message = parse(json.dumps(broken))
    assert isinstance(message, MESSAGE_TYPES)
    if where != ("channel",) and type(value) is type(document_value(document, where)) is str:
        assert not isinstance(message, Malformed), "a string where a string belongs is still a good message"


def document_value(document: Any, where: tuple[Any, ...]) -> Any:
    for key in where:
        document = document[key]
    return document


@FUZZ
@given(frame=st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_arbitrary_input_never_escapes(frame: bytes) -> None:
    assert isinstance(parse(frame), MESSAGE_TYPES)

"""Decoding of WebSocket messages: the real capture, the user channel fixture, and what is not a message."""

from __future__ import annotations

import gzip
import json
import logging
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from gpt_trader.coinbase.messages import (
    CandlesMessage,
    ErrorMessage,
    HeartbeatsMessage,
    Level2Message,
    Malformed,
    MarketTradesMessage,
    MessageParser,
    StatusMessage,
    SubscriptionsMessage,
    TickerBatchMessage,
    TickerMessage,
    UnknownMessage,
    UserMessage,
    parse,
)
from tests.support.fixtures import WS_FIXTURES

CAPTURE = "data/real/coinbase_advtrade_ws_BTC-ETH_2026-08-09.jsonl.gz"


@pytest.fixture(scope="module")
def capture(shared_dir: Path) -> list[bytes]:
    return gzip.decompress((shared_dir / CAPTURE).read_bytes()).splitlines()


def test_every_message_of_the_real_capture_is_read_without_a_warning(
    capture: list[bytes], caplog: pytest.LogCaptureFixture
) -> None:
    parser = MessageParser()
    with caplog.at_level(logging.DEBUG, logger="gpt_trader"):
        messages = [parser.parse(frame) for frame in capture]
    assert not caplog.records
    assert len(messages) == 1030
    assert parser.counts == {
        "l2_data": 775,
        "ticker": 160,
        "market_trades": 59,
        "heartbeats": 25,
        "candles": 6,
        "subscriptions": 5,
    }
    assert Counter(type(message).__name__ for message in messages) == {
        "Level2Message": 775,
        "TickerMessage": 160,
        "MarketTradesMessage": 59,
        "HeartbeatsMessage": 25,
        "CandlesMessage": 6,
        "SubscriptionsMessage": 5,
    }
    assert [message.sequence_num for message in messages] == list(range(1030))


def test_decoded_fields_equal_the_json_of_the_capture(capture: list[bytes]) -> None:
    """Every level, ticker, trade and candle, field by field, against the standard library's reading."""
    level_fields = ("side", "price_level", "new_quantity", "event_time")
    checked: Counter[str] = Counter()
    for frame in capture:
        document, message = json.loads(frame), parse(frame)
        assert message.timestamp == document["timestamp"] and message.client_id == ""
        for event, expected in zip(message.events, document["events"], strict=True):
            if isinstance(message, Level2Message):
                assert (event.type, event.product_id) == (expected["type"], expected["product_id"])
                assert [tuple(getattr(u, f) for f in level_fields) for u in event.updates] == [
                    tuple(u[f] for f in level_fields) for u in expected["updates"]
                ]
                checked["levels"] += len(event.updates)
            elif isinstance(message, TickerMessage):
                assert [_fields(ticker) for ticker in event.tickers] == expected["tickers"]
                checked["tickers"] += 1
            elif isinstance(message, MarketTradesMessage):
                assert [_fields(trade) for trade in event.trades] == expected["trades"]
            elif isinstance(message, CandlesMessage):
                assert [_fields(candle) for candle in event.candles] == expected["candles"]
            elif isinstance(message, HeartbeatsMessage):
                assert (event.heartbeat_counter, event.current_time) == (
                    expected["heartbeat_counter"],
                    expected["current_time"],
                )
            elif isinstance(message, SubscriptionsMessage):
                assert event.subscriptions == expected["subscriptions"]
    assert checked == {"levels": 29124 + 45069, "tickers": 160}


def _fields(struct: Any) -> dict[str, Any]:
    return {name: getattr(struct, name) for name in struct.__struct_fields__}


def test_the_user_channel_fixture_reads_with_exact_decimals() -> None:
    message = parse((WS_FIXTURES / "ws_user.json").read_bytes())
    assert isinstance(message, UserMessage) and message.sequence_num == 1
    (event,) = message.events
    (order,) = event.orders
    assert event.type == "snapshot" and event.positions == {}
    assert (order.order_id, order.client_order_id) == (
        "00000000-0000-4000-8000-000000000101", "00000000-0000-4000-8000-000000000201"
    )
    assert (order.status, order.order_side, order.order_type, order.product_id) == ("OPEN", "BUY", "Limit", "BTC-USD")
    assert Decimal(order.leaves_quantity) == Decimal("0.002")
    assert Decimal(order.total_value_after_fees) == Decimal("130.78000000")
    assert order.time_in_force == "GOOD_UNTIL_CANCELLED" and order.limit_price == ""


def test_the_error_message_is_typed() -> None:
    message = parse('{"type": "error", "message": "authentication failure"}')
    assert message == ErrorMessage(message="authentication failure")


def test_a_message_without_client_id_and_with_unknown_fields_reads() -> None:
    frame = {
        "channel": "ticker_batch",
        "timestamp": "2026-08-09T21:05:48Z",
        "sequence_num": 7,
        "brand_new_field": {"x": 1},
        "events": [{"type": "snapshot", "tickers": [{"product_id": "SOL-USD", "price": "140.1", "extra": 3}]}],
    }
    message = parse(json.dumps(frame))
    assert isinstance(message, TickerBatchMessage) and message.client_id == ""
    assert message.events[0].tickers[0].price == "140.1" and message.events[0].tickers[0].best_bid == ""


def test_the_status_channel_reads() -> None:
    product = {"product_type": "SPOT", "id": "BTC-USD", "base_increment": "0.00000001", "status": "online"}
    event = {"type": "snapshot", "products": [product]}
    message = parse(json.dumps({"channel": "status", "sequence_num": 0, "events": [event]}))
    assert isinstance(message, StatusMessage)
    assert message.events[0].products[0].id == "BTC-USD" and message.events[0].products[0].min_market_funds == ""


def test_unknown_channels_and_event_types_pass_through_counted() -> None:
    parser = MessageParser()
    unknown = parser.parse(b'{"channel": "futures_balance_summary", "sequence_num": 4, "events": [{}]}')
    assert isinstance(unknown, UnknownMessage) and (unknown.channel, unknown.sequence_num) == (
        "futures_balance_summary",
        4,
    )
    new_type = parser.parse(
        b'{"channel": "l2_data", "sequence_num": 5, "events": [{"type": "partial", "product_id": "X", "updates": []}]}'
    )
    assert isinstance(new_type, Level2Message) and new_type.events[0].type == "partial"
    assert parser.counts == {"unknown_channel": 1, "l2_data": 1, "unknown_event_type": 1}


@pytest.mark.parametrize(
    ("frame", "channel", "sequence_num", "reason"),
    [
        (b"", "", None, "truncated"),
        (b'{"channel": "ticker", "sequence_num": 3, "events": [', "", None, "truncated"),
        (b"[1, 2]", "", None, "Expected `object`"),
        (b"\xff\xfe{}", "", None, "malformed"),
        (b'{"channel": "ticker", "sequence_num": "3", "events": []}', "ticker", None, "$.sequence_num"),
        (b'{"channel": "ticker", "events": []}', "ticker", None, "sequence_num"),
        (
            b'{"channel":"l2_data","sequence_num":9,"events":[{"type":"update","product_id":"X","updates":0}]}',
            "l2_data",
            9,
            "$.events[0].updates",
        ),
        (b'{"channel": "heartbeats", "sequence_num": 2, "events": [{"heartbeat_counter": 1.5}]}', "heartbeats", 2, ""),
        (b'{"channel": 7, "sequence_num": 2, "events": []}', "", 2, ""),
        (b'{"type": "subscribe"}', "", None, ""),
    ],
)
def test_what_cannot_be_read_is_malformed_with_a_reason(
    frame: bytes, channel: str, sequence_num: int | None, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    parser = MessageParser()
    with caplog.at_level(logging.DEBUG, logger="gpt_trader.coinbase.messages"):
        message = parser.parse(frame)
    assert isinstance(message, Malformed) and message.raw == frame
    assert (message.channel, message.sequence_num) == (channel, sequence_num)
    assert reason in message.reason and len(message.reason) <= 200
    assert parser.counts == {"malformed": 1}
    assert [record.levelno for record in caplog.records] == [logging.DEBUG]

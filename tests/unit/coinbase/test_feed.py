"""Coinbase messages -> market events: each channel's mapping, the maker/aggressor flip, and what is left out."""

from __future__ import annotations

import json
import time
from decimal import Decimal
from typing import Any

import pytest

from gpt_trader.coinbase.feed import CoinbaseFeed, MessageTranslator, market_time
from gpt_trader.coinbase.messages import parse
from gpt_trader.errors import ConfigError
from gpt_trader.market.aggregate import BarAggregator
from gpt_trader.market.events import BookLevel, BookUpdate, FeedHealth, HealthKind, Quote, Side, Trade

STAMP = "2026-08-09T21:05:48.298032046Z"
AT = 1786309548.298032


def message(channel: str, events: list[dict[str, Any]], sequence_num: int = 1) -> Any:
    return parse(json.dumps({"channel": channel, "timestamp": STAMP, "sequence_num": sequence_num, "events": events}))


def ticker(product: str = "BTC-USD", **fields: str) -> dict[str, str]:
    values = {"type": "ticker", "product_id": product, "price": "65086.18", "best_bid": "65083.66",
              "best_ask": "65083.67", "best_bid_quantity": "0.20371215", "best_ask_quantity": "0.24290402"}
    return values | fields


def test_times_read_nanosecond_rfc3339_as_unix_seconds() -> None:
    assert market_time(STAMP) == AT
    assert market_time("2026-08-09T21:05:38.50436Z") == 1786309538.50436
    assert market_time("2026-08-09T21:05:38.50436") == 1786309538.50436, "no zone named: UTC"


def test_a_ticker_is_a_quote_at_the_message_timestamp_and_never_a_trade() -> None:
    events = MessageTranslator().translate(message("ticker", [{"type": "update", "tickers": [ticker()]}]))
    assert events == [Quote("BTC-USD", AT, Decimal("65083.66"), Decimal("65083.67"), Decimal("0.20371215"),
                            Decimal("0.24290402"))]
    batch = message("ticker_batch", [{"type": "snapshot", "tickers": [ticker("ETH-USD")]}])
    assert [type(event) for event in MessageTranslator().translate(batch)] == [Quote]


def test_level2_is_a_book_update_with_offer_and_ask_both_asks() -> None:
    levels = [
        {"side": "bid", "event_time": STAMP, "price_level": "100.5", "new_quantity": "1"},
        {"side": "offer", "event_time": STAMP, "price_level": "101", "new_quantity": "2"},
        {"side": "ask", "event_time": STAMP, "price_level": "102", "new_quantity": "0"},
    ]
    translator = MessageTranslator()
    snapshot, update = translator.translate(message("l2_data", [
        {"type": "snapshot", "product_id": "BTC-USD", "updates": levels},
        {"type": "update", "product_id": "BTC-USD", "updates": [*levels[:1],
                                                                  {**levels[1], "side": "middle"}]},
    ]))
    assert snapshot == BookUpdate(
        "BTC-USD", AT, (BookLevel(Decimal("100.5"), Decimal(1)),),
        (BookLevel(Decimal(101), Decimal(2)), BookLevel(Decimal(102), Decimal(0))), snapshot=True,
    )
    assert isinstance(update, BookUpdate) and not update.snapshot and update.asks == ()
    assert translator.unreadable == 1, "the level of an unknown side is left out and counted"


def test_market_trades_flip_the_makers_side_and_come_oldest_first_from_snapshots_and_updates_alike() -> None:
    def row(trade_id: str, side: str, at: str) -> dict[str, str]:
        return {"product_id": "BTC-USD", "trade_id": trade_id, "price": "65083.67", "size": "0.002186",
                "time": at, "side": side}

    events = MessageTranslator().translate(message("market_trades", [
        {"type": "snapshot", "trades": [row("3", "SELL", "2026-08-09T21:05:42.5Z"), row("2", "BUY",
                                                                                       "2026-08-09T21:05:41Z")]},
        {"type": "update", "trades": [row("5", "BUY", "2026-08-09T21:05:48.167634Z"),
                                      row("4", "SELL", "2026-08-09T21:05:48.167634Z")]},
    ]))
    assert events == [
        Trade("BTC-USD", 1786309541.0, Decimal("65083.67"), Decimal("0.002186"), Side.SELL, "2"),
        Trade("BTC-USD", 1786309542.5, Decimal("65083.67"), Decimal("0.002186"), Side.BUY, "3"),
        Trade("BTC-USD", 1786309548.167634, Decimal("65083.67"), Decimal("0.002186"), Side.BUY, "4"),
        Trade("BTC-USD", 1786309548.167634, Decimal("65083.67"), Decimal("0.002186"), Side.SELL, "5"),
    ], "the real capture lists the trades of an update newest first too; equal times go by trade id"


def test_health_passes_through_and_channels_without_market_events_yield_nothing() -> None:
    translator = MessageTranslator()
    health = FeedHealth(HealthKind.GAP, "sequence_num jumped")
    assert translator.translate(health) == [health]
    quiet = [
        message("heartbeats", [{"current_time": "2026-08-09 21:05:48 +0000 UTC", "heartbeat_counter": 7}]),
        message("subscriptions", [{"subscriptions": {"ticker": ["BTC-USD"]}}]),
        message("candles", [{"type": "update", "candles": [{"start": "1786309500", "open": "1", "high": "1",
                                                            "low": "1", "close": "1", "volume": "1",
                                                            "product_id": "BTC-USD"}]}]),
    ]
    assert [translator.translate(item) for item in quiet] == [[], [], []]


def test_unreadable_values_are_left_out_and_counted_and_a_missing_timestamp_takes_the_venue_clock() -> None:
    translator = MessageTranslator()
    bad_trade = {"product_id": "BTC-USD", "trade_id": "9", "price": "x", "size": "1", "time": STAMP, "side": "BUY"}
    late_time = {**bad_trade, "price": "1", "time": "yesterday"}
    trades = message("market_trades", [{"type": "update", "trades": [bad_trade, late_time]}])
    assert translator.translate(trades) == []
    assert translator.translate(message("ticker", [{"type": "update", "tickers": [ticker(best_bid="")]}])) == []
    assert translator.translate(message("ticker", [{"type": "update", "tickers": [ticker(best_ask="NaN")]}])) == []
    assert translator.unreadable == 4
    untimed = parse(json.dumps({"channel": "ticker", "sequence_num": 3,
                                "events": [{"type": "update", "tickers": [ticker()]}]}))
    (quote,) = translator.translate(untimed)
    assert isinstance(quote, Quote) and quote.time == AT, "an untimed message takes the venue clock"


def test_a_feed_without_products_or_with_bars_but_no_trades_is_refused_clearly() -> None:
    with pytest.raises(ConfigError, match="at least one product id"):
        CoinbaseFeed([], url="ws://127.0.0.1:9/ws")
    feed = CoinbaseFeed(["BTC-USD"], url="ws://127.0.0.1:9/ws", channels=["ticker"])
    with pytest.raises(ConfigError, match="add 'market_trades' to the channels"):
        feed.events(BarAggregator("1m", clock=feed.venue_clock))


def test_the_venue_clock_follows_the_newest_timestamp_and_never_moves_back() -> None:
    translator = MessageTranslator()
    before = time.time()
    assert translator.market_time is None and translator.clock() >= before, "wall time until a timestamp"
    heartbeat = message("heartbeats", [{"current_time": "", "heartbeat_counter": 1}])
    assert translator.translate(heartbeat) == [] and translator.clock() == AT
    earlier = parse(json.dumps({"channel": "heartbeats", "timestamp": "2026-08-09T21:05:40Z", "sequence_num": 2,
                                "events": [{"current_time": "", "heartbeat_counter": 2}]}))
    translator.translate(earlier)
    assert translator.clock() == AT

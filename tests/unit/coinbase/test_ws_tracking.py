"""The pure parts of the WebSocket feed: sequence and heartbeat tracking, repeat detection, configuration."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpt_trader.coinbase import constants
from gpt_trader.coinbase.ws import CoinbaseWebSocket, ws_url
from gpt_trader.errors import ConfigError
from gpt_trader.market.feed import CounterTracker, RecentKeys, SequenceTracker


def test_sequence_numbers_count_from_zero_and_jumps_report_what_was_lost() -> None:
    tracker = SequenceTracker()
    assert [tracker.check(n) for n in (0, 1, 2, 5, 6, 6, 3, 7, 10)] == [0, 0, 0, 2, 0, -1, -1, 0, 2]


def test_a_connection_that_starts_late_has_lost_its_first_messages() -> None:
    assert SequenceTracker().check(3) == 3


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 40), max_size=60))
def test_a_number_passes_exactly_when_it_is_above_every_number_before_it(numbers: list[int]) -> None:
    tracker = SequenceTracker()
    highest = -1
    for number in numbers:
        assert (tracker.check(number) >= 0) == (number > highest)
        highest = max(highest, number)


def test_heartbeat_counters_start_anywhere_and_skips_are_counted() -> None:
    tracker = CounterTracker()
    assert [tracker.check(n) for n in (41691, 41692, 41695, 41696, 12, 13)] == [0, 0, 2, 0, 0, 0]


def test_recent_keys_forget_the_oldest_beyond_capacity() -> None:
    keys = RecentKeys(capacity=3)
    assert [keys.add(k) for k in ("a", "b", "a", "c", "d")] == [True, True, False, True, True]
    assert len(keys) == 3
    assert keys.add("a"), "'a' was the oldest and has been forgotten"
    assert not keys.add("d")


def test_the_ws_url_comes_from_the_argument_the_setting_or_production(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GPT_TRADER_COINBASE_WS_URL", raising=False)
    assert ws_url() == constants.WS_MARKET_URL
    monkeypatch.setenv("GPT_TRADER_COINBASE_WS_URL", "ws://127.0.0.1:8765/ws")
    assert ws_url() == "ws://127.0.0.1:8765/ws"
    assert ws_url("wss://example.test/ws") == "wss://example.test/ws"
    with pytest.raises(ConfigError, match="must start with ws:// or wss://"):
        ws_url("https://api.coinbase.com")


def test_subscriptions_always_include_heartbeats_and_list_each_product_once() -> None:
    feed = CoinbaseWebSocket("ws://127.0.0.1:1", {"ticker": ["BTC-USD", "BTC-USD", "ETH-USD"], "level2": "SOL-USD"})
    assert feed.subscriptions == {"heartbeats": (), "ticker": ("BTC-USD", "ETH-USD"), "level2": ("SOL-USD",)}
    assert set(feed.books) == {"SOL-USD"}
    assert CoinbaseWebSocket("ws://127.0.0.1:1", {"level2": ["BTC-USD"]}, track_books=False).books == {}


def test_unknown_channels_and_the_user_channel_without_a_key_are_refused() -> None:
    with pytest.raises(ConfigError, match="subscribe to 'level2'; its messages arrive as 'l2_data'"):
        CoinbaseWebSocket("ws://127.0.0.1:1", {"l2_data": ["BTC-USD"]})
    with pytest.raises(ConfigError, match="the user channel needs a Coinbase API key: pass a jwt_factory"):
        CoinbaseWebSocket("ws://127.0.0.1:1", {"user": []})

"""The WebSocket client against a real scripted WebSocket server on loopback: subscribing, sequencing,
reconnecting, resyncing."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from gpt_trader.coinbase.errors import CoinbaseUnavailable
from gpt_trader.coinbase.messages import HeartbeatsMessage, Level2Message, MarketTradesMessage, TickerMessage
from gpt_trader.coinbase.retry import RetryPolicy
from gpt_trader.coinbase.ws import CoinbaseWebSocket, FeedEvent
from gpt_trader.market.feed import FeedHealth, HealthKind
from tests.support.loopback_http import free_port
from tests.support.ws_script_server import (
    POLICY_VIOLATION,
    Peer,
    ScriptServer,
    heartbeat_event,
    level2_event,
    ticker_event,
    trades_event,
)

FAST = RetryPolicy(attempts=4, base_delay=0.05, max_delay=0.2)
MARKET = {"ticker": ["BTC-USD"], "level2": ["BTC-USD"]}
CHANNELS = {"heartbeats", "ticker", "level2"}
BOOK = [("bid", "100.00", "1"), ("bid", "99.50", "3"), ("offer", "101.00", "2")]


async def take(feed: CoinbaseWebSocket, until: Callable[[FeedEvent], bool]) -> list[tuple[float, FeedEvent]]:
    """(arrival time, event) of every event up to and including the first for which `until` holds."""
    seen = []
    async with asyncio.timeout(10):
        async for event in feed:
            seen.append((time.monotonic(), event))
            if until(event):
                break
    return seen


def health(seen: list[tuple[float, FeedEvent]]) -> list[str]:
    return [event.kind.value for _, event in seen if isinstance(event, FeedHealth)]


def sequence_nums(seen: list[tuple[float, FeedEvent]]) -> list[int]:
    messages = TickerMessage | Level2Message | HeartbeatsMessage
    return [event.sequence_num for _, event in seen if isinstance(event, messages)]


def is_ticker(price: str) -> Callable[[FeedEvent], bool]:
    return lambda event: isinstance(event, TickerMessage) and event.events[0].tickers[0].price == price


def subscribed(peer: Peer) -> list[tuple[str, list[str]]]:
    return sorted((request["channel"], request["product_ids"]) for request in peer.requests("subscribe"))


async def test_subscribes_each_channel_once_with_all_its_products_and_heartbeats_within_the_deadline() -> None:
    async def script(peer: Peer) -> None:
        await peer.wait_subscribed(CHANNELS)
        await peer.send("ticker", [ticker_event("BTC-USD", "100.50")])

    subscriptions = {"ticker": ["BTC-USD", "ETH-USD", "BTC-USD"], "level2": ["BTC-USD"]}
    async with ScriptServer([script]) as server, CoinbaseWebSocket(server.url, subscriptions, reconnect=FAST) as feed:
        seen = await take(feed, is_ticker("100.50"))
    peer = server.peers[0]
    assert subscribed(peer) == [("heartbeats", []), ("level2", ["BTC-USD"]), ("ticker", ["BTC-USD", "ETH-USD"])]
    assert all("jwt" not in request for request in peer.requests())
    assert not peer.deadline_missed and not server.failures, "every subscribe came inside the deadline"
    assert health(seen) == ["connected"]


async def test_a_fresh_jwt_rides_on_every_subscribe_when_a_factory_is_given() -> None:
    async def script(peer: Peer) -> None:
        await peer.wait_subscribed({"heartbeats", "ticker", "user"})
        await peer.send("ticker", [ticker_event("BTC-USD", "1.00")])

    counter = itertools.count(1)
    subscriptions = {"ticker": ["BTC-USD"], "user": []}
    async with ScriptServer([script]) as server, CoinbaseWebSocket(
        server.url, subscriptions, jwt_factory=lambda: f"token-{next(counter)}", reconnect=FAST
    ) as feed:
        await take(feed, is_ticker("1.00"))
    tokens = [request["jwt"] for request in server.peers[0].requests()]
    assert sorted(tokens) == ["token-1", "token-2", "token-3"], "one new token per subscribe message"


async def test_the_script_server_closes_a_connection_that_does_not_subscribe_in_time() -> None:
    async def script(peer: Peer) -> None:
        await peer.stall(5)

    async with ScriptServer([script], subscribe_deadline=0.2) as server:
        async with connect(server.url) as client:
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(client.recv(), 2)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == POLICY_VIOLATION
        assert server.peers[0].deadline_missed


async def test_a_dropped_connection_reconnects_resubscribes_and_resyncs_the_book() -> None:
    async def first(peer: Peer) -> None:
        await peer.wait_subscribed(CHANNELS)
        await peer.send("l2_data", [level2_event("BTC-USD", "snapshot", BOOK)])
        await peer.send("ticker", [ticker_event("BTC-USD", "100.50")])
        await peer.drop()

    async def second(peer: Peer) -> None:
        await peer.wait_subscribed(CHANNELS)
        fresh = [("bid", "98.00", "5"), ("offer", "99.00", "1")]
        await peer.send("l2_data", [level2_event("BTC-USD", "snapshot", fresh)])
        await peer.send("ticker", [ticker_event("BTC-USD", "98.50")])

    async with ScriptServer([first, second]) as server, CoinbaseWebSocket(server.url, MARKET, reconnect=FAST) as feed:
        seen = await take(feed, is_ticker("98.50"))
        book = feed.books["BTC-USD"]
        assert (book.best_bid(), book.best_ask()) == ((98.0, 5.0), (99.0, 1.0))
        assert not book.needs_snapshot
    assert health(seen) == ["connected", "disconnected", "connected", "resynced"]
    assert len(server.peers) == 2 and subscribed(server.peers[1]) == subscribed(server.peers[0])
    assert not server.failures


async def test_a_gap_is_detected_at_the_next_message_and_the_book_resnapshotted() -> None:
    async def script(peer: Peer) -> None:
        await peer.wait_subscribed(CHANNELS)
        await peer.send("l2_data", [level2_event("BTC-USD", "snapshot", BOOK)])  # 0
        await peer.send("ticker", [ticker_event("BTC-USD", "100.50")])  # 1
        peer.skip()  # 2 is lost
        await peer.send("ticker", [ticker_event("BTC-USD", "100.60")])  # 3 reveals the gap
        await peer.send("l2_data", [level2_event("BTC-USD", "update", [("bid", "100.50", "1")])])  # 4: stale book
        await peer.wait_for(lambda: len(peer.requests("subscribe", "level2")) == 2)
        fresh = [("bid", "100.40", "4"), ("offer", "100.70", "1")]
        await peer.send("l2_data", [level2_event("BTC-USD", "snapshot", fresh)])  # 5
        await peer.send("ticker", [ticker_event("BTC-USD", "100.70")])  # 6

    async with ScriptServer([script]) as server, CoinbaseWebSocket(server.url, MARKET, reconnect=FAST) as feed:
        seen = await take(feed, is_ticker("100.70"))
        assert feed.books["BTC-USD"].best_bid() == (100.40, 4.0) and feed.held_back == 1
    events = [event for _, event in seen]
    gap = next(i for i, event in enumerate(events) if isinstance(event, FeedHealth) and event.kind == HealthKind.GAP)
    assert is_ticker("100.60")(events[gap + 1]), "the gap is reported before the message that revealed it"
    assert "1 message(s) lost" in events[gap].detail
    assert sequence_nums(seen) == [0, 1, 3, 5, 6], "the update on the stale book (4) is held back"
    assert health(seen) == ["connected", "gap", "resynced"]
    peer = server.peers[0]
    unsubscribe = peer.requests("unsubscribe", "level2")
    resubscribe = peer.requests("subscribe", "level2")[1]
    assert [request["product_ids"] for request in unsubscribe] == [["BTC-USD"]]
    assert unsubscribe[0]["_at"] <= resubscribe["_at"] and resubscribe["product_ids"] == ["BTC-USD"]


async def test_a_stalled_connection_is_replaced_within_the_deadline() -> None:
    async def stalled(peer: Peer) -> None:
        await peer.wait_subscribed(CHANNELS)
        await peer.send("heartbeats", [heartbeat_event(1)])
        await peer.stall(30)

    async def healthy(peer: Peer) -> None:
        await peer.wait_subscribed(CHANNELS)
        await peer.send("ticker", [ticker_event("BTC-USD", "7.00")])

    stale_after = 0.5
    async with ScriptServer([stalled, healthy]) as server, CoinbaseWebSocket(
        server.url, MARKET, stale_after=stale_after, reconnect=FAST
    ) as feed:
        seen = await take(feed, is_ticker("7.00"))
    assert health(seen) == ["connected", "stale", "disconnected", "connected"]
    last_message = next(at for at, event in seen if isinstance(event, HeartbeatsMessage))
    stale_at = next(at for at, event in seen if isinstance(event, FeedHealth) and event.kind == HealthKind.STALE)
    reconnected_at = [at for at, event in seen if isinstance(event, FeedHealth) and event.kind == "connected"][1]
    assert stale_at - last_message >= stale_after * 0.9, "not declared stale before its time"
    assert last_message < stale_at < reconnected_at
    assert server.peers[0].connection.close_code is not None, "the stalled connection was closed"


async def test_a_consumer_that_takes_its_time_between_messages_is_not_a_stale_feed() -> None:
    """Only waiting in a receive counts towards `stale_after`: messages already sent, read late, are not silence."""

    async def script(peer: Peer) -> None:
        await peer.wait_subscribed(CHANNELS)
        for price in ("1.00", "2.00", "3.00"):
            await peer.send("ticker", [ticker_event("BTC-USD", price)])
        await peer.stall(30)

    stale_after = 0.3
    seen: list[FeedEvent] = []
    async with ScriptServer([script]) as server, CoinbaseWebSocket(
        server.url, MARKET, stale_after=stale_after, reconnect=FAST
    ) as feed:
        async with asyncio.timeout(10):
            async for event in feed:
                seen.append(event)
                if isinstance(event, TickerMessage):
                    if is_ticker("3.00")(event):
                        break
                    await asyncio.sleep(stale_after * 2)
    assert [event.kind.value for event in seen if isinstance(event, FeedHealth)] == ["connected"]
    assert feed.connections == 1


async def test_duplicate_and_late_messages_never_reach_downstream() -> None:
    async def script(peer: Peer) -> None:
        await peer.wait_subscribed(CHANNELS)
        await peer.send("ticker", [ticker_event("BTC-USD", "1.00")])  # 0
        await peer.send("heartbeats", [heartbeat_event(10)])  # 1
        await peer.repeat()  # 1 again
        await peer.send("ticker", [ticker_event("BTC-USD", "2.00")])  # 2
        await peer.repeat(2)  # 1 again, late
        await peer.send_raw(peer.sent[0])  # 0 again, late
        await peer.send("ticker", [ticker_event("BTC-USD", "3.00")])  # 3

    async with ScriptServer([script]) as server, CoinbaseWebSocket(server.url, MARKET, reconnect=FAST) as feed:
        seen = await take(feed, is_ticker("3.00"))
        assert feed.duplicates == 3
    assert sequence_nums(seen) == [0, 1, 2, 3]
    assert health(seen) == ["connected"]


async def test_a_skipped_heartbeat_counter_reveals_loss() -> None:
    async def script(peer: Peer) -> None:
        await peer.wait_subscribed({"heartbeats", "ticker"})
        for counter in (41691, 41692, 41694):
            await peer.send("heartbeats", [heartbeat_event(counter)])
        await peer.send("ticker", [ticker_event("BTC-USD", "4.00")])

    async with ScriptServer([script]) as server, CoinbaseWebSocket(
        server.url, {"ticker": ["BTC-USD"]}, reconnect=FAST
    ) as feed:
        seen = await take(feed, is_ticker("4.00"))
    gaps = [event for _, event in seen if isinstance(event, FeedHealth) and event.kind == HealthKind.GAP]
    assert len(gaps) == 1 and "heartbeat_counter jumped to 41694: 1 beat(s) lost" in gaps[0].detail
    assert not server.peers[0].requests("unsubscribe"), "without level2 there is no book to resync"


async def test_an_error_message_is_reported_and_the_feed_carries_on() -> None:
    async def script(peer: Peer) -> None:
        await peer.wait_subscribed(CHANNELS)
        await peer.send_raw('{"type": "error", "message": "failure to subscribe"}')
        await peer.send_raw('{"channel": "ticker", "sequence_num": 0, "events": [{"type": "update", "tickers": 5}]}')
        await peer.send("ticker", [ticker_event("BTC-USD", "5.00")], sequence_num=1)

    reported: list[FeedHealth] = []
    async with ScriptServer([script]) as server, CoinbaseWebSocket(
        server.url, MARKET, reconnect=FAST, on_health=reported.append
    ) as feed:
        seen = await take(feed, is_ticker("5.00"))
        assert feed.connections == 1 and feed.parser.counts["malformed"] == 1
    assert health(seen) == [], "with a callback, health events are not yielded"
    assert [event.kind for event in reported] == [HealthKind.CONNECTED, HealthKind.ERROR]
    assert "failure to subscribe" in reported[1].detail


async def test_a_crossed_book_is_resnapshotted() -> None:
    async def script(peer: Peer) -> None:
        await peer.wait_subscribed(CHANNELS)
        await peer.send("l2_data", [level2_event("BTC-USD", "snapshot", BOOK)])
        await peer.send("l2_data", [level2_event("BTC-USD", "update", [("bid", "101.50", "1")])])
        await peer.wait_for(lambda: len(peer.requests("subscribe", "level2")) == 2)
        await peer.send("l2_data", [level2_event("BTC-USD", "snapshot", BOOK)])
        await peer.send("ticker", [ticker_event("BTC-USD", "6.00")])

    async with ScriptServer([script]) as server, CoinbaseWebSocket(server.url, MARKET, reconnect=FAST) as feed:
        seen = await take(feed, is_ticker("6.00"))
        assert not feed.books["BTC-USD"].needs_snapshot
    assert health(seen) == ["connected", "error", "resynced"]
    error = next(event for _, event in seen if isinstance(event, FeedHealth) and event.kind == HealthKind.ERROR)
    assert "BTC-USD order book is crossed" in error.detail
    assert len(server.peers[0].requests("unsubscribe", "level2")) == 1


async def test_an_unreadable_level2_message_is_resnapshotted() -> None:
    async def script(peer: Peer) -> None:
        await peer.wait_subscribed(CHANNELS)
        await peer.send("l2_data", [level2_event("BTC-USD", "snapshot", BOOK)])
        await peer.send("l2_data", [{"type": "update", "product_id": "BTC-USD", "updates": "lost"}])
        await peer.send("l2_data", [level2_event("BTC-USD", "update", [("bid", "100.25", "1")])])
        await peer.wait_for(lambda: len(peer.requests("subscribe", "level2")) == 2)
        await peer.send("l2_data", [level2_event("BTC-USD", "snapshot", BOOK)])
        await peer.send("ticker", [ticker_event("BTC-USD", "9.00")])

    async with ScriptServer([script]) as server, CoinbaseWebSocket(server.url, MARKET, reconnect=FAST) as feed:
        seen = await take(feed, is_ticker("9.00"))
        assert feed.parser.counts["malformed"] == 1 and feed.held_back == 1
        assert feed.books["BTC-USD"].best_bid() == (100.0, 1.0)
    assert health(seen) == ["connected", "error", "resynced"]
    assert sequence_nums(seen) == [0, 3, 4], "the update after the unreadable one waits for the new snapshot"


async def test_trades_repeated_by_the_snapshot_after_a_reconnect_are_dropped() -> None:
    async def first(peer: Peer) -> None:
        await peer.wait_subscribed({"heartbeats", "market_trades"})
        await peer.send("market_trades", [trades_event("BTC-USD", [3, 2, 1], "snapshot")])
        await peer.send("market_trades", [trades_event("BTC-USD", [4])])
        await peer.drop()

    async def second(peer: Peer) -> None:
        await peer.wait_subscribed({"heartbeats", "market_trades"})
        await peer.send("market_trades", [trades_event("BTC-USD", [6, 5, 4, 3], "snapshot")])
        await peer.send("ticker", [ticker_event("BTC-USD", "8.00")])

    async with ScriptServer([first, second]) as server, CoinbaseWebSocket(
        server.url, {"market_trades": ["BTC-USD"]}, reconnect=FAST
    ) as feed:
        seen = await take(feed, is_ticker("8.00"))
        assert feed.repeated_trades == 2
    trade_ids = [
        trade.trade_id
        for _, event in seen
        if isinstance(event, MarketTradesMessage)
        for trades in event.events
        for trade in trades.trades
    ]
    assert trade_ids == ["3", "2", "1", "4", "6", "5"]


async def test_reconnects_back_off_exponentially_and_give_up_after_the_attempts() -> None:
    async def hang_up(peer: Peer) -> None:
        await peer.wait_subscribed(CHANNELS)
        await peer.drop()

    policy = RetryPolicy(attempts=5, base_delay=0.1, max_delay=0.8)
    async with ScriptServer([hang_up]) as server:
        feed = CoinbaseWebSocket(server.url, MARKET, reconnect=policy)
        with pytest.raises(CoinbaseUnavailable, match="5 connections in a row failed"):
            async with feed:
                async for _ in feed:
                    pass
    opened = [peer.opened_at for peer in server.peers]
    waits = [later - earlier for earlier, later in itertools.pairwise(opened)]
    assert len(waits) == 4
    for retry, wait in enumerate(waits, start=1):
        nominal = policy.base_delay * 2 ** (retry - 1)
        assert wait >= nominal / 2, f"retry {retry} waited {wait:.3f} s, less than half of {nominal:g} s"


async def test_gives_up_with_a_clear_error_when_nothing_answers() -> None:
    feed = CoinbaseWebSocket(f"ws://127.0.0.1:{free_port()}", MARKET, reconnect=FAST)
    with pytest.raises(CoinbaseUnavailable, match="4 connections in a row failed"):
        async with feed:
            pass

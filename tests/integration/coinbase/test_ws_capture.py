"""The real Advanced Trade capture, served over a loopback WebSocket to the client, comes out whole, and
the feed adapter yields from it exactly the events the in-process replay of the file yields."""

from __future__ import annotations

import asyncio
import gzip
import json
from collections import Counter
from decimal import Decimal
from pathlib import Path

from gpt_trader.coinbase.feed import CoinbaseFeed
from gpt_trader.coinbase.messages import Level2Message
from gpt_trader.coinbase.replay import CaptureReplay
from gpt_trader.coinbase.retry import RetryPolicy
from gpt_trader.coinbase.ws import CoinbaseWebSocket
from gpt_trader.market.events import MarketEvent
from gpt_trader.market.feed import FeedHealth
from tests.support.ws_script_server import Peer, ScriptServer

CAPTURE = "data/real/coinbase_advtrade_ws_BTC-ETH_2026-08-09.jsonl.gz"
PRODUCTS = ["BTC-USD", "ETH-USD"]


async def test_the_real_capture_passes_the_client_without_loss_and_books_never_cross(shared_dir: Path) -> None:
    frames = gzip.decompress((shared_dir / CAPTURE).read_bytes()).decode().splitlines()

    async def replay(peer: Peer) -> None:
        await peer.wait_subscribed({"heartbeats", "level2", "ticker", "market_trades", "candles"})
        for frame in frames:
            await peer.send_raw(frame)

    subscriptions = {channel: PRODUCTS for channel in ("level2", "ticker", "market_trades", "candles")}
    channels: Counter[str] = Counter()
    crossed_after = []
    async with ScriptServer([replay]) as server, CoinbaseWebSocket(
        server.url, subscriptions, reconnect=RetryPolicy(attempts=1)
    ) as feed:
        async for event in feed:
            if isinstance(event, FeedHealth):
                channels[event.kind.value] += 1
                continue
            channels[event.channel] += 1
            if isinstance(event, Level2Message):
                crossed_after += [event.sequence_num for book in feed.books.values() if book.crossed]
            if event.sequence_num == len(frames) - 1:
                break
        books = feed.books
        assert feed.duplicates == feed.held_back == feed.repeated_trades == 0
        assert not {"malformed", "unknown_channel", "unknown_event_type"} & set(feed.parser.counts)
    assert channels == {
        "connected": 1,
        "l2_data": 775,
        "ticker": 160,
        "market_trades": 59,
        "heartbeats": 25,
        "candles": 6,
        "subscriptions": 5,
    }
    assert crossed_after == []
    for product, (bid, ask) in top_of_book(frames).items():
        assert (books[product].best_bid(), books[product].best_ask()) == (bid, ask)


async def test_the_live_adapter_and_the_replay_of_the_capture_yield_the_same_events(shared_dir: Path) -> None:
    frames = gzip.decompress((shared_dir / CAPTURE).read_bytes()).decode().splitlines()
    recorded = [event async for event in CaptureReplay(shared_dir / CAPTURE).events()]

    async def replay(peer: Peer) -> None:
        await peer.wait_subscribed({"heartbeats", "level2", "ticker", "market_trades"})
        for frame in frames:
            await peer.send_raw(frame)

    live: list[MarketEvent] = []
    async with ScriptServer([replay]) as server, asyncio.timeout(30):
        feed = CoinbaseFeed(PRODUCTS, url=server.url, reconnect=RetryPolicy(attempts=1))
        async for event in feed.events():
            if not isinstance(event, FeedHealth):
                live.append(event)
            if len(live) == len(recorded):
                break
        await feed.close()
    assert live == recorded, "quotes and book updates carry the message's timestamp, trades their own time"
    assert feed.client.duplicates == feed.translator.unreadable == 0


def top_of_book(frames: list[str]) -> dict[str, tuple[tuple[float, float], tuple[float, float]]]:
    """Best bid and ask at the end of the capture, by plain dictionaries and Decimal arithmetic."""
    sides: dict[str, dict[str, dict[Decimal, Decimal]]] = {}
    for frame in frames:
        message = json.loads(frame)
        if message["channel"] != "l2_data":
            continue
        for event in message["events"]:
            if event["type"] == "snapshot":
                sides[event["product_id"]] = {"bid": {}, "offer": {}}
            book = sides[event["product_id"]]
            for level in event["updates"]:
                price, quantity = Decimal(level["price_level"]), Decimal(level["new_quantity"])
                book[level["side"]][price] = quantity
                if not quantity:
                    del book[level["side"]][price]
    top = {}
    for product, book in sides.items():
        bid, ask = max(book["bid"]), min(book["offer"])
        top[product] = ((float(bid), float(book["bid"][bid])), (float(ask), float(book["offer"][ask])))
    return top

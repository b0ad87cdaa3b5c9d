"""The real Advanced Trade capture replayed as market events: every message kind maps to the events a
plain-JSON reading of it expects, nothing is warned about, and the book rebuilt from the events never
crosses."""

from __future__ import annotations

import gzip
import json
import logging
from collections import Counter
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest

from gpt_trader.coinbase.replay import CaptureReplay
from gpt_trader.errors import DataError
from gpt_trader.market.aggregate import BarAggregator
from gpt_trader.market.book import OrderBook
from gpt_trader.market.events import BarClosed, BookLevel, BookUpdate, MarketEvent, Quote, Side, Trade

CAPTURE = "data/real/coinbase_advtrade_ws_BTC-ETH_2026-08-09.jsonl.gz"


def expected_events(path: Path) -> list[MarketEvent]:
    """The events each message should become, read with json and Decimal alone."""
    def seconds(text: str) -> float:
        return datetime.fromisoformat(text).timestamp()

    events: list[MarketEvent] = []
    for line in gzip.decompress(path.read_bytes()).splitlines():
        document = json.loads(line)
        channel, stamp = document["channel"], seconds(document["timestamp"])
        for event in document["events"]:
            if channel == "ticker":
                events += [Quote(t["product_id"], stamp, Decimal(t["best_bid"]), Decimal(t["best_ask"]),
                                 Decimal(t["best_bid_quantity"]), Decimal(t["best_ask_quantity"]))
                           for t in event["tickers"]]
            elif channel == "l2_data":
                def side(names: set[str], levels: list[dict[str, str]]) -> tuple[BookLevel, ...]:
                    return tuple(BookLevel(Decimal(level["price_level"]), Decimal(level["new_quantity"]))
                                 for level in levels if level["side"] in names)
                events.append(BookUpdate(event["product_id"], stamp, side({"bid"}, event["updates"]),
                                         side({"offer", "ask"}, event["updates"]), event["type"] == "snapshot"))
            elif channel == "market_trades":
                trades = sorted(event["trades"], key=lambda t: (t["time"], int(t["trade_id"])))
                events += [Trade(t["product_id"], seconds(t["time"]), Decimal(t["price"]), Decimal(t["size"]),
                                 Side.BUY if t["side"] == "SELL" else Side.SELL, t["trade_id"]) for t in trades]
    return events


async def collect(replay: CaptureReplay, bars: BarAggregator | None = None) -> list[MarketEvent]:
    return [event async for event in replay.events(bars)]


async def test_every_message_of_the_real_capture_maps_to_the_expected_events(shared_dir: Path) -> None:
    replay = CaptureReplay(shared_dir / CAPTURE)
    events = await collect(replay)
    assert events == expected_events(shared_dir / CAPTURE)
    assert Counter(type(event).__name__ for event in events) == {"BookUpdate": 775, "Quote": 160, "Trade": 279}
    assert replay.translator.unreadable == replay.duplicates == 0
    assert not {"malformed", "unknown_channel", "unknown_event_type"} & set(replay.parser.counts)


async def test_the_whole_capture_replays_without_a_warning_and_its_book_never_crosses(
    shared_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    replay = CaptureReplay(shared_dir / CAPTURE)
    books: dict[str, OrderBook] = {}
    updates = 0
    with caplog.at_level(logging.WARNING):
        async for event in replay.events(BarAggregator("1m", clock=replay.clock)):
            if isinstance(event, BookUpdate):
                book = books.setdefault(event.product_id, OrderBook(event.product_id))
                assert book.apply(event), f"{event.product_id} book untrustworthy at {event.time}"
                assert not book.crossed
                updates += 1
            assert not isinstance(event, BarClosed), "24 seconds of capture close no whole minute"
    assert caplog.records == []
    assert updates == 775 and set(books) == {"BTC-USD", "ETH-USD"}
    for book in books.values():
        bid, ask = book.best_bid(), book.best_ask()
        assert bid is not None and ask is not None and 0 < ask.price - bid.price < 0.001 * bid.price
        assert book.unreadable_levels == 0


async def test_bars_close_on_the_captures_clock_from_its_trades(shared_dir: Path) -> None:
    replay = CaptureReplay(shared_dir / CAPTURE)
    aggregator = BarAggregator("1m", grace=0.0, clock=replay.clock, since=1786309500)
    events = await collect(replay, aggregator)
    minute = 1786309500  # 21:05 UTC: the capture's snapshots reach back into 21:04, before watching began
    btc = [e for e in events if isinstance(e, Trade) and e.product_id == "BTC-USD"]
    trades = [e for e in btc if minute <= e.time < minute + 60]
    (bar,) = [e for e in events if isinstance(e, BarClosed) and e.product_id == "BTC-USD"]
    prices = [float(t.price) for t in trades]
    assert (bar.start, bar.open, bar.high, bar.low, bar.close) == (minute, prices[0], max(prices), min(prices),
                                                                   prices[-1])
    assert bar.volume == pytest.approx(sum(float(t.size) for t in trades), rel=1e-12)
    before = [e for e in events if isinstance(e, Trade) and e.time < minute]
    assert before and aggregator.late_trades == len(before), "trades before watching began are late"


def test_a_missing_capture_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"no WebSocket capture at .*\.jsonl or \.jsonl\.gz"):
        CaptureReplay(tmp_path / "absent.jsonl.gz")

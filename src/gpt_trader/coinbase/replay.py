"""A recorded Coinbase WebSocket capture replayed as market events, in its own market time.

A capture is a file of raw WebSocket messages, one per line (gzip-compressed when it ends in `.gz`),
as recorded from Advanced Trade. The replay reads it through the same parser and translator as the
live feed (`coinbase/feed.py`), so it yields the same events, as fast as the CPU allows::

    replay = CaptureReplay("coinbase_advtrade_ws_BTC-ETH_2026-08-09.jsonl.gz")
    bars = BarAggregator("1m", clock=replay.clock)        # bars close on the capture's clock
    async for event in replay.events(bars):
        ...

The clock is the live feed's venue clock: the newest message `timestamp` so far. As on a live
connection, a message whose `sequence_num` is not new is dropped (counted in `duplicates`), and a
jump emits a `gap` FeedHealth, stamped with market time; an unreadable line is counted in
`parser.counts["malformed"]`.
"""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

from gpt_trader.coinbase.feed import MessageTranslator, market_events
from gpt_trader.coinbase.messages import ErrorMessage, Malformed, MessageParser
from gpt_trader.coinbase.ws import FeedEvent
from gpt_trader.errors import DataError
from gpt_trader.market.aggregate import BarAggregator
from gpt_trader.market.events import FeedHealth, HealthKind, MarketEvent
from gpt_trader.market.feed import SequenceTracker


class CaptureReplay:
    """The messages of one capture file, replayed once per `events()` call."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise DataError(f"no WebSocket capture at {self.path}; give the path of a .jsonl or .jsonl.gz file")
        self.parser = MessageParser()
        self.translator = MessageTranslator()
        self.duplicates = 0

    def clock(self) -> float:
        """The capture's time: the newest timestamp replayed so far (Unix seconds)."""
        return self.translator.market_time or 0.0

    def events(self, bars: BarAggregator | None = None) -> AsyncIterator[MarketEvent]:
        """Every market event of the capture in order, with the bars `bars` closes (give it `clock`).

        Each call replays from the start, with fresh counters and clock."""
        self.parser = MessageParser()
        self.translator = MessageTranslator()
        self.duplicates = 0
        return market_events(self._messages(), self.translator, bars)

    async def _messages(self) -> AsyncIterator[FeedEvent]:
        sequence = SequenceTracker()
        for raw in self._lines():
            message = self.parser.parse(raw)
            if isinstance(message, Malformed | ErrorMessage):
                continue
            if message.sequence_num is not None:
                lost = sequence.check(message.sequence_num)
                if lost < 0:
                    self.duplicates += 1
                    continue
                if lost:
                    detail = f"sequence_num jumped to {message.sequence_num}: {lost} message(s) lost"
                    yield FeedHealth(HealthKind.GAP, detail, 1, self.clock())
            yield message

    def _lines(self) -> Iterator[bytes]:
        opener = gzip.open if self.path.suffix == ".gz" else open
        with opener(self.path, "rb") as lines:
            for line in lines:
                if line.strip():
                    yield line

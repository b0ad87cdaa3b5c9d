"""Typed decoding of Coinbase Advanced Trade WebSocket messages.

One msgspec decoder reads the envelope and, chosen by its `channel`, the events of every channel in a
single pass (bench/feed_parse.py measures it on the real capture). `parse` never raises:

- a message of a known channel becomes its `...Message` struct (`TickerMessage`, `Level2Message`, ...);
- Coinbase's `{"type": "error", "message": ...}` becomes `ErrorMessage`;
- a well-formed message of a channel this module does not know becomes `UnknownMessage` (raw kept);
- anything else (invalid or truncated JSON, a wrong type, a missing field) becomes `Malformed`, with a
  short reason, logged at debug level.

Unknown fields are ignored (msgspec's default, `forbid_unknown_fields=False`), and enumeration-like
values (event `type`, level2 `side`, order `status`) stay the text received, so a value Coinbase adds
later passes through; `MessageParser` counts the event types it does not know.

Decimals stay the strings Coinbase sent. Convert where used: `Decimal(order.avg_price)` on the order
path (exact, as the ledger needs), `float(ticker.best_bid)` for quotes and the order book, whose
numbers price a fill but are never booked as money.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any, ClassVar

import msgspec

log = logging.getLogger(__name__)

EVENT_TYPES = frozenset({"snapshot", "update"})
"""Event `type`s of the channels that have one: the state first, then changes."""
BID_SIDE = "bid"
ASK_SIDES = frozenset({"offer", "ask"})
"""Level2 names the ask side `offer`; `ask` is accepted too."""


class Heartbeat(msgspec.Struct, frozen=True, kw_only=True):
    heartbeat_counter: int
    """Increases by one per beat on a connection: a skipped value reveals lost messages."""
    current_time: str = ""


class Ticker(msgspec.Struct, frozen=True, kw_only=True):
    """The latest trade price and best bid/ask of a product, sent on every trade."""

    product_id: str
    price: str
    type: str = "ticker"
    volume_24_h: str = ""
    low_24_h: str = ""
    high_24_h: str = ""
    low_52_w: str = ""
    high_52_w: str = ""
    price_percent_chg_24_h: str = ""
    best_bid: str = ""
    best_ask: str = ""
    best_bid_quantity: str = ""
    best_ask_quantity: str = ""


class TickerEvent(msgspec.Struct, frozen=True, kw_only=True):
    type: str
    tickers: list[Ticker]


class L2Update(msgspec.Struct, frozen=True, kw_only=True):
    """One price level: `new_quantity` is the size now resting there, `"0"` when the level is gone."""

    side: str
    """`bid` or `offer` (`ask` is accepted too)."""
    price_level: str
    new_quantity: str
    event_time: str = ""


class L2Event(msgspec.Struct, frozen=True, kw_only=True):
    """A whole book (`snapshot`) or the levels that changed (`update`) of one product."""

    type: str
    product_id: str
    updates: list[L2Update]

    def sides(self) -> tuple[list[tuple[str, str]], list[tuple[str, str]], int]:
        """The bid and the ask levels as (price_level, new_quantity) text, and how many levels had
        a side that is neither (they are left out)."""
        bids: list[tuple[str, str]] = []
        asks: list[tuple[str, str]] = []
        unknown = 0
        for level in self.updates:
            if level.side == BID_SIDE:
                bids.append((level.price_level, level.new_quantity))
            elif level.side in ASK_SIDES:
                asks.append((level.price_level, level.new_quantity))
            else:
                unknown += 1
        return bids, asks, unknown


class MarketTrade(msgspec.Struct, frozen=True, kw_only=True):
    product_id: str
    trade_id: str
    price: str
    size: str
    side: str
    """The maker's side."""
    time: str = ""


class MarketTradesEvent(msgspec.Struct, frozen=True, kw_only=True):
    type: str
    trades: list[MarketTrade]
    """A snapshot holds recent trades, newest first."""


class LiveCandle(msgspec.Struct, frozen=True, kw_only=True):
    """A five-minute candle; updated about every second while its bucket forms. `start` is Unix seconds."""

    product_id: str
    start: str
    open: str
    high: str
    low: str
    close: str
    volume: str


class CandlesEvent(msgspec.Struct, frozen=True, kw_only=True):
    type: str
    candles: list[LiveCandle]


class ProductStatus(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    product_type: str = ""
    base_currency: str = ""
    quote_currency: str = ""
    base_increment: str = ""
    quote_increment: str = ""
    display_name: str = ""
    status: str = ""
    status_message: str = ""
    min_market_funds: str = ""


class StatusEvent(msgspec.Struct, frozen=True, kw_only=True):
    type: str
    products: list[ProductStatus]


class UserOrder(msgspec.Struct, frozen=True, kw_only=True):
    """An order of the authenticated user, as the `user` channel reports each change of it."""

    order_id: str
    status: str
    product_id: str = ""
    client_order_id: str = ""
    order_side: str = ""
    order_type: str = ""
    time_in_force: str = ""
    avg_price: str = ""
    cumulative_quantity: str = ""
    leaves_quantity: str = ""
    filled_value: str = ""
    total_fees: str = ""
    total_value_after_fees: str = ""
    number_of_fills: str | int = ""
    """A count: Coinbase writes it as text like its decimals; a number is accepted too (`int()` reads both)."""
    limit_price: str = ""
    stop_price: str = ""
    creation_time: str = ""
    cancel_reason: str = ""
    reject_reason: str = ""
    outstanding_hold_amount: str = ""
    product_type: str = ""
    trigger_status: str = ""


class UserEvent(msgspec.Struct, frozen=True, kw_only=True):
    """Open orders (a snapshot comes in pages of up to 50), then one update per change."""

    type: str
    orders: list[UserOrder] = []
    positions: dict[str, Any] = {}
    """Futures positions; kept as sent (spot accounts have none)."""


class SubscriptionsEvent(msgspec.Struct, frozen=True, kw_only=True):
    subscriptions: dict[str, list[str]]
    """Everything the connection now receives, by the channel names used to subscribe."""


class _Envelope(msgspec.Struct, frozen=True, kw_only=True, tag_field="channel"):
    """What every message of a channel carries. `sequence_num` counts the messages of a connection."""

    sequence_num: int
    timestamp: str = ""
    client_id: str = ""


class HeartbeatsMessage(_Envelope, frozen=True, kw_only=True, tag="heartbeats"):
    channel: ClassVar[str] = "heartbeats"
    events: list[Heartbeat]


class TickerMessage(_Envelope, frozen=True, kw_only=True, tag="ticker"):
    channel: ClassVar[str] = "ticker"
    events: list[TickerEvent]


class TickerBatchMessage(_Envelope, frozen=True, kw_only=True, tag="ticker_batch"):
    channel: ClassVar[str] = "ticker_batch"
    events: list[TickerEvent]


class Level2Message(_Envelope, frozen=True, kw_only=True, tag="l2_data"):
    """The `level2` channel; it arrives named `l2_data`."""

    channel: ClassVar[str] = "l2_data"
    events: list[L2Event]


class MarketTradesMessage(_Envelope, frozen=True, kw_only=True, tag="market_trades"):
    channel: ClassVar[str] = "market_trades"
    events: list[MarketTradesEvent]


class CandlesMessage(_Envelope, frozen=True, kw_only=True, tag="candles"):
    channel: ClassVar[str] = "candles"
    events: list[CandlesEvent]


class StatusMessage(_Envelope, frozen=True, kw_only=True, tag="status"):
    channel: ClassVar[str] = "status"
    events: list[StatusEvent]


class UserMessage(_Envelope, frozen=True, kw_only=True, tag="user"):
    channel: ClassVar[str] = "user"
    events: list[UserEvent]


class SubscriptionsMessage(_Envelope, frozen=True, kw_only=True, tag="subscriptions"):
    channel: ClassVar[str] = "subscriptions"
    events: list[SubscriptionsEvent]


class ErrorMessage(msgspec.Struct, frozen=True, kw_only=True):
    """Coinbase's `{"type": "error", "message": ...}`, e.g. for the user channel without a valid JWT."""

    channel: ClassVar[str] = "error"
    message: str


class UnknownMessage(msgspec.Struct, frozen=True, kw_only=True):
    """A message of a channel this module does not know, kept as received."""

    channel: str
    sequence_num: int | None
    raw: bytes | str


class Malformed(msgspec.Struct, frozen=True, kw_only=True):
    """A message that could not be read. `channel` and `sequence_num` are filled in when readable."""

    reason: str
    raw: bytes | str
    channel: str = ""
    sequence_num: int | None = None


ChannelMessage = (
    HeartbeatsMessage
    | TickerMessage
    | TickerBatchMessage
    | Level2Message
    | MarketTradesMessage
    | CandlesMessage
    | StatusMessage
    | UserMessage
    | SubscriptionsMessage
)
Message = ChannelMessage | ErrorMessage | UnknownMessage | Malformed

_decoder: msgspec.json.Decoder[ChannelMessage] = msgspec.json.Decoder(ChannelMessage)


class _Outline(msgspec.Struct):
    """The few top-level fields that tell an error, an unknown channel and a broken message apart."""

    channel: Any = None
    type: Any = None
    message: Any = None
    sequence_num: Any = None


_outline_decoder = msgspec.json.Decoder(_Outline)
_KNOWN_CHANNELS = frozenset(message.__struct_config__.tag for message in ChannelMessage.__args__)
_TYPED_EVENT_MESSAGES = (
    TickerMessage,
    TickerBatchMessage,
    Level2Message,
    MarketTradesMessage,
    CandlesMessage,
    StatusMessage,
    UserMessage,
)
_REASON_LENGTH = 200


def parse(raw: bytes | str) -> Message:
    """The typed message in `raw` (one WebSocket frame). Never raises: see the module docstring."""
    try:
        return _decoder.decode(raw)
    except (msgspec.DecodeError, ValueError) as error:
        # msgspec.ValidationError subclasses DecodeError; ValueError covers text that is not UTF-8.
        return _classify(raw, str(error))


def _classify(raw: bytes | str, problem: str) -> Message:
    """The slow path, taken only by messages the typed decoder refused."""
    try:
        outline = _outline_decoder.decode(raw)
    except (msgspec.DecodeError, ValueError):
        return _malformed(raw, problem)
    sequence_num = outline.sequence_num if type(outline.sequence_num) is int else None
    channel = outline.channel if isinstance(outline.channel, str) else ""
    if outline.type == "error" and not channel:
        return ErrorMessage(message=str(outline.message or ""))
    if channel and channel not in _KNOWN_CHANNELS and sequence_num is not None:
        log.debug("message of unknown channel %r kept as received", channel)
        return UnknownMessage(channel=channel, sequence_num=sequence_num, raw=raw)
    return _malformed(raw, problem, channel, sequence_num)


def _malformed(raw: bytes | str, problem: str, channel: str = "", sequence_num: int | None = None) -> Malformed:
    reason = problem[:_REASON_LENGTH]
    log.debug("malformed WebSocket message (channel %r, sequence_num %s): %s", channel, sequence_num, reason)
    return Malformed(reason=reason, raw=raw, channel=channel, sequence_num=sequence_num)


class MessageParser:
    """`parse`, counting what it reads: messages per channel, `malformed`, `unknown_channel`, and
    `unknown_event_type` (events whose `type` is neither snapshot nor update; they are passed on)."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def parse(self, raw: bytes | str) -> Message:
        message = parse(raw)
        kind = type(message)
        if kind is Malformed:
            self.counts["malformed"] += 1
        elif kind is UnknownMessage:
            self.counts["unknown_channel"] += 1
        else:
            self.counts[message.channel] += 1
            if isinstance(message, _TYPED_EVENT_MESSAGES):
                for event in message.events:
                    if event.type not in EVENT_TYPES:
                        self.counts["unknown_event_type"] += 1
        return message

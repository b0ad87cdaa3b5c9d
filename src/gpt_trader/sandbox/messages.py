"""The bodies of the sandbox's WebSocket events, in the shapes of the facts page (section 7) and the real
capture: every decimal a string, times RFC 3339 UTC."""

from __future__ import annotations

from typing import Any

import numpy as np

from gpt_trader.sandbox.catalog import ProductSpec
from gpt_trader.sandbox.market import (
    CANDLE_SECONDS,
    BookChange,
    Candle,
    DayStats,
    MarketReplay,
    Quote,
    Trade,
    decimal_text,
    rfc3339,
)

SNAPSHOT_TRADES = 50
"""Recent trades in a `market_trades` snapshot."""
SNAPSHOT_CANDLES = 100
"""Five-minute candles in a `candles` snapshot."""


def ticker_payload(product_id: str, quote: Quote, stats: DayStats | None) -> dict[str, Any]:
    last = float(quote.last)
    day: tuple[str, ...] = ("",) * 6
    if stats is not None:
        change = (last / stats.open_24h - 1) * 100 if stats.open_24h else 0.0
        day = tuple(
            decimal_text(round(value, 10))
            for value in (
                stats.volume_24h,
                stats.low_24h,
                stats.high_24h,
                stats.low_52w,
                stats.high_52w,
                change,
            )
        )
    return {
        "type": "ticker",
        "product_id": product_id,
        "price": decimal_text(quote.last),
        "volume_24_h": day[0],
        "low_24_h": day[1],
        "high_24_h": day[2],
        "low_52_w": day[3],
        "high_52_w": day[4],
        "price_percent_chg_24_h": day[5],
        "best_bid": decimal_text(quote.bid),
        "best_ask": decimal_text(quote.ask),
        "best_bid_quantity": decimal_text(quote.bid_size),
        "best_ask_quantity": decimal_text(quote.ask_size),
    }


def trade_payload(trade: Trade) -> dict[str, str]:
    return {
        "product_id": trade.product_id,
        "trade_id": str(trade.trade_id),
        "price": decimal_text(trade.price),
        "size": decimal_text(trade.size),
        "time": rfc3339(trade.time, 6),
        "side": trade.side,
    }


def level_payload(level: BookChange, event_time: str) -> dict[str, str]:
    return {
        "side": level.side,
        "event_time": event_time,
        "price_level": decimal_text(level.price),
        "new_quantity": decimal_text(level.size),
    }


def candle_payload(candle: Candle) -> dict[str, str]:
    return {
        "start": str(candle.start),
        "high": decimal_text(candle.high),
        "low": decimal_text(candle.low),
        "open": decimal_text(candle.open),
        "close": decimal_text(candle.close),
        "volume": decimal_text(candle.volume),
        "product_id": candle.product_id,
    }


def candle_row_payload(product_id: str, row: tuple[np.generic, ...]) -> dict[str, str]:
    """A candle from a `CandleTable` row (start, open, high, low, close, volume)."""
    start, open_, high, low, close, volume = (float(value) for value in row)
    return {
        "start": str(int(start)),
        "high": decimal_text(high),
        "low": decimal_text(low),
        "open": decimal_text(open_),
        "close": decimal_text(close),
        "volume": decimal_text(volume),
        "product_id": product_id,
    }


def status_payload(spec: ProductSpec) -> dict[str, str]:
    return {
        "product_type": spec.product_type,
        "id": spec.product_id,
        "base_currency": spec.base_currency,
        "quote_currency": spec.quote_currency,
        "base_increment": decimal_text(spec.base_increment),
        "quote_increment": decimal_text(spec.quote_increment),
        "display_name": spec.product_id,
        "status": spec.status,
        "status_message": "",
        "min_market_funds": decimal_text(spec.quote_min_size),
    }


def heartbeat_payload(market_time: float, uptime: float, counter: int) -> dict[str, Any]:
    """`current_time` in the Go form Coinbase sends: `2026-08-09 21:05:48.854840045 +0000 UTC m=+41691.260485341`."""
    stamp = rfc3339(market_time).replace("T", " ").removesuffix("Z")
    return {"current_time": f"{stamp} +0000 UTC m=+{uptime:.9f}", "heartbeat_counter": counter}


def snapshot_event(replay: MarketReplay, channel: str, product_id: str, now: str) -> dict[str, Any] | None:
    """The `snapshot` event of a product's `channel` (not `status`), or None when there is nothing yet
    (a ticker before the product's first trade); `now` is the market time for a book without a quote."""
    if channel in ("ticker", "ticker_batch"):
        quote = replay.quote(product_id)
        if quote is None:
            return None
        return {"type": "snapshot", "tickers": [ticker_payload(product_id, quote, replay.stats(product_id))]}
    if channel == "level2":
        bids, asks = replay.book(product_id)
        quote = replay.quote(product_id)
        when = rfc3339(quote.time, 6) if quote else now
        updates = [level_payload(level, when) for level in (*bids, *asks)]
        return {"type": "snapshot", "product_id": product_id, "updates": updates}
    if channel == "market_trades":
        trades = [trade_payload(trade) for trade in replay.recent_trades(product_id, SNAPSHOT_TRADES)]
        return {"type": "snapshot", "trades": trades}
    if channel == "candles":
        end = int(replay.market_time)
        table = replay.candles(product_id, CANDLE_SECONDS, end - SNAPSHOT_CANDLES * CANDLE_SECONDS, end + 1)
        candles = [candle_row_payload(product_id, row) for row in zip(*table, strict=True)][::-1]
        return {"type": "snapshot", "candles": candles}
    raise ValueError(f"channel {channel!r} has no per-product snapshot")

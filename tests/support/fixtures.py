"""Where the recorded payload fixtures are: small REST and WebSocket shapes kept with the tests.

They let a clone run the unit tests without `../shared`; the large real-data files (the whole WebSocket
capture, candle histories) stay there. `tests/fixtures/SOURCES.md` says where each file comes from.
"""

from __future__ import annotations

from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
REST_FIXTURES = FIXTURES / "rest"
"""Advanced Trade REST responses: candles, products (and the whole real products list), book, ticker,
accounts, orders, fills."""
WS_FIXTURES = FIXTURES / "ws"
"""Advanced Trade WebSocket frames: one of each channel and event type of the real capture, and a user message."""
WS_FRAMES = WS_FIXTURES / "coinbase_advtrade_ws_frames_2026-08-09.jsonl"
REAL_PRODUCTS = REST_FIXTURES / "coinbase_advtrade_market_products_2026-08-09.json.gz"

"""Every Coinbase Advanced Trade fact GPT-Trader relies on, in one place.

A change at Coinbase is a one-line change here. Sources: docs of the Advanced Trade API and
recorded payloads; facts marked "less certain" there are marked so here too.
"""

from __future__ import annotations

from decimal import Decimal
from typing import NamedTuple

# Fees: the entry tier (under $10k of 30-day volume), 2024-2026. Higher tiers pay less;
# GET /transaction_summary gives an account's real rates.
TAKER_FEE_RATE = Decimal("0.006")
MAKER_FEE_RATE = Decimal("0.004")

# Hosts. Every REST path starts with API_PREFIX; the REST base URL is configurable (the sandbox).
REST_URL = "https://api.coinbase.com"
API_PREFIX = "/api/v3/brokerage"
WS_MARKET_URL = "wss://advanced-trade-ws.coinbase.com"
WS_USER_URL = "wss://advanced-trade-ws-user.coinbase.com"

# Public market endpoints, relative to API_PREFIX.
TIME_PATH = "/time"
PUBLIC_PRODUCTS_PATH = "/market/products"
PUBLIC_PRODUCT_PATH = "/market/products/{product_id}"
PUBLIC_CANDLES_PATH = "/market/products/{product_id}/candles"
PUBLIC_TICKER_PATH = "/market/products/{product_id}/ticker"
PUBLIC_PRODUCT_BOOK_PATH = "/market/product_book"

# Candles: the granularity names Coinbase accepts, in seconds. FOUR_HOUR is documented for the
# authenticated endpoint only; UNKNOWN_GRANULARITY is refused.
GRANULARITY_SECONDS = {
    "ONE_MINUTE": 60,
    "FIVE_MINUTE": 300,
    "FIFTEEN_MINUTE": 900,
    "THIRTY_MINUTE": 1800,
    "ONE_HOUR": 3600,
    "TWO_HOUR": 7200,
    "FOUR_HOUR": 14400,
    "SIX_HOUR": 21600,
    "ONE_DAY": 86400,
}
MAX_CANDLES_PER_REQUEST = 350
"""Both the default and the maximum `limit`; a request spanning more buckets is refused with 400."""

SPOT = "SPOT"
"""`product_type` of spot products (the other is FUTURE)."""

# Rate limits (documented; they can tighten in volatile markets). A breach answers 429.
PUBLIC_REQUESTS_PER_SECOND = 10
"""Public endpoints, per IP."""
PRIVATE_REQUESTS_PER_SECOND = 30
"""Authenticated endpoints, per key."""

# Authentication (CDP JWT).
JWT_ISSUER = "cdp"
JWT_LIFETIME_SECONDS = 120

# WebSocket.
WS_SUBSCRIBE_DEADLINE_SECONDS = 5
"""The server closes a connection that has not subscribed within this time."""
HEARTBEAT_INTERVAL_SECONDS = 1
"""The `heartbeats` channel sends one message per this interval."""

RENAMED_PRODUCTS = {"MATIC-USD": "POL-USD"}
"""Products that Coinbase lists under a new name: the token MATIC became POL (no MATIC-USD any more)."""


class Increments(NamedTuple):
    """A product's order grid: sizes are multiples of `base`, prices of `price`; orders of at least
    `quote_min_size` quote currency."""

    base: Decimal
    price: Decimal
    quote_min_size: Decimal


# Increments of the usual USD pairs, from the real products list of 2026-08-09. The live list
# (GET /market/products) is the authority; these serve offline runs.
USD_PAIR_INCREMENTS = {
    "BTC-USD": Increments(Decimal("0.00000001"), Decimal("0.01"), Decimal("1")),
    "ETH-USD": Increments(Decimal("0.00000001"), Decimal("0.01"), Decimal("1")),
    "SOL-USD": Increments(Decimal("0.00000001"), Decimal("0.01"), Decimal("1")),
    "LTC-USD": Increments(Decimal("0.00000001"), Decimal("0.01"), Decimal("1")),
    "LINK-USD": Increments(Decimal("0.01"), Decimal("0.001"), Decimal("1")),
    "DOGE-USD": Increments(Decimal("0.1"), Decimal("0.00001"), Decimal("1")),
    "POL-USD": Increments(Decimal("0.01"), Decimal("0.0001"), Decimal("1")),
}

"""Every Coinbase Advanced Trade fact GPT-Trader relies on, in one place.

A change at Coinbase is a one-line change here. Sources: docs of the Advanced Trade API and
recorded payloads; facts marked "less certain" there are marked so here too.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

# Fees: the entry tier (under $10k of 30-day volume), 2024-2026. Higher tiers pay less;
# GET /transaction_summary gives an account's real rates.
TAKER_FEE_RATE = Decimal("0.006")
MAKER_FEE_RATE = Decimal("0.004")
"""What a resting order pays when it is matched: the paper broker's fee model charges it to maker fills."""
FEE_TIERS = (
    (Decimal(0), TAKER_FEE_RATE, MAKER_FEE_RATE),
    (Decimal(10_000), Decimal("0.004"), Decimal("0.0025")),
    (Decimal(50_000), Decimal("0.0025"), Decimal("0.0015")),
    (Decimal(100_000), Decimal("0.002"), Decimal("0.001")),
    (Decimal(1_000_000), Decimal("0.0018"), Decimal("0.0008")),
    (Decimal(15_000_000), Decimal("0.0016"), Decimal("0.0006")),
    (Decimal(75_000_000), Decimal("0.0012"), Decimal("0.0003")),
    (Decimal(250_000_000), Decimal("0.0008"), Decimal("0")),
    (Decimal(400_000_000), Decimal("0.0005"), Decimal("0")),
)
"""(30-day USD volume from which a tier applies, taker rate, maker rate), lowest tier first. Less certain:
only the entry tier is in the documented facts; the others are Coinbase's published schedule of 2024 and
change without notice."""

# Hosts. Every REST path starts with API_PREFIX; the REST base URL is configurable (the sandbox).
REST_URL = "https://api.coinbase.com"
API_PREFIX = "/api/v3/brokerage"
WS_MARKET_URL = "wss://advanced-trade-ws.coinbase.com"

# Public market endpoints, relative to API_PREFIX.
TIME_PATH = "/time"
PUBLIC_PRODUCTS_PATH = "/market/products"
PUBLIC_PRODUCT_PATH = "/market/products/{product_id}"
PUBLIC_CANDLES_PATH = "/market/products/{product_id}/candles"
PUBLIC_TICKER_PATH = "/market/products/{product_id}/ticker"
PUBLIC_PRODUCT_BOOK_PATH = "/market/product_book"

# Candles: the public endpoint serves every `market.granularity.Granularity`, under the member's name
# (ONE_MINUTE ... ONE_DAY: that enum is the one table of candle sizes); UNKNOWN_GRANULARITY is refused.
AUTHENTICATED_ONLY_GRANULARITIES = frozenset({"FOUR_HOUR"})
"""Granularities (here, four hours) that only the authenticated candles endpoint serves."""
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
HEARTBEAT_INTERVAL_SECONDS = 1
"""The `heartbeats` channel sends one message per this interval."""

# WebSocket channels, by the name used to subscribe. Messages arrive under the same name, except level2,
# which arrives as `l2_data`. `heartbeats` and `user` carry no product list.
WS_HEARTBEATS_CHANNEL = "heartbeats"
WS_LEVEL2_CHANNEL = "level2"
WS_LEVEL2_ARRIVES_AS = "l2_data"
WS_CHANNELS = ("heartbeats", "ticker", "ticker_batch", "level2", "market_trades", "candles", "status", "user")
WS_AUTHENTICATED_CHANNELS = frozenset({"user", "futures_balance_summary"})
"""Channels whose subscribe message must carry a JWT (made fresh for each message)."""
WS_MESSAGES_PER_SECOND = 8
"""Unauthenticated messages a client may send per second per IP; subscribe and unsubscribe count."""
WS_MAX_MESSAGE_BYTES = 32 * 1024 * 1024
"""Large enough for a level2 snapshot: the real BTC-USD snapshot of 2026-08-09 is about 5 MB."""

RENAMED_PRODUCTS = {"MATIC-USD": "POL-USD"}
"""Products that Coinbase lists under a new name: the token MATIC became POL (no MATIC-USD any more)."""


USD_PAIRS_FILE = Path(__file__).with_name("usd_products_2026-08-09.json")
"""The Product objects of the usual USD pairs (BTC, ETH, SOL, LTC, LINK, DOGE, POL) exactly as Coinbase listed
them on 2026-08-09 (copied from the real products list): their increments, size limits and names. The live
list (GET /market/products) is the authority; this recorded copy serves offline runs and seeds the sandbox."""

# Authentication: the signing algorithm follows the key's kind. An Ed25519 secret is the base64 of
# the 32-byte seed, or of the seed followed by the 32-byte public key.
JWT_ALGORITHM_EC = "ES256"
JWT_ALGORITHM_ED25519 = "EdDSA"
ED25519_SECRET_LENGTHS = (32, 64)

# Authenticated endpoints, relative to API_PREFIX.
ACCOUNTS_PATH = "/accounts"
ACCOUNT_PATH = "/accounts/{account_uuid}"
CREATE_ORDER_PATH = "/orders"
PREVIEW_ORDER_PATH = "/orders/preview"
CANCEL_ORDERS_PATH = "/orders/batch_cancel"
ORDER_PATH = "/orders/historical/{order_id}"
LIST_ORDERS_PATH = "/orders/historical/batch"
LIST_FILLS_PATH = "/orders/historical/fills"
TRANSACTION_SUMMARY_PATH = "/transaction_summary"

# Orders. Enumerations arrive as text; values not listed here are kept as they come.
ORDER_SIDES = ("BUY", "SELL")
MARKET_IOC = "market_market_ioc"
"""Order configuration of a market order: `quote_size` (what a BUY spends) or `base_size` (what a SELL sells)."""
LIMIT_GTC = "limit_limit_gtc"
"""Order configuration of a good-till-cancelled limit order: `base_size`, `limit_price`, `post_only`."""
ACCOUNT_TYPE_FIAT = "ACCOUNT_TYPE_FIAT"
ACCOUNT_TYPE_CRYPTO = "ACCOUNT_TYPE_CRYPTO"
"""An account's `type`; Coinbase also sends ACCOUNT_TYPE_VAULT and ACCOUNT_TYPE_UNSPECIFIED."""
OPEN_ORDER_STATUSES = frozenset({"PENDING", "OPEN", "QUEUED", "CANCEL_QUEUED", "EDIT_QUEUED"})
"""Statuses of an order that may still trade; FILLED, CANCELLED, EXPIRED and FAILED are final."""

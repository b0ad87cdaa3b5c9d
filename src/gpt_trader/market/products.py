"""The products GPT-Trader names by default: the quick screen's set, written once.

The set is the seed's list of five liquid USD pairs, except where Coinbase no longer lists a product under the
seed's name: the seed had MATIC-USD, and Coinbase renamed the MATIC token to POL (its products list has POL-USD
and no MATIC-USD), so the set names POL-USD. Every product here is one Coinbase lists today, so the quick screen
runs against Coinbase, the sandbox and the synthetic market alike.
"""

from __future__ import annotations

QUICK_PRODUCTS = ("BTC-USD", "ETH-USD", "SOL-USD", "LINK-USD", "POL-USD")
"""`backtest --quick` and the demo: BTC, ETH, SOL, LINK and POL against USD."""

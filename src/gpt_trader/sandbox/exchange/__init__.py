"""The sandbox's matching engine: accounts per API key, Coinbase's order shapes, fills against the replay.

`Exchange` is the entry point; `payloads` turns its accounts, orders and fills into Coinbase's JSON shapes.
"""

from gpt_trader.sandbox.exchange.engine import Exchange, OrderEvent, OrderListener
from gpt_trader.sandbox.exchange.ledger import DEFAULT_STARTING_BALANCES, Account
from gpt_trader.sandbox.exchange.model import FeeRates, Fill, Order, OrderStatus, Quote, QuoteSource, Side
from gpt_trader.sandbox.exchange.payloads import account_payload, fill_payload, order_payload, user_order_payload
from gpt_trader.sandbox.exchange.validation import Rejection

__all__ = [
    "DEFAULT_STARTING_BALANCES",
    "Account",
    "Exchange",
    "FeeRates",
    "Fill",
    "Order",
    "OrderEvent",
    "OrderListener",
    "OrderStatus",
    "Quote",
    "QuoteSource",
    "Rejection",
    "Side",
    "account_payload",
    "fill_payload",
    "order_payload",
    "user_order_payload",
]

"""What `paper --on-stop close` says of the positions its stop orders could not close."""

from __future__ import annotations

from decimal import Decimal

from gpt_trader.cli.paper import unclosed
from gpt_trader.market.events import Side
from gpt_trader.trading.orders import Order, OrderRequest, OrderStatus, RejectReason


def stop_order(account: str, size: str) -> Order:
    return Order(f"paper-{account}", OrderRequest.market(account, "BTC-USD", Side.SELL, base_size=Decimal(size)), 0.0)


def test_each_position_left_open_is_named_with_what_is_left_and_why() -> None:
    filled = stop_order("closed", "1")
    filled.status = OrderStatus.FILLED
    refused = stop_order("gapped", "2").reject(RejectReason.NO_MARKET, "the BTC-USD book lost messages")
    partial = stop_order("thin", "3").cancel("immediate or cancel: the book had no more at an acceptable price")
    assert unclosed([filled, refused, partial]) == [
        "gapped on BTC-USD, 2 left (the BTC-USD book lost messages)",
        "thin on BTC-USD, 3 left (immediate or cancel: the book had no more at an acceptable price)",
    ]

"""Shared makings of the trading tests: a product grid, books and fills built from plain numbers."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from gpt_trader.market.events import BookLevel, BookUpdate, Quote, Side
from gpt_trader.trading.fees import Liquidity
from gpt_trader.trading.money import ProductIncrements
from gpt_trader.trading.orders import Fill

PRODUCT = "BTC-USD"
GRID = ProductIncrements(
    product_id=PRODUCT,
    base_increment=Decimal("0.00000001"),
    quote_increment=Decimal("0.01"),
    price_increment=Decimal("0.01"),
    base_min_size=Decimal("0.00000001"),
    base_max_size=Decimal("3400"),
    quote_min_size=Decimal("1"),
    quote_max_size=Decimal("150000000"),
)
COARSE = ProductIncrements(
    product_id="LINK-USD",
    base_increment=Decimal("0.01"),
    quote_increment=Decimal("0.01"),
    price_increment=Decimal("0.001"),
    base_min_size=Decimal("0.1"),
    base_max_size=Decimal("50000"),
    quote_min_size=Decimal("1"),
    quote_max_size=Decimal("1000000"),
)
GRIDS = {GRID.product_id: GRID, COARSE.product_id: COARSE}

Levels = Sequence[tuple[str, str]]


def levels(pairs: Levels) -> tuple[BookLevel, ...]:
    return tuple(BookLevel(Decimal(price), Decimal(size)) for price, size in pairs)


def snapshot(bids: Levels, asks: Levels, time: float = 0.0, product_id: str = PRODUCT) -> BookUpdate:
    return BookUpdate(product_id, time, levels(bids), levels(asks), snapshot=True)


def update(bids: Levels = (), asks: Levels = (), time: float = 0.0, product_id: str = PRODUCT) -> BookUpdate:
    return BookUpdate(product_id, time, levels(bids), levels(asks))


def quote(bid: str, ask: str, bid_size: str = "1", ask_size: str = "1", time: float = 0.0) -> Quote:
    return Quote(PRODUCT, time, Decimal(bid), Decimal(ask), Decimal(bid_size), Decimal(ask_size))


def fill(side: Side, size: Decimal, price: Decimal, *, fee_rate: Decimal = Decimal("0.006"), reason: str = "",
         grid: ProductIncrements = GRID, time: float = 0.0) -> Fill:  # fmt: skip
    value = grid.value(size, price)
    return Fill("o", "a", grid.product_id, side, price, size, value, grid.fee(value, fee_rate), Liquidity.TAKER,
                time, None, reason)  # fmt: skip

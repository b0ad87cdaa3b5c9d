from __future__ import annotations

from decimal import Decimal

import pytest

from gpt_trader.market.events import Side
from gpt_trader.trading.orders import OrderRequest, OrderType, RejectReason, TimeInForce, check_request
from tests.unit.trading.conftest import COARSE, GRID, PRODUCT

D = Decimal


def test_well_formed_orders_pass() -> None:
    for request in (
        OrderRequest.market("a", PRODUCT, Side.BUY, quote_size=D("100")),
        OrderRequest.market("a", PRODUCT, Side.SELL, base_size=D("0.5")),
        OrderRequest.limit("a", PRODUCT, Side.BUY, D("0.1"), D("50000.01"), post_only=True),
        OrderRequest.limit("a", PRODUCT, Side.SELL, D("0.1"), D("50000"), time_in_force=TimeInForce.FOK),
        OrderRequest.stop("a", PRODUCT, Side.SELL, D("0.1"), D("49000"), limit_price=D("48900")),
    ):
        assert check_request(request, GRID) is None


@pytest.mark.parametrize(
    ("request_", "reason", "words"),
    [
        (OrderRequest.market("a", PRODUCT, Side.BUY), RejectReason.INVALID_ORDER, "exactly one"),
        (OrderRequest.market("a", PRODUCT, Side.SELL, quote_size=D(10)), RejectReason.INVALID_ORDER, "market buy"),
        (OrderRequest.limit("a", PRODUCT, Side.BUY, D(1), D(10), time_in_force=TimeInForce.IOC, post_only=True),
         RejectReason.INVALID_ORDER, "post-only"),
        (OrderRequest("a", PRODUCT, Side.BUY, OrderType.LIMIT, D(1)), RejectReason.INVALID_ORDER, "limit_price"),
        (OrderRequest("a", PRODUCT, Side.BUY, OrderType.STOP, D(1)), RejectReason.INVALID_ORDER, "stop_price"),
        (OrderRequest.market("a", PRODUCT, Side.SELL, base_size=D("0.000000001")), RejectReason.INVALID_SIZE,
         "not a multiple of the base increment"),
        (OrderRequest.market("a", PRODUCT, Side.SELL, base_size=D("5000")), RejectReason.INVALID_SIZE, "between"),
        (OrderRequest.market("a", PRODUCT, Side.BUY, quote_size=D("0.5")), RejectReason.INVALID_SIZE, "quote_size"),
        (OrderRequest.limit("a", PRODUCT, Side.BUY, D(1), D("100.001")), RejectReason.INVALID_PRICE, "limit_price"),
        (OrderRequest.stop("a", PRODUCT, Side.BUY, D(1), D("-1")), RejectReason.INVALID_PRICE, "stop_price"),
        (OrderRequest.limit("a", PRODUCT, Side.BUY, D("0.001"), D("100")), RejectReason.INVALID_SIZE, "worth 0.1"),
        (OrderRequest.stop("a", PRODUCT, Side.SELL, D("0.001"), D("90")), RejectReason.INVALID_SIZE, "worth 0.09"),
    ],
)  # fmt: skip
def test_malformed_orders_are_refused_naming_the_problem(
    request_: OrderRequest, reason: RejectReason, words: str
) -> None:
    rejection = check_request(request_, GRID)
    assert rejection is not None
    assert rejection.reason is reason
    assert words in rejection.message


def test_sizes_are_held_to_a_coarse_grid_and_its_minimum() -> None:
    below_minimum = OrderRequest.market("a", "LINK-USD", Side.SELL, base_size=D("0.05"))
    rejection = check_request(below_minimum, COARSE)
    assert rejection is not None and "between 0.1 and 50000" in rejection.message
    off_grid = OrderRequest.market("a", "LINK-USD", Side.SELL, base_size=D("1.005"))
    rejection = check_request(off_grid, COARSE)
    assert rejection is not None and "multiple of the base increment 0.01" in rejection.message


def test_a_triggered_stop_becomes_a_market_or_a_limit_order() -> None:
    stop = OrderRequest.stop("a", PRODUCT, Side.SELL, D(1), D(90), reason="stop_loss")
    market = stop.triggered()
    assert (market.type, market.base_size, market.reason) == (OrderType.MARKET, D(1), "stop_loss")
    limit = OrderRequest.stop("a", PRODUCT, Side.SELL, D(1), D(90), limit_price=D(89)).triggered()
    assert (limit.type, limit.limit_price, limit.time_in_force) == (OrderType.LIMIT, D(89), TimeInForce.GTC)

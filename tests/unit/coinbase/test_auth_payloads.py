"""Payloads of the authenticated endpoints: recorded fixtures parse to exact values; new fields and values pass."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from gpt_trader.coinbase.constants import ACCOUNT_TYPE_CRYPTO, ACCOUNT_TYPE_FIAT
from gpt_trader.coinbase.errors import MalformedResponse
from gpt_trader.coinbase.orders import (
    CreatedOrder,
    OrderRejected,
    limit_gtc_configuration,
    market_configuration,
    parse_account,
    parse_accounts,
    parse_cancel_results,
    parse_created_order,
    parse_fills,
    parse_order,
    parse_order_preview,
    parse_orders,
    parse_transaction_summary,
)
from gpt_trader.errors import UserError
from tests.support.fixtures import REST_FIXTURES


def fixture(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((REST_FIXTURES / name).read_text())
    return document


def test_the_accounts_fixture_reads_as_exact_balances() -> None:
    page = parse_accounts(fixture("http_accounts.json"))
    assert (page.has_next, page.cursor, page.size) == (False, "", 2)
    btc, usd = page.accounts
    assert (btc.currency, btc.available_balance.value, btc.hold and btc.hold.value) == (
        "BTC", Decimal("0.25000000"), Decimal("0.01000000")
    )
    assert (usd.type, usd.available_balance.value, usd.default, usd.deleted_at) == (
        ACCOUNT_TYPE_FIAT, Decimal("2500.00"), False, None
    )
    assert (usd.is_fiat, btc.is_fiat, btc.type) == (True, False, ACCOUNT_TYPE_CRYPTO)
    assert btc.created_at == datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    single = parse_account({"account": fixture("http_accounts.json")["accounts"][1]})
    assert single == usd


def test_the_order_fixture_reads_with_decimals_counts_and_times() -> None:
    order = parse_order(fixture("http_order.json"))
    assert (order.order_id, order.client_order_id, order.side, order.status) == (
        "00000000-0000-4000-8000-000000000101", "00000000-0000-4000-8000-000000000201", "BUY", "OPEN"
    )
    assert order.order_configuration == {
        "limit_limit_gtc": {"base_size": "0.002", "limit_price": "65000.00", "post_only": False}
    }
    assert (order.filled_size, order.total_fees, order.fee) == (Decimal("0.001"), Decimal("0.39"), None)
    assert order.number_of_fills == 2 and order.is_open
    assert order.last_fill_time == datetime(2026, 8, 9, 21, 5, 50, 500000, tzinfo=UTC)


def test_the_fills_fixture_reads_commissions_and_liquidity() -> None:
    page = parse_fills(fixture("http_fills.json"))
    assert page.cursor == ""
    maker, taker = page.fills
    assert (maker.price, maker.size, maker.commission, maker.liquidity_indicator) == (
        Decimal("65000.00"), Decimal("0.001"), Decimal("0.26"), "MAKER"
    )
    assert (taker.product_id, taker.side, taker.liquidity_indicator) == ("ETH-USD", "SELL", "TAKER")
    assert taker.commission == Decimal("0.575832")
    assert taker.sequence_timestamp == datetime(2026, 8, 9, 21, 6, 1, 250000, tzinfo=UTC), "nanoseconds read to µs"


def test_the_recorded_extract_reads_pages_and_an_empty_fee() -> None:
    extract = fixture("coinbase_advanced_rest_extract.json")
    fills = parse_fills(extract["fetchMyTrades_spot"]["httpResponse"])
    assert fills.cursor == "114994851" and fills.fills[0].commission == Decimal("0.03136")
    swap = parse_fills(extract["fetchMyTrades_swap"]["httpResponse"])
    assert swap.fills[0].product_id == "ADA-PERP-INTX"
    orders = parse_orders(extract["fetchClosedOrders_spot"]["httpResponse"])
    assert (orders.has_next, orders.cursor, orders.sequence) == (True, "748478308", 0)
    order = orders.orders[0]
    assert order.fee is None, 'Coinbase writes an absent fee as ""'
    assert (order.status, order.order_type, order.is_open) == ("FILLED", "MARKET", False)
    assert order.total_value_after_fees == Decimal("3.88864")
    assert order.created_time == datetime(2023, 11, 26, 10, 19, 47, 423220, tzinfo=UTC)


def test_new_fields_and_new_enumeration_values_pass_through() -> None:
    document = copy.deepcopy(fixture("http_order.json"))
    document["order"] |= {"status": "PARTIALLY_AMENDED", "order_type": "TWAP", "brand_new_field": {"a": [1]}}
    document["order"]["created_time"] = "2026-08-09T21:05:48.298032046Z"
    order = parse_order(document)
    assert (order.status, order.order_type, order.is_open) == ("PARTIALLY_AMENDED", "TWAP", False)
    assert order.created_time == datetime(2026, 8, 9, 21, 5, 48, 298032, tzinfo=UTC)


@pytest.mark.parametrize(
    ("spoil", "names"),
    [
        (lambda order: order.pop("order_id"), "order_id"),
        (lambda order: order.update(filled_size="lots"), "filled_size"),
        (lambda order: order.update(created_time="yesterday"), "created_time"),
    ],
)
def test_a_malformed_order_names_the_field(spoil: Any, names: str) -> None:
    document = copy.deepcopy(fixture("http_order.json"))
    spoil(document["order"])
    with pytest.raises(MalformedResponse) as malformed:
        parse_order(document)
    assert "malformed order" in str(malformed.value) and names in str(malformed.value)


def test_a_fill_without_its_price_is_malformed_even_when_blank() -> None:
    fill = {"trade_id": "t", "order_id": "o", "product_id": "BTC-USD", "price": "", "size": "1", "commission": "0",
            "trade_time": "2024-01-15T10:30:00Z"}
    with pytest.raises(MalformedResponse, match=r"fills list.*price"):
        parse_fills({"fills": [fill], "cursor": ""})


def test_an_accepted_order_keeps_its_configuration() -> None:
    configuration = {"market_market_ioc": {"quote_size": "10"}}
    created = parse_created_order(
        {
            "success": True,
            "success_response": {"order_id": "abc", "product_id": "BTC-USD", "side": "BUY", "client_order_id": "c1"},
            "order_configuration": configuration,
        }
    )
    assert created == CreatedOrder("abc", "BTC-USD", "BUY", "c1", configuration)


def test_a_refused_order_becomes_a_typed_error_with_every_reason() -> None:
    document = {
        "success": False,
        "failure_reason": "UNKNOWN_FAILURE_REASON",
        "order_id": "",
        "error_response": {
            "error": "INSUFFICIENT_FUND",
            "message": "Insufficient balance in source account",
            "error_details": "",
            "preview_failure_reason": "PREVIEW_INSUFFICIENT_FUND",
            "new_order_failure_reason": "UNKNOWN_FAILURE_REASON",
        },
    }
    with pytest.raises(OrderRejected) as refused:
        parse_created_order(document, client_order_id="c7")
    error = refused.value
    assert isinstance(error, UserError)
    assert (error.error, error.message, error.details) == (
        "INSUFFICIENT_FUND", "Insufficient balance in source account", ""
    )
    assert (error.preview_failure_reason, error.new_order_failure_reason, error.client_order_id) == (
        "PREVIEW_INSUFFICIENT_FUND", "UNKNOWN_FAILURE_REASON", "c7"
    )
    assert str(error) == (
        "Coinbase refused order c7: INSUFFICIENT_FUND: Insufficient balance in source account "
        "(PREVIEW_INSUFFICIENT_FUND; UNKNOWN_FAILURE_REASON)"
    )


def test_a_refusal_without_an_error_response_falls_back_to_the_failure_reason() -> None:
    with pytest.raises(OrderRejected) as refused:
        parse_created_order({"success": False, "failure_reason": "ORDER_ENTRY_DISABLED"})
    assert refused.value.error == "ORDER_ENTRY_DISABLED"
    with pytest.raises(MalformedResponse, match="success_response is missing"):
        parse_created_order({"success": True})


def test_cancel_results_preview_and_fee_summary_read_as_documented() -> None:
    results = parse_cancel_results(
        {"results": [{"success": True, "failure_reason": "UNKNOWN_CANCEL_FAILURE_REASON", "order_id": "a"},
                     {"success": False, "failure_reason": "UNKNOWN_CANCEL_ORDER", "order_id": "b"}]}
    )
    assert [(r.order_id, r.success) for r in results] == [("a", True), ("b", False)]
    preview = parse_order_preview(
        {"order_total": "10", "commission_total": "0.06", "errs": ["PREVIEW_INSUFFICIENT_FUND"], "warning": [],
         "quote_size": "10", "base_size": "0.00015384", "best_bid": "64999.99", "best_ask": "65000",
         "is_max": False, "slippage": "", "preview_id": "p", "order_margin_total": "0"}
    )
    assert (preview.commission_total, preview.base_size, preview.slippage) == (
        Decimal("0.06"), Decimal("0.00015384"), None
    )
    assert preview.errs == ["PREVIEW_INSUFFICIENT_FUND"]
    summary = parse_transaction_summary(
        {"total_volume": 1234.5, "total_fees": 0.1, "advanced_trade_only_volume": 0,
         "fee_tier": {"pricing_tier": "Advanced 1", "usd_from": "0", "usd_to": "10000",
                      "taker_fee_rate": "0.006", "maker_fee_rate": "0.004"}}
    )
    assert (summary.total_volume, summary.total_fees) == (Decimal("1234.5"), Decimal("0.1"))
    assert (summary.fee_tier.taker_fee_rate, summary.fee_tier.maker_fee_rate) == (Decimal("0.006"), Decimal("0.004"))


def test_order_configurations_write_sizes_as_positional_strings() -> None:
    assert market_configuration(quote_size=Decimal("10.50")) == {"market_market_ioc": {"quote_size": "10.50"}}
    assert market_configuration(base_size=Decimal("1E-8")) == {"market_market_ioc": {"base_size": "0.00000001"}}
    assert limit_gtc_configuration(Decimal("0.001"), Decimal("6.5E+4"), post_only=True) == {
        "limit_limit_gtc": {"base_size": "0.001", "limit_price": "65000", "post_only": True}
    }


@pytest.mark.parametrize(
    ("build", "error", "says"),
    [
        (lambda: market_configuration(), ValueError, "exactly one of quote_size and base_size"),
        (lambda: market_configuration(quote_size=Decimal(1), base_size=Decimal(1)), ValueError, "exactly one"),
        (lambda: market_configuration(quote_size=0.1), TypeError, "floats are inexact"),
        (lambda: limit_gtc_configuration(Decimal("0"), Decimal(1)), ValueError, "base_size must be a positive"),
        (lambda: limit_gtc_configuration(Decimal(1), Decimal("NaN")), ValueError, "limit_price must be a positive"),
    ],
)
def test_an_impossible_configuration_is_refused_before_it_is_sent(build: Any, error: type, says: str) -> None:
    with pytest.raises(error, match=says):
        build()

"""Hostile and careless REST inputs against a real sandbox on loopback, one table: every answer takes
Coinbase's shape (a 400 with `{"error", "message", "error_details"}`, or HTTP 200 with `success: false`
and the reason), never a 500, and a request that fails leaves nothing stored."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from gpt_trader.coinbase.auth import CdpKey
from gpt_trader.config import Credentials
from tests.integration.sandbox.conftest import RunningSandbox

API = "/api/v3/brokerage"


@dataclass(frozen=True)
class Hostile:
    """One request and what the sandbox must answer: `error` (an HTTP 400's code and a phrase of its
    message), `refused` (an order's `preview_failure_reason`) or `preview` (a preview's `errs`)."""

    method: str
    path: str
    body: Any = None
    content: bytes | None = None
    content_type: str = "application/json"
    error: tuple[str, str] | None = None
    refused: str | None = None
    preview: str | None = None
    params: dict[str, str] = field(default_factory=dict)


def limit_gtc(base_size: Any = "0.001", limit_price: Any = "60000.00") -> dict[str, Any]:
    return {"limit_limit_gtc": {"base_size": base_size, "limit_price": limit_price, "post_only": False}}


def order(configuration: dict[str, Any], client_order_id: Any = "hostile", **extra: Any) -> dict[str, Any]:
    return {"client_order_id": client_order_id, "product_id": "BTC-USD", "side": "BUY",
            "order_configuration": configuration, **extra}


def market(quote_size: Any) -> dict[str, Any]:
    return {"market_market_ioc": {"quote_size": quote_size}}


def post_order(configuration: dict[str, Any], refused: str) -> Hostile:
    return Hostile("POST", "/orders", order(configuration), refused=refused)


def preview(configuration: dict[str, Any], reason: str) -> Hostile:
    body = {key: value for key, value in order(configuration).items() if key != "client_order_id"}
    return Hostile("POST", "/orders/preview", body, preview=reason)


def bad_request(method: str, path: str, phrase: str, **fields: Any) -> Hostile:
    return Hostile(method, path, error=("INVALID_ARGUMENT", phrase), **fields)


BASE_TOO_LARGE = "PREVIEW_INVALID_BASE_SIZE_TOO_LARGE"
QUOTE_TOO_LARGE = "PREVIEW_INVALID_QUOTE_SIZE_TOO_LARGE"
BAD_PRICE = "PREVIEW_INVALID_LIMIT_PRICE"
NOT_A_DECIMAL = "PREVIEW_INVALID_ORDER_CONFIG"
BOOK = "/market/product_book"
CANDLES = "/market/products/BTC-USD/candles"

CASES: dict[str, Hostile] = {
    "base-1E+30": post_order(limit_gtc(base_size="1E+30"), BASE_TOO_LARGE),
    "base-1e400": post_order(limit_gtc(base_size="1e400"), BASE_TOO_LARGE),
    "base-1E+999999999": post_order(limit_gtc(base_size="1E+999999999"), BASE_TOO_LARGE),
    "base-1E-999999": post_order(limit_gtc(base_size="1E-999999"), "PREVIEW_INVALID_BASE_SIZE_TOO_SMALL"),
    "price-1E+30": post_order(limit_gtc(limit_price="1E+30"), BAD_PRICE),
    "price-1e400": post_order(limit_gtc(limit_price="1e400"), BAD_PRICE),
    "price-1E+999999999": post_order(limit_gtc(limit_price="1E+999999999"), BAD_PRICE),
    "price-1E-999999": post_order(limit_gtc(limit_price="1E-999999"), BAD_PRICE),
    "quote-1E+30": post_order(market("1E+30"), QUOTE_TOO_LARGE),
    "quote-1e400": post_order(market("1e400"), QUOTE_TOO_LARGE),
    "quote-1E+999999999": post_order(market("1E+999999999"), QUOTE_TOO_LARGE),
    "base-spaces": post_order(limit_gtc(base_size=" 0.001 "), NOT_A_DECIMAL),
    "base-underscore": post_order(limit_gtc(base_size="0.00_1"), NOT_A_DECIMAL),
    "base-integer": post_order(limit_gtc(base_size=1), NOT_A_DECIMAL),
    "base-fullwidth-digit": post_order(limit_gtc(base_size="\uff11"), NOT_A_DECIMAL),
    "base-nan": post_order(limit_gtc(base_size="NaN"), NOT_A_DECIMAL),
    "price-infinity": post_order(limit_gtc(limit_price="Infinity"), NOT_A_DECIMAL),
    "preview-base-1E+30": preview(limit_gtc(base_size="1E+30"), BASE_TOO_LARGE),
    "preview-price-1e400": preview(limit_gtc(limit_price="1e400"), BAD_PRICE),
    "preview-quote-1E+999999999": preview(market("1E+999999999"), QUOTE_TOO_LARGE),
    "client-order-id-lone-surrogate": bad_request("POST", "/orders", "not valid Unicode",
                                                  body=order(limit_gtc(), client_order_id="\ud800")),
    "configuration-lone-surrogate": bad_request("POST", "/orders", "not valid Unicode",
                                                body=order(limit_gtc(base_size="\udfff"))),
    "client-order-id-object": bad_request("POST", "/orders", "client_order_id must be a string",
                                          body=order(limit_gtc(), client_order_id={"id": 1})),
    "client-order-id-number": bad_request("POST", "/orders", "client_order_id must be a string",
                                          body=order(limit_gtc(), client_order_id=7)),
    "deeply-nested": bad_request("POST", "/orders", "not valid JSON", content=b"[" * 60_000),
    "deeply-nested-100k": bad_request("POST", "/orders", "larger than", content=b"[" * 100_000),
    "text-plain": bad_request("POST", "/orders", "Content-Type must be application/json",
                              body=order(limit_gtc()), content_type="text/plain"),
    "no-content-type": bad_request("POST", "/orders", "Content-Type must be application/json",
                                   body=order(limit_gtc()), content_type=""),
    "ten-megabytes": bad_request("POST", "/orders", "larger than",
                                 body=order(limit_gtc(), padding="x" * 10_000_000)),
    "not-an-object": bad_request("POST", "/orders", "must be a JSON object", body=[order(limit_gtc())]),
    "cancel-lone-surrogate": bad_request("POST", "/orders/batch_cancel", "not valid Unicode",
                                         body={"order_ids": ["\ud800"]}),
    "book-tiny-increment": bad_request("GET", BOOK, "aggregation_price_increment",
                                       params={"product_id": "BTC-USD", "aggregation_price_increment": "1E-999999"}),
    "book-huge-increment": bad_request("GET", BOOK, "aggregation_price_increment",
                                       params={"product_id": "BTC-USD", "aggregation_price_increment": "1E+999999"}),
    "book-negative-limit": bad_request("GET", BOOK, "limit must be", params={"product_id": "BTC-USD", "limit": "-3"}),
    "candles-huge-end": bad_request("GET", CANDLES, "end must be a whole number",
                                    params={"granularity": "ONE_MINUTE", "end": "99999999999999999999"}),
    "candles-underscore": bad_request("GET", CANDLES, "start must be a whole number",
                                      params={"granularity": "ONE_MINUTE", "start": "1_717_200_000"}),
    "candles-fullwidth": bad_request("GET", CANDLES, "start must be a whole number",
                                     params={"granularity": "ONE_MINUTE", "start": "\uff11"}),
}


@dataclass
class Signed:
    sandbox: RunningSandbox
    key: CdpKey

    def send(self, case: Hostile) -> httpx.Response:
        host = self.sandbox.url.removeprefix("http://")
        headers = {"Authorization": f"Bearer {self.key.rest_jwt(case.method, host, API + case.path)}"}
        if case.content_type:
            headers["Content-Type"] = case.content_type
        content = case.content
        if content is None and case.body is not None:
            content = json.dumps(case.body).encode()  # ASCII escapes: a lone surrogate travels as \ud800
        return httpx.request(case.method, self.sandbox.url + API + case.path, params=case.params,
                             content=content, headers=headers, timeout=30)


@pytest.fixture
def signed(sandbox: RunningSandbox) -> Signed:
    created = sandbox.keys.create_key()
    return Signed(sandbox, CdpKey.from_credentials(Credentials(created.key_name, created.private_key_pem)))


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_a_hostile_input_gets_coinbases_error_shape_and_stores_nothing(signed: Signed, case: Hostile) -> None:
    answer = signed.send(case)
    body = answer.json()
    if case.error is not None:
        code, phrase = case.error
        assert (answer.status_code, body["error"]) == (400, code), answer.text[:300]
        assert set(body) == {"error", "message", "error_details"} and phrase in body["message"], body
    elif case.refused is not None:
        assert answer.status_code == 200 and body["success"] is False, answer.text[:300]
        assert body["error_response"]["preview_failure_reason"] == case.refused, body
    else:
        assert answer.status_code == 200 and body["errs"] == [case.preview], answer.text[:300]
    listed = signed.send(Hostile("GET", "/orders/historical/batch"))
    assert listed.status_code == 200 and listed.json()["orders"] == [], "a failed request stores nothing"

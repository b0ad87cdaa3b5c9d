"""The authenticated REST client against a real loopback server that checks every JWT with the sandbox's
KeyStore: accounts, orders, fills, refusals, and an order POST that is never sent twice. The tokens are
also checked here with PyJWT and the key file alone, so a mistake the client and the KeyStore share
cannot pass unseen."""

from __future__ import annotations

import base64
import logging
import re
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from gpt_trader.coinbase.auth import CdpKey, auth_hook
from gpt_trader.coinbase.errors import CoinbaseError
from gpt_trader.coinbase.orders import OrderNotPlaced, OrderOutcomeUnknown, OrderRejected
from gpt_trader.coinbase.rest import CoinbaseRestClient
from gpt_trader.coinbase.retry import RetryPolicy
from gpt_trader.config import read_key_file
from gpt_trader.errors import ConfigError
from gpt_trader.sandbox.keys import KeyStore
from tests.support.authed_routes import AuthedCoinbaseServer
from tests.support.loopback_http import free_port

PublicKey = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey
FAST = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05)
CURRENCIES = ["BTC", "ETH", "SOL", "USD", "USDC"]


def account(index: int, currency: str) -> dict[str, Any]:
    return {
        "uuid": f"{index:08d}-f7c6-4422-bf07-8243ca4169fe",
        "name": f"{currency} Wallet",
        "currency": currency,
        "available_balance": {"value": f"{index + 1}.5", "currency": currency},
        "hold": {"value": "0", "currency": currency},
        "default": currency == "USD",
        "active": True,
        "created_at": "2021-05-31T09:59:59Z",
        "updated_at": "2024-01-15T10:30:00Z",
        "deleted_at": None,
        "type": "ACCOUNT_TYPE_FIAT" if currency.startswith("USD") else "ACCOUNT_TYPE_CRYPTO",
        "ready": True,
        "retail_portfolio_id": "portfolio-001",
    }


@pytest.fixture
def store(tmp_path: Path) -> KeyStore:
    return KeyStore(tmp_path / "sandbox-state")


@pytest.fixture(params=[False, True], ids=["ES256", "EdDSA"])
def key(request: pytest.FixtureRequest, store: KeyStore, tmp_path: Path) -> CdpKey:
    created = store.create_key(ed25519_key=request.param, out=tmp_path / "cdp_api_key.json")
    assert created.path is not None
    return CdpKey.from_credentials(read_key_file(created.path))


@pytest.fixture
def server(store: KeyStore) -> Iterator[AuthedCoinbaseServer]:
    with AuthedCoinbaseServer(store, [account(i, c) for i, c in enumerate(CURRENCIES)]) as running:
        yield running


def client_for(server: AuthedCoinbaseServer, key: CdpKey) -> CoinbaseRestClient:
    return CoinbaseRestClient(server.url, auth=auth_hook(key), retry=FAST)


async def test_accounts_are_read_page_by_page_with_the_cursor(server: AuthedCoinbaseServer, key: CdpKey) -> None:
    async with client_for(server, key) as client:
        first = await client.accounts(limit=2)
        every = await client.all_accounts(page_size=2)
        one = await client.account(first.accounts[1].uuid)

    assert [a.currency for a in first.accounts] == ["BTC", "ETH"] and first.has_next and first.cursor == "2"
    assert [a.currency for a in every] == CURRENCIES
    assert [a.available_balance.value for a in every] == [Decimal(f"{i + 1}.5") for i in range(5)]
    cursors = [call.query.get("cursor") for call in server.calls_to("GET", "/accounts")]
    assert cursors == [None, None, ["2"], ["4"]]
    assert one == first.accounts[1]
    assert server.auth_failures == []


async def test_a_market_order_fills_and_its_fill_carries_the_fee(server: AuthedCoinbaseServer, key: CdpKey) -> None:
    async with client_for(server, key) as client:
        created = await client.market_order("client-1", "BTC-USD", "buy", quote_size=Decimal("100"))
        order = await client.get_order(created.order_id)
        fills = await client.list_fills(order_ids=[created.order_id])

    (post,) = server.calls_to("POST", "/orders")
    assert post.body == {
        "client_order_id": "client-1",
        "product_id": "BTC-USD",
        "side": "BUY",
        "order_configuration": {"market_market_ioc": {"quote_size": "100"}},
    }
    assert (created.client_order_id, created.side, created.order_configuration) == (
        "client-1", "BUY", {"market_market_ioc": {"quote_size": "100"}}
    )
    assert (order.status, order.order_type, order.is_open) == ("FILLED", "MARKET", False)
    assert order.filled_size == Decimal("0.00153846") and order.average_filled_price == Decimal("65000.00")
    (fill,) = fills.fills
    assert fill.order_id == created.order_id and fill.liquidity_indicator == "TAKER"
    assert fill.commission == fill.size * fill.price * Decimal("0.006")
    assert fill.trade_time.tzinfo is not None and fills.cursor == ""


async def test_a_refused_order_raises_order_rejected(server: AuthedCoinbaseServer, key: CdpKey) -> None:
    async with client_for(server, key) as client:
        with pytest.raises(OrderRejected) as refused:
            await client.limit_order_gtc("client-2", "DOGE-USD", "BUY", Decimal("10"), Decimal("0.1"))
    assert (refused.value.error, refused.value.preview_failure_reason) == (
        "INVALID_PRODUCT_ID", "PREVIEW_INVALID_PRODUCT_ID"
    )
    assert "client-2" in str(refused.value) and server.orders == []


async def test_a_limit_order_rests_is_listed_and_cancelled_once(server: AuthedCoinbaseServer, key: CdpKey) -> None:
    async with client_for(server, key) as client:
        created = await client.limit_order_gtc(
            "client-3", "ETH-USD", "SELL", Decimal("0.5"), Decimal("3500.00"), post_only=True
        )
        listed = await client.list_orders(order_status=["OPEN"], product_ids=["ETH-USD"])
        first = await client.cancel_orders([created.order_id, "no-such-order"])
        again = await client.cancel_orders([created.order_id])
        order = await client.get_order(created.order_id)

    assert [o.order_id for o in listed.orders] == [created.order_id] and listed.orders[0].is_open
    assert listed.orders[0].order_configuration == {
        "limit_limit_gtc": {"base_size": "0.5", "limit_price": "3500.00", "post_only": True}
    }
    assert [(r.order_id, r.success, r.failure_reason) for r in first] == [
        (created.order_id, True, "UNKNOWN_CANCEL_FAILURE_REASON"),
        ("no-such-order", False, "UNKNOWN_CANCEL_ORDER"),
    ]
    assert not again[0].success and order.status == "CANCELLED"
    assert server.calls_to("GET", "/orders/historical/batch")[0].query["order_status"] == ["OPEN"]


async def test_orders_page_by_cursor_and_a_repeated_client_order_id_places_nothing_new(
    server: AuthedCoinbaseServer, key: CdpKey
) -> None:
    async with client_for(server, key) as client:
        ids = [
            (await client.limit_order_gtc(f"c-{n}", "BTC-USD", "BUY", Decimal("0.001"), Decimal(60_000 + n))).order_id
            for n in range(3)
        ]
        repeated = await client.limit_order_gtc("c-1", "BTC-USD", "BUY", Decimal("0.001"), Decimal(60_001))
        first = await client.list_orders(limit=2)
        second = await client.list_orders(limit=2, cursor=first.cursor)

    assert repeated.order_id == ids[1] and len(server.orders) == 3
    assert first.has_next and not second.has_next
    assert [o.order_id for o in first.orders + second.orders] == ids[::-1]


async def test_a_503_on_an_order_that_landed_finds_it_instead_of_sending_it_again(
    server: AuthedCoinbaseServer, key: CdpKey
) -> None:
    server.fail_next(503, after_handling=True)
    async with client_for(server, key) as client:
        created = await client.limit_order_gtc("lost-answer", "BTC-USD", "BUY", Decimal("0.01"), Decimal("50000"))

    assert len(server.calls_to("POST", "/orders")) == 1, "an order POST is never sent twice"
    assert [o["order_id"] for o in server.orders] == [created.order_id]
    (lookup,) = server.calls_to("GET", "/orders/historical/batch")
    assert lookup.query["product_ids"] == ["BTC-USD"] and lookup.query["order_side"] == ["BUY"]
    assert "start_date" not in lookup.query, "the lookup must not depend on the local clock"
    assert created.client_order_id == "lost-answer" and "limit_limit_gtc" in created.order_configuration


async def test_a_503_on_an_order_that_did_not_land_says_it_was_not_placed(
    server: AuthedCoinbaseServer, key: CdpKey
) -> None:
    server.fail_next(503)
    async with client_for(server, key) as client:
        with pytest.raises(OrderNotPlaced) as not_placed:
            await client.market_order("dropped", "BTC-USD", "SELL", base_size=Decimal("0.01"))
    assert len(server.calls_to("POST", "/orders")) == 1 and server.orders == []
    assert isinstance(not_placed.value.cause, CoinbaseError) and not_placed.value.cause.status == 503
    assert "same client_order_id is safe" in str(not_placed.value)


async def test_when_the_lookup_fails_too_the_outcome_is_unknown(server: AuthedCoinbaseServer, key: CdpKey) -> None:
    server.fail_next(503, count=1 + FAST.attempts)
    async with client_for(server, key) as client:
        with pytest.raises(OrderOutcomeUnknown) as unknown:
            await client.market_order("in-doubt", "BTC-USD", "BUY", quote_size=Decimal("5"))
    assert len(server.calls_to("POST", "/orders")) == 1
    assert len(server.calls_to("GET", "/orders/historical/batch")) == FAST.attempts
    assert "in-doubt" in str(unknown.value) and "before placing it again" in str(unknown.value)


async def test_an_unreachable_exchange_leaves_an_order_unknown(key: CdpKey) -> None:
    async with CoinbaseRestClient(f"http://127.0.0.1:{free_port()}", auth=auth_hook(key), retry=FAST) as client:
        with pytest.raises(OrderOutcomeUnknown, match="could not be reached"):
            await client.market_order("nowhere", "BTC-USD", "BUY", quote_size=Decimal("5"))


async def test_preview_and_fee_summary(server: AuthedCoinbaseServer, key: CdpKey) -> None:
    async with client_for(server, key) as client:
        await client.market_order("fee-1", "ETH-USD", "BUY", quote_size=Decimal("320"))
        preview = await client.preview_order("BTC-USD", "BUY", {"market_market_ioc": {"quote_size": "65"}})
        summary = await client.transaction_summary()
    assert (preview.base_size, preview.commission_total, preview.errs) == (Decimal("0.001"), Decimal("0.390"), [])
    assert summary.fee_tier.taker_fee_rate == Decimal("0.006") and summary.total_fees == Decimal("1.92")
    assert server.orders[0]["client_order_id"] == "fee-1", "a preview places nothing"


async def test_without_a_key_the_client_says_how_to_configure_one(server: AuthedCoinbaseServer) -> None:
    async with CoinbaseRestClient(server.url, retry=FAST) as client:
        calls: list[Callable[[], Any]] = [
            client.all_accounts,
            lambda: client.market_order("x", "BTC-USD", "BUY", quote_size=Decimal(1)),
            lambda: client.cancel_orders(["x"]),
            client.transaction_summary,
        ]
        for call in calls:
            with pytest.raises(ConfigError, match="COINBASE_API_KEY"):
                await call()
    assert server.calls == []


async def test_a_key_the_exchange_does_not_know_is_refused_with_401(
    server: AuthedCoinbaseServer, tmp_path: Path
) -> None:
    stranger = KeyStore(tmp_path / "elsewhere").create_key(out=tmp_path / "stranger.json")
    assert stranger.path is not None
    key = CdpKey.from_credentials(read_key_file(stranger.path))
    async with client_for(server, key) as client:
        with pytest.raises(CoinbaseError) as refused:
            await client.accounts()
    assert (refused.value.status, refused.value.code) == (401, "UNAUTHORIZED")
    assert server.auth_failures == [f"unknown key …{key.key_name[-6:]}"]


async def test_no_token_or_secret_reaches_the_log(
    server: AuthedCoinbaseServer, key: CdpKey, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    tokens: list[str] = []
    sign = auth_hook(key)

    def recording(method: str, host: str, path: str) -> dict[str, str]:
        headers = sign(method, host, path)
        tokens.append(headers["Authorization"].removeprefix("Bearer "))
        return headers

    caplog.set_level(logging.DEBUG)
    server.fail_next(503, after_handling=True)
    async with CoinbaseRestClient(server.url, auth=recording, retry=FAST) as client:
        await client.all_accounts()
        await client.limit_order_gtc("logged", "BTC-USD", "BUY", Decimal("0.01"), Decimal("50000"))
    secret = read_key_file(tmp_path / "cdp_api_key.json").private_key
    assert len(tokens) >= 3 and "503" in caplog.text, "the retry and the lookup were logged"
    assert all(token not in caplog.text for token in tokens)
    assert all(line not in caplog.text for line in secret.splitlines() if not line.startswith("-----"))



def public_key_of(key_file: Path) -> PublicKey:
    """The key file's public half, read here with `cryptography` alone (neither the client nor the sandbox)."""
    secret = read_key_file(key_file).private_key
    if secret.startswith("-----BEGIN"):
        private = serialization.load_pem_private_key(secret.encode(), password=None)
        assert isinstance(private, ec.EllipticCurvePrivateKey)
        return private.public_key()
    return ed25519.Ed25519PrivateKey.from_private_bytes(base64.b64decode(secret)[:32]).public_key()


async def test_every_token_the_client_sends_checks_out_with_pyjwt_alone(
    server: AuthedCoinbaseServer, key: CdpKey, tmp_path: Path
) -> None:
    tokens: list[str] = []
    sign = auth_hook(key)

    def recording(method: str, host: str, path: str) -> dict[str, str]:
        headers = sign(method, host, path)
        tokens.append(headers["Authorization"].removeprefix("Bearer "))
        return headers

    before = int(time.time())
    async with CoinbaseRestClient(server.url, auth=recording, retry=FAST) as client:
        await client.accounts(limit=2)
        created = await client.limit_order_gtc("pyjwt-1", "BTC-USD", "BUY", Decimal("0.01"), Decimal("50000"))
        await client.get_order(created.order_id)
        await client.cancel_orders([created.order_id])
    after = int(time.time())

    public = public_key_of(tmp_path / "cdp_api_key.json")
    host = server.url.removeprefix("http://")
    calls = server.calls
    assert len(tokens) == len(calls) == 4
    nonces = set()
    for token, call in zip(tokens, calls, strict=True):
        header = jwt.get_unverified_header(token)
        assert header == {"alg": key.algorithm, "kid": key.key_name, "nonce": header["nonce"], "typ": "JWT"}
        assert re.fullmatch(r"[0-9a-f]{32}", header["nonce"])
        nonces.add(header["nonce"])
        claims = jwt.decode(token, public, algorithms=[key.algorithm], options={"require": ["nbf", "exp"]})
        assert before <= claims["nbf"] <= after and claims["exp"] == claims["nbf"] + 120
        assert claims == {"sub": key.key_name, "iss": "cdp", "nbf": claims["nbf"], "exp": claims["exp"],
                          "uri": f"{call.method} {host}{call.path}"}
    assert len(nonces) == 4, "a fresh nonce for every request"
    assert [call.path for call in calls][1:3] == ["/api/v3/brokerage/orders",
                                                 f"/api/v3/brokerage/orders/historical/{created.order_id}"]

"""The authenticated twins of the market endpoints: a JWT bound to method, host and path, or a plain 401."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import httpx
from cryptography.hazmat.primitives.asymmetric import ec

from gpt_trader.coinbase.auth import CdpKey, auth_hook
from gpt_trader.coinbase.rest import CoinbaseRestClient
from gpt_trader.config import read_key_file
from gpt_trader.sandbox.ratelimit import RateLimits
from tests.integration.sandbox.conftest import RunningSandbox, StartSandbox

API = "/api/v3/brokerage"


def new_key(sandbox: RunningSandbox, path: Path) -> CdpKey:
    created = sandbox.keys.create_key(out=path)
    return CdpKey.from_credentials(read_key_file(created.path or path))


def signed_get(sandbox: RunningSandbox, key: CdpKey, path: str, signed_path: str | None = None,
               now: int | None = None, **params: str) -> httpx.Response:
    host = sandbox.url.removeprefix("http://")
    token = key.rest_jwt("GET", host, API + (signed_path or path), now=now)
    return httpx.get(sandbox.url + API + path, params=params, headers={"Authorization": f"Bearer {token}"},
                     timeout=10)


def test_without_a_valid_token_the_answer_is_a_plain_401(sandbox: RunningSandbox, tmp_path: Path) -> None:
    key = new_key(sandbox, tmp_path / "key.json")
    refusals = [
        httpx.get(sandbox.url + API + "/products", timeout=10),
        httpx.get(sandbox.url + API + "/products", headers={"Authorization": "Bearer not-a-jwt"}, timeout=10),
        signed_get(sandbox, key, "/products", signed_path="/accounts"),
        signed_get(sandbox, key, "/products", now=1_000_000_000),
    ]
    for answer in refusals:
        assert (answer.status_code, answer.text) == (401, "Unauthorized")
    assert signed_get(sandbox, key, "/products").status_code == 200


def test_the_twins_answer_what_the_public_endpoints_answer(sandbox: RunningSandbox, tmp_path: Path) -> None:
    key = new_key(sandbox, tmp_path / "key.json")
    private = signed_get(sandbox, key, "/products/ETH-USD").json()
    public = httpx.get(sandbox.url + API + "/market/products/ETH-USD", timeout=10).json()
    assert private.keys() == public.keys() and private["price_increment"] == public["price_increment"]
    four_hours = signed_get(sandbox, key, "/products/BTC-USD/candles", granularity="FOUR_HOUR").json()["candles"]
    assert four_hours and all(int(c["start"]) % 14_400 == 0 for c in four_hours)
    book = signed_get(sandbox, key, "/product_book", product_id="BTC-USD", limit="2").json()
    assert len(book["pricebook"]["bids"]) == 2


def test_best_bid_ask_gives_each_products_top_of_book(sandbox: RunningSandbox, tmp_path: Path) -> None:
    key = new_key(sandbox, tmp_path / "key.json")
    host = sandbox.url.removeprefix("http://")
    token = key.rest_jwt("GET", host, API + "/best_bid_ask")
    answer = httpx.get(
        sandbox.url + API + "/best_bid_ask?product_ids=BTC-USD&product_ids=ETH-USD",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    ).json()
    assert [book["product_id"] for book in answer["pricebooks"]] == ["BTC-USD", "ETH-USD"]
    for book in answer["pricebooks"]:
        assert len(book["bids"]) == len(book["asks"]) == 1
        assert Decimal(book["bids"][0]["price"]) < Decimal(book["asks"][0]["price"])


async def test_our_client_signs_its_way_in(sandbox: RunningSandbox, tmp_path: Path) -> None:
    key = new_key(sandbox, tmp_path / "key.json")
    async with CoinbaseRestClient(sandbox.url, auth=auth_hook(key)) as client:
        body = await client.get_json("/products", "authenticated products list")
    assert [p["product_id"] for p in body["products"]] == ["BTC-USD", "ETH-USD"]


def test_private_limits_count_per_key(start_sandbox: StartSandbox, tmp_path: Path) -> None:
    limited = start_sandbox(rate_limits=RateLimits(public_per_second=None, private_per_second=2))
    busy, quiet = new_key(limited, tmp_path / "busy.json"), new_key(limited, tmp_path / "quiet.json")
    statuses = [signed_get(limited, busy, "/products/BTC-USD").status_code for _ in range(6)]
    assert statuses[:2] == [200, 200] and 429 in statuses
    assert signed_get(limited, quiet, "/products/BTC-USD").status_code == 200, "another key has its own budget"
    assert httpx.get(limited.url + API + "/market/products", timeout=10).status_code == 200


def junk_token(kid: str) -> str:
    """A token naming `kid` but signed by a key nobody registered."""
    stranger = CdpKey(kid, ec.generate_private_key(ec.SECP256R1()))
    return stranger.rest_jwt("GET", "127.0.0.1", API + "/products/BTC-USD")


def test_junk_tokens_naming_a_victims_kid_do_not_spend_the_victims_limit(
    start_sandbox: StartSandbox, tmp_path: Path
) -> None:
    limited = start_sandbox(rate_limits=RateLimits(public_per_second=None, private_per_second=10))
    victim = new_key(limited, tmp_path / "victim.json")
    with httpx.Client(base_url=limited.url + API, timeout=10) as attacker:
        junk = [attacker.get("/products/BTC-USD", headers={"Authorization": f"Bearer {junk_token(victim.key_name)}"})
                for _ in range(40)]
    assert {answer.status_code for answer in junk} <= {401, 429}
    statuses = [signed_get(limited, victim, "/products/BTC-USD").status_code for _ in range(8)]
    assert statuses == [200] * 8, "the victim's budget is its own: only verified requests spend it"


def test_a_connection_sending_junk_tokens_is_limited_whatever_kids_it_names(
    start_sandbox: StartSandbox, tmp_path: Path
) -> None:
    limited = start_sandbox(rate_limits=RateLimits(public_per_second=None, private_per_second=5))
    honest = new_key(limited, tmp_path / "honest.json")
    with httpx.Client(base_url=limited.url + API, timeout=10) as attacker:
        statuses = [
            attacker.get("/products/BTC-USD",
                         headers={"Authorization": f"Bearer {junk_token(f'organizations/x/apiKeys/{n}')}"}).status_code
            for n in range(30)
        ]
    assert statuses[:5] == [401] * 5 and 429 in statuses, "refused tokens count against their connection"
    refused = next(n for n, status in enumerate(statuses) if status == 429)
    assert set(statuses[refused:]) <= {401, 429}
    assert signed_get(limited, honest, "/products/BTC-USD").status_code == 200, "other connections are unaffected"

"""Decoding of Coinbase REST payloads (fixtures taken from the real capture, see tests/fixtures/SOURCES.md), of
other projects' fixtures of the same endpoints, and of broken payloads."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from gpt_trader.coinbase import constants
from gpt_trader.coinbase.errors import MalformedResponse
from gpt_trader.coinbase.parse import (
    decode_candles,
    decode_json,
    parse_product,
    parse_product_book,
    parse_products,
    parse_server_time,
    parse_ticker,
)
from tests.support.fixtures import REST_FIXTURES


@pytest.fixture(scope="module")
def rest_dir() -> Path:
    return REST_FIXTURES


def test_real_candles_keep_their_string_values_exactly(rest_dir: Path) -> None:
    candles = decode_candles((rest_dir / "http_candles.json").read_bytes())
    assert [c.start for c in candles] == [1786309500, 1786309200], "newest first, as sent"
    newest = candles[0]
    assert (newest.open, newest.high, newest.low, newest.close) == (1919.58, 1919.6, 1919.27, 1919.44)
    assert newest.volume == 28.47308063


def test_a_real_product_has_exact_decimal_increments(rest_dir: Path) -> None:
    product = parse_product(json.loads((rest_dir / "http_product.json").read_text()))
    assert product.product_id == "BTC-USD" and product.product_type == constants.SPOT
    assert product.base_increment == Decimal("0.00000001")
    assert product.price_increment == Decimal("0.01")
    assert product.quote_min_size == Decimal("1") and product.base_max_size == Decimal("3400")
    assert product.price == Decimal("65086.18")
    assert product.alias == "" and product.alias_to == ("BTC-USDC",)
    assert product.status == "online" and not product.trading_disabled


def test_real_products_list_and_its_aliases(rest_dir: Path) -> None:
    products = parse_products(json.loads((rest_dir / "http_products.json").read_text()))
    assert [p.product_id for p in products] == ["BTC-USD", "BTC-USDC"]
    assert products[1].alias == "BTC-USD"


def test_futures_products_decode_with_their_empty_fields(rest_dir: Path) -> None:
    products = parse_products(json.loads((rest_dir / "http_products_future.json").read_text()))
    assert products and {p.product_type for p in products} == {"FUTURE"}
    assert all(p.base_currency_id == "" or p.base_currency_id.isupper() for p in products)


def test_the_recorded_full_list_matches_our_offline_copy_and_has_pol_not_matic(rest_dir: Path) -> None:
    path = rest_dir / "coinbase_advtrade_market_products_2026-08-09.json.gz"
    products = {p.product_id: p for p in parse_products(json.loads(gzip.decompress(path.read_bytes())))}
    assert len(products) == 920
    assert "POL-USD" in products and "MATIC-USD" not in products
    assert constants.RENAMED_PRODUCTS["MATIC-USD"] in products
    offline = parse_products(json.loads(constants.USD_PAIRS_FILE.read_text()))
    usual = ["BTC-USD", "ETH-USD", "SOL-USD", "LTC-USD", "LINK-USD", "DOGE-USD", "POL-USD"]
    assert [product.product_id for product in offline] == usual
    for product in offline:
        assert product == products[product.product_id], "the offline copy is the real listing, field for field"
    no_volume = [p for p in products.values() if p.volume_24h is None]
    assert no_volume, "the real list has products with an empty volume_24h, read as None"


def test_real_ticker(rest_dir: Path) -> None:
    ticker = parse_ticker(json.loads((rest_dir / "http_ticker.json").read_text()))
    assert ticker.best_bid == Decimal("65083.66") and ticker.best_ask == Decimal("65083.67")
    first = ticker.trades[0]
    assert (first.trade_id, first.side, first.size) == ("1068572090", "SELL", Decimal("0.002186"))
    assert first.time == datetime(2026, 8, 9, 21, 5, 42, 514318, tzinfo=UTC)
    assert first.bid is None and first.ask is None, "empty strings are absent values"


def test_real_product_book(rest_dir: Path) -> None:
    book = parse_product_book(json.loads((rest_dir / "http_product_book.json").read_text()))
    assert book.product_id == "BTC-USD"
    assert [level.price for level in book.bids] == sorted((level.price for level in book.bids), reverse=True)
    assert book.bids[0].price < book.asks[0].price
    assert book.asks[1].price == Decimal("65083.72") and book.asks[1].size == Decimal("0.61446665")
    assert book.spread_absolute == Decimal("0.01") and book.mid_market == Decimal("65083.665")


def test_server_time_accepts_numbers_sent_as_strings() -> None:
    document = {
        "iso": "2026-08-09T21:05:48.298032046Z",
        "epochSeconds": "1786309548",
        "epochMillis": 1786309548298,
    }
    time = parse_server_time(document)
    assert time.epoch_seconds == 1786309548 and time.epoch_millis == 1786309548298
    assert time.iso.microsecond == 298032, "nine fractional digits are read down to microseconds"


GOOD = '"low": "1", "high": "1", "open": "1", "close": "1"'


@pytest.mark.parametrize(
    ("body", "where"),
    [
        (b'{"candles": [{"start": "soon", %s, "volume": "1"}]}' % GOOD.encode(), "$.candles[0].start"),
        (b'{"candles": [{"start": "1", %s}]}' % GOOD.encode(), "volume"),
        (b'{"trades": []}', "candles"),
        (b"<html>502</html>", "malformed"),
    ],
)
def test_broken_candle_payloads_name_what_is_wrong(body: bytes, where: str) -> None:
    with pytest.raises(MalformedResponse, match="candles response") as raised:
        decode_candles(body)
    assert where in str(raised.value)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"base_increment": "abc"}, "base_increment is 'abc', not a decimal"),
        ({"base_increment": "NaN"}, "base_increment is 'NaN', not a decimal"),
        ({"quote_min_size": None}, "quote_min_size is None"),
        ({"trading_disabled": "no"}, "trading_disabled is 'no', not true or false"),
        ({"product_id": ""}, "product_id is ''"),
        ({"alias_to": "BTC-USDC"}, "alias_to"),
    ],
)
def test_broken_product_fields_are_named(rest_dir: Path, change: dict[str, object], message: str) -> None:
    document = json.loads((rest_dir / "http_product.json").read_text()) | change
    with pytest.raises(MalformedResponse) as raised:
        parse_product(document)
    assert message in str(raised.value)


def test_a_product_missing_a_field_names_the_product_and_the_field(rest_dir: Path) -> None:
    document = json.loads((rest_dir / "http_product.json").read_text())
    del document["price_increment"]
    with pytest.raises(MalformedResponse, match="product BTC-USD: field price_increment is missing"):
        parse_product(document)


def test_a_body_that_is_not_a_json_object_is_refused() -> None:
    with pytest.raises(MalformedResponse, match="not JSON"):
        decode_json(b"Service Unavailable", "products list")
    with pytest.raises(MalformedResponse, match="expected a JSON object, got list"):
        decode_json(b"[]", "products list")


def test_other_projects_fixtures_of_the_same_endpoints_decode(shared_dir: Path) -> None:
    """nautilus_trader's Advanced Trade REST fixtures: LGPL-3.0, so read from ../shared and not shipped here."""
    rest = shared_dir / "data" / "real" / "rest"
    candles = decode_candles((rest / "http_candles.json").read_bytes())
    assert [c.start for c in candles] == [1712192400, 1712188800] and candles[0].volume == 355.82896243
    product = parse_product(json.loads((rest / "http_product.json").read_text()))
    assert (product.product_id, product.price) == ("BTC-USD", Decimal("68923.67"))
    products = parse_products(json.loads((rest / "http_products.json").read_text()))
    assert [p.product_id for p in products] == ["BTC-USD", "BTC-USDC"] and products[1].alias == "BTC-USD"
    futures = parse_products(json.loads((rest / "http_products_future.json").read_text()))
    assert futures and {p.product_type for p in futures} == {"FUTURE"}
    ticker = parse_ticker(json.loads((rest / "http_ticker.json").read_text()))
    assert (ticker.trades[0].trade_id, ticker.best_ask) == ("995098663", Decimal("68923.67"))
    book = parse_product_book(json.loads((rest / "http_product_book.json").read_text()))
    assert book.asks[1].price == Decimal("68926") and book.mid_market == Decimal("68923.665")

"""The sandbox's product catalogue: the built-in USD pairs, the Product payload, reading a products file."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from gpt_trader.errors import DataError
from gpt_trader.market.products import QUICK_PRODUCTS
from gpt_trader.market.sources.synthetic import DEFAULT_PRODUCTS, SyntheticSource
from gpt_trader.sandbox.catalog import Catalog, ProductSpec, UnknownProductError
from tests.support.fixtures import REAL_PRODUCTS, REST_FIXTURES

# The order grid and trading state: what the catalogue must reproduce exactly from a products file.
GRID_FIELDS = (
    "product_id",
    "base_increment",
    "quote_increment",
    "price_increment",
    "base_min_size",
    "base_max_size",
    "quote_min_size",
    "quote_max_size",
    "status",
    "trading_disabled",
    "cancel_only",
    "limit_only",
    "post_only",
    "auction_mode",
    "product_type",
    "base_currency_id",
    "quote_currency_id",
    "base_name",
    "quote_name",
    "alias",
    "alias_to",
)
# The Product fields the facts page names (section 4).
DOCUMENTED_FIELDS = {
    "product_id", "price", "price_percentage_change_24h", "volume_24h", "base_increment", "quote_increment",
    "price_increment", "base_min_size", "base_max_size", "quote_min_size", "quote_max_size", "status",
    "trading_disabled", "cancel_only", "limit_only", "post_only", "auction_mode", "product_type",
    "base_currency_id", "quote_currency_id", "alias", "alias_to", "display_name",
}  # fmt: skip


@pytest.mark.parametrize(
    ("product_id", "base_increment", "price_increment"),
    [
        ("BTC-USD", "0.00000001", "0.01"),
        ("ETH-USD", "0.00000001", "0.01"),
        ("SOL-USD", "0.00000001", "0.01"),
        ("LTC-USD", "0.00000001", "0.01"),
        ("LINK-USD", "0.01", "0.001"),
        ("DOGE-USD", "0.1", "0.00001"),
        ("POL-USD", "0.01", "0.0001"),
    ],
)
def test_the_default_catalogue_has_the_documented_increments(
    product_id: str, base_increment: str, price_increment: str
) -> None:
    spec = Catalog.default().get(product_id)
    assert spec.base_increment == Decimal(base_increment)
    assert spec.price_increment == Decimal(price_increment)
    assert spec.base_min_size == Decimal(base_increment)
    assert spec.quote_min_size == Decimal(1)
    assert spec.quote_currency == "USD" and spec.base_currency == product_id.split("-")[0]
    assert spec.accepts_new_orders


def test_pol_is_listed_and_its_old_name_matic_finds_it() -> None:
    catalog = Catalog.default()
    assert catalog.product_ids == ["BTC-USD", "ETH-USD", "SOL-USD", "LTC-USD", "LINK-USD", "DOGE-USD", "POL-USD"]
    assert catalog.get("MATIC-USD") is catalog.get("POL-USD") and "MATIC-USD" in catalog
    assert catalog.listed_name("MATIC-USD") == "POL-USD" and catalog.listed_name("BTC-USD") == "BTC-USD"
    assert catalog.currencies() == ["BTC", "DOGE", "ETH", "LINK", "LTC", "POL", "SOL", "USD"]


def test_the_quick_products_are_listed_by_coinbase_the_sandbox_and_the_synthetic_market() -> None:
    listed_by_coinbase = {p["product_id"] for p in json.loads(gzip.decompress(REAL_PRODUCTS.read_bytes()))["products"]}
    sandbox, synthetic = Catalog.default(), SyntheticSource()
    for product_id in QUICK_PRODUCTS:
        assert product_id in listed_by_coinbase and product_id in sandbox.product_ids, product_id
        assert product_id in synthetic.products(), product_id


def test_the_synthetic_market_trades_on_coinbases_price_grid() -> None:
    """The sandbox replays the synthetic market on the catalogue's grid, so its prices must already sit there."""
    sandbox = Catalog.default()
    for product_id, product in DEFAULT_PRODUCTS.items():
        assert Decimal(str(product.tick)) == sandbox.get(product_id).price_increment, product_id


def test_an_old_name_still_listed_in_a_payload_is_its_own_product(tmp_path: Path) -> None:
    pol = Catalog.default().get("POL-USD").to_payload()
    matic = {**pol, "product_id": "MATIC-USD", "base_currency_id": "MATIC"}
    catalog = Catalog.from_payload(_write_products(tmp_path / "both.json", [pol, matic]))
    assert catalog.get("MATIC-USD").base_currency == "MATIC" and catalog.listed_name("MATIC-USD") == "MATIC-USD"


def test_the_default_catalogue_is_the_real_list_field_for_field() -> None:
    listing = json.loads(gzip.decompress(REAL_PRODUCTS.read_bytes()))["products"]
    real = {product["product_id"]: product for product in listing}
    for spec in Catalog.default():
        written = spec.to_payload()
        listed = real[spec.product_id]
        assert {field: written[field] for field in GRID_FIELDS} == {field: listed[field] for field in GRID_FIELDS}


def test_the_product_payload_writes_every_decimal_as_a_plain_string() -> None:
    payload = Catalog.default().get("BTC-USD").to_payload(price=Decimal("65086.18"), volume_24h=Decimal("2867.5"))
    assert payload.keys() >= DOCUMENTED_FIELDS
    assert payload["base_increment"] == "0.00000001", "never an exponent such as 1E-8"
    assert payload["price"] == "65086.18" and payload["volume_24h"] == "2867.5"
    assert payload["price_percentage_change_24h"] == "", "an unknown market figure is an empty string"
    assert payload["trading_disabled"] is False and payload["alias_to"] == ["BTC-USDC"]
    assert json.loads(json.dumps(payload)) == payload


def test_a_payload_reads_back_as_the_same_product() -> None:
    for spec in Catalog.default():
        assert ProductSpec.from_payload(spec.to_payload()) == spec


def test_the_real_products_list_is_read_field_for_field() -> None:
    real = json.loads(gzip.decompress(REAL_PRODUCTS.read_bytes()))["products"]
    catalog = Catalog.from_payload(REAL_PRODUCTS)

    assert len(catalog) == len(real), "every listed product, and no other"
    for entry in real:
        written = catalog.get(entry["product_id"]).to_payload()
        assert {field: written[field] for field in GRID_FIELDS} == {field: entry[field] for field in GRID_FIELDS}
    assert "MATIC-USD" not in catalog.product_ids and catalog.get("MATIC-USD").product_id == "POL-USD"
    delisted = [spec for spec in catalog if spec.status == "delisted"]
    assert delisted and not any(spec.accepts_new_orders for spec in delisted)


def test_the_products_fixture_and_a_bare_list_are_read(tmp_path: Path) -> None:
    fixture = REST_FIXTURES / "http_products.json"
    assert Catalog.from_payload(fixture).product_ids == ["BTC-USD", "BTC-USDC"]
    bare = tmp_path / "bare.json"
    bare.write_text(json.dumps(json.loads(fixture.read_text())["products"]))
    assert Catalog.from_payload(bare).get("BTC-USDC").quote_currency == "USDC"


def test_an_unknown_product_is_a_lookup_error_naming_it() -> None:
    catalog = Catalog.default()
    assert catalog.find("XRP-USD") is None and "XRP-USD" not in catalog
    with pytest.raises(UnknownProductError, match="XRP-USD"):
        catalog.get("XRP-USD")


def _write_products(path: Path, products: object) -> Path:
    path.write_text(json.dumps({"products": products}))
    return path


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda p: p.pop("base_increment"), r"product #1 lacks the field 'base_increment'"),
        (lambda p: p.update(price_increment="abc"), r"product #1 \(ETH-USD\): price_increment is 'abc'"),
        (lambda p: p.update(quote_increment="0"), r"product #1 \(ETH-USD\): quote_increment is zero"),
        (lambda p: p.update(product_id="BTC-USD"), r"BTC-USD is listed twice"),
    ],
)
def test_a_broken_products_file_says_which_product_and_field(
    tmp_path: Path, mutate: Callable[[dict[str, Any]], object], message: str
) -> None:
    products = [spec.to_payload() for spec in Catalog.default()][:2]
    mutate(products[1])
    path = _write_products(tmp_path / "products.json", products)
    with pytest.raises(DataError, match=message) as raised:
        Catalog.from_payload(path)
    assert str(path) in str(raised.value)


def test_a_missing_or_unreadable_products_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        Catalog.from_payload(tmp_path / "absent.json.gz")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(DataError, match="not readable JSON"):
        Catalog.from_payload(tmp_path / "bad.json")
    with pytest.raises(DataError, match="has no product list"):
        Catalog.from_payload(_write_products(tmp_path / "empty.json", []))

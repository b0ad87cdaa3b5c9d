"""Order grids from the product catalogue Coinbase published, without asking a venue (`live.fetch_venue_grids` asks)."""

from __future__ import annotations

from collections.abc import Iterable

from gpt_trader.errors import UserError
from gpt_trader.sandbox.catalog import Catalog
from gpt_trader.trading.money import ProductIncrements


def catalog_grids(product_ids: Iterable[str], catalog: Catalog | None = None) -> dict[str, ProductIncrements]:
    """Each product's increments and size limits; a UserError names a product the catalogue lacks."""
    listed = catalog or Catalog.default()
    grids: dict[str, ProductIncrements] = {}
    for product_id in product_ids:
        spec = listed.find(product_id)
        if spec is None:
            known = ", ".join(listed.product_ids)
            raise UserError(f"unknown product {product_id!r}: the product catalogue lists {known}")
        grids[product_id] = ProductIncrements(
            product_id, spec.base_increment, spec.quote_increment, spec.price_increment, spec.base_min_size,
            spec.base_max_size, spec.quote_min_size, spec.quote_max_size,
        )  # fmt: skip
    return grids

"""`file:PATH:PRODUCT`: what follows `file:` splits into a path and, when it names one, a product id."""

from __future__ import annotations

import pytest

from gpt_trader.market.sources.file import FileSource, split_product


@pytest.mark.parametrize(
    ("argument", "expected"),
    [
        ("candles.csv", ("candles.csv", None)),
        ("candles.csv:btc-usd", ("candles.csv", "BTC-USD")),
        ("data/x.parquet:ETH-USD", ("data/x.parquet", "ETH-USD")),
        ("C:\\data\\x.csv", ("C:\\data\\x.csv", None)),
        ("C:\\data\\x.csv.gz:SOL-USD", ("C:\\data\\x.csv.gz", "SOL-USD")),
        ("odd:name.csv", ("odd:name.csv", None)),
        ("x.csv:not a product", ("x.csv:not a product", None)),
    ],
)
def test_the_product_is_split_off_only_after_a_candle_file(argument: str, expected: tuple[str, str | None]) -> None:
    assert split_product(argument) == expected


def test_a_source_spec_names_the_product_of_a_single_product_file() -> None:
    source = FileSource.from_spec("~/candles.csv:link-usd")
    assert source.product_id == "LINK-USD" and source.path.name == "candles.csv" and "~" not in str(source.path)

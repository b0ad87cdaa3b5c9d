"""Candles from Coinbase and from a sandbox are cached apart: the venue names them."""

from __future__ import annotations

from gpt_trader.coinbase.candles import CoinbaseSource
from gpt_trader.coinbase.rest import venue_name


def test_coinbase_itself_is_coinbase_and_any_other_server_is_named_by_host_and_port() -> None:
    assert venue_name("https://api.coinbase.com") == "coinbase"
    assert venue_name("https://api.coinbase.com/api/v3/brokerage") == "coinbase"
    assert venue_name("http://127.0.0.1:8765") == "coinbase-127.0.0.1-8765"
    assert venue_name("https://localhost:9000/api/v3/brokerage") == "coinbase-localhost-9000"


def test_the_source_takes_the_venue_of_its_url() -> None:
    assert CoinbaseSource().name == "coinbase"
    assert CoinbaseSource("http://127.0.0.1:8765").name == "coinbase-127.0.0.1-8765"

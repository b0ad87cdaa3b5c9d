"""`open_source` specs, the cache folder each source gets, and the time forms `load_bars` accepts."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from gpt_trader.coinbase.candles import CoinbaseSource
from gpt_trader.config import load_settings
from gpt_trader.errors import UserError
from gpt_trader.market.cache import cache_name
from gpt_trader.market.load import to_unix_seconds
from gpt_trader.market.sources import FileSource, SyntheticSource, open_source, source_url
from gpt_trader.market.sources.local import LocalSource

JAN_1 = 1_704_067_200  # 2024-01-01 00:00 UTC


def test_each_spec_opens_its_source(tmp_path: Path) -> None:
    settings = load_settings(cache_dir=tmp_path, coinbase_rest_url="http://127.0.0.1:9")

    coinbase = open_source("coinbase", settings)
    assert isinstance(coinbase, CoinbaseSource) and coinbase.rest_url == "http://127.0.0.1:9"

    default = open_source("synthetic")
    seeded = open_source(" Synthetic:42 ")
    assert isinstance(default, SyntheticSource) and default.seed == 7
    assert isinstance(seeded, SyntheticSource) and seeded.seed == 42

    file = open_source("file:~/candles/btc-usd_1m.csv")
    assert isinstance(file, FileSource) and file.path == Path.home() / "candles" / "btc-usd_1m.csv"

    local = open_source("local", settings)
    assert isinstance(local, LocalSource) and local.cache.root == tmp_path / "candles"


def test_the_url_of_a_source_names_the_server_or_file_and_never_a_credential(tmp_path: Path) -> None:
    sandbox = load_settings(coinbase_rest_url="http://127.0.0.1:8765")
    assert source_url("coinbase", sandbox) == "http://127.0.0.1:8765"
    assert source_url("coinbase", load_settings()) == "https://api.coinbase.com"
    with_password = load_settings(coinbase_rest_url="https://user:secret@proxy.example:8443/base?token=abc")
    assert source_url("coinbase", with_password) == "https://proxy.example:8443/base"
    assert source_url(f"file:{tmp_path}/btc.csv") == (tmp_path / "btc.csv").as_uri()
    assert source_url("synthetic:3") is None and source_url("local") is None


def test_local_and_coinbase_read_the_settings_when_none_are_given() -> None:
    local = open_source("local")
    assert isinstance(local, LocalSource)
    assert local.cache.root == load_settings().cache_dir / "candles"


@pytest.mark.parametrize("spec", ["binance", "coinbase:pro", "file:", "local:2", ""])
def test_an_unknown_spec_lists_the_valid_forms(spec: str) -> None:
    with pytest.raises(UserError) as raised:
        open_source(spec)
    assert str(raised.value) == (
        f"unknown source {spec!r}; use one of: coinbase, synthetic, synthetic:SEED, file:PATH, local"
    )


@pytest.mark.parametrize("spec", ["synthetic:-1", "synthetic:x", "synthetic:"])
def test_a_bad_seed_is_named(spec: str) -> None:
    with pytest.raises(UserError, match=f"source {spec!r}: the seed must be a non-negative integer"):
        open_source(spec)


def test_each_seed_of_the_synthetic_market_has_its_own_cache_folder() -> None:
    assert cache_name(SyntheticSource(seed=3)) == "synthetic-3"
    assert cache_name(CoinbaseSource()) == "coinbase"


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (JAN_1, JAN_1),
        (JAN_1 + 0.9, JAN_1),
        (str(JAN_1), JAN_1),
        ("2024-01-01", JAN_1),
        ("2024-01-01T01:00:00Z", JAN_1 + 3600),
        ("2024-01-01T02:00:00+01:00", JAN_1 + 3600),
        ("2024-01-01 01:00", JAN_1 + 3600),
        (datetime(2024, 1, 1, 1), JAN_1 + 3600),
        (datetime(2024, 1, 1, 1, tzinfo=UTC), JAN_1 + 3600),
        (datetime(2024, 1, 1, 3, tzinfo=timezone(timedelta(hours=2))), JAN_1 + 3600),
        (date(2024, 1, 1), JAN_1),
    ],
)
def test_times_in_every_accepted_form(value: object, seconds: int) -> None:
    assert to_unix_seconds(value) == seconds  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["yesterday", "2024-13-01", True])
def test_a_value_that_is_no_time_is_named(value: object) -> None:
    with pytest.raises(UserError, match=r"--start .* is not a time"):
        to_unix_seconds(value, "--start")  # type: ignore[arg-type]

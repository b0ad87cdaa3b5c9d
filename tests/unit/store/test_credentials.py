"""Run configs never carry credentials into the database."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gpt_trader.errors import ConfigError
from gpt_trader.log import register_secret
from gpt_trader.store.runs import reject_credentials

CREDENTIAL_WORDS = ["private_key", "secret", "jwt", "api_key", "password", "passphrase", "access_token"]


@given(
    word=st.sampled_from(CREDENTIAL_WORDS),
    separator=st.sampled_from(["_", "-", "", "."]),
    upper=st.booleans(),
    prefix=st.sampled_from(["", "coinbase_", "my"]),
    depth=st.integers(min_value=0, max_value=3),
)
def test_credential_keys_are_refused_however_written_and_nested(
    word: str, separator: str, upper: bool, prefix: str, depth: int
) -> None:
    key = prefix + word.replace("_", separator)
    config: dict[str, object] = {key.upper() if upper else key: "value"}
    for level in range(depth):
        config = {f"level{level}": config} if level % 2 else {f"level{level}": [{"ok": 1}, config]}
    with pytest.raises(ConfigError, match=r"credential-like key .*never go into the database"):
        reject_credentials(config)


def test_the_error_names_the_path_of_the_key() -> None:
    config = {"exchange": {"accounts": [{"name": "a"}, {"apiKey": "x"}]}}
    with pytest.raises(ConfigError, match=r"'exchange\.accounts\[1\]\.apiKey'"):
        reject_credentials(config)


def test_values_holding_a_private_key_or_a_registered_secret_are_refused() -> None:
    pem = "-----BEGIN EC PRIVATE KEY-----\nMHcC\n-----END EC PRIVATE KEY-----\n"
    with pytest.raises(ConfigError, match="private key"):
        reject_credentials({"notes": [pem]})
    register_secret("zq9-registered-secret-value-7731")
    with pytest.raises(ConfigError, match=r"'headers\.x'"):
        reject_credentials({"headers": {"x": "Bearer zq9-registered-secret-value-7731"}})


def test_ordinary_configs_pass() -> None:
    reject_credentials(
        {
            "strategy": "sma_cross",
            "params": {"fast": 10, "slow": 50, "key_levels": [1, 2]},
            "coinbase_key_file": "~/cdp_api_key.json",
            "coinbase_key_name": "organizations/abc/apiKeys/def",
            "monkey": True,
            "tokens_per_bar": 3,
            "products": ["BTC-USD"],
        }
    )

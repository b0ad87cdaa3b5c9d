"""Settings precedence (file < environment < flags) and credentials that never show themselves."""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

import pytest

from gpt_trader import config
from gpt_trader.config import Credentials, Settings, load_credentials, load_settings, mask, read_key_file
from gpt_trader.errors import ConfigError
from gpt_trader.log import SecretMaskFilter

SECRET_LINE = "MHcCAQEEIBkg4LVWM9nuwNSk3yByxZpYRTBnVJk5oXeZ2XYRJW5qoAoGCCqGSM49"
PEM = f"-----BEGIN EC PRIVATE KEY-----\n{SECRET_LINE}\n-----END EC PRIVATE KEY-----\n"
KEY_NAME = "organizations/1111-2222/apiKeys/abcdef-123456"


def test_defaults_follow_xdg(isolated_dirs: Path) -> None:
    settings = load_settings()
    assert settings.data_dir == isolated_dirs / "data" / "gpt-trader"
    assert settings.cache_dir == isolated_dirs / "cache" / "gpt-trader"
    assert settings.database == f"sqlite:///{isolated_dirs / 'data' / 'gpt-trader' / 'gpt-trader.db'}"
    assert settings.cache_ttl_seconds == 3600


def test_file_then_environment_then_flags(isolated_dirs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (isolated_dirs / "gpt-trader.toml").write_text('cache_ttl_seconds = 60\nworkers = 3\nlog_level = "INFO"\n')
    assert load_settings().cache_ttl_seconds == 60
    monkeypatch.setenv("GPT_TRADER_CACHE_TTL_SECONDS", "120")
    settings = load_settings()
    assert (settings.cache_ttl_seconds, settings.workers, settings.log_level) == (120, 3, "INFO")
    assert load_settings(cache_ttl_seconds=5, workers=None).cache_ttl_seconds == 5
    assert load_settings(workers=None).workers == 3  # a flag not given does not override


def test_the_config_file_can_be_named_and_must_exist(isolated_dirs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    elsewhere = isolated_dirs / "custom.toml"
    elsewhere.write_text('database_url = "postgresql+psycopg://u@localhost/db"\n')
    monkeypatch.setenv("GPT_TRADER_CONFIG", str(elsewhere))
    assert load_settings().database == "postgresql+psycopg://u@localhost/db"
    monkeypatch.setenv("GPT_TRADER_CONFIG", str(isolated_dirs / "missing.toml"))
    with pytest.raises(ConfigError, match=r"missing\.toml, which is not a file"):
        load_settings()


def test_bad_values_and_unknown_keys_are_config_errors(isolated_dirs: Path) -> None:
    with pytest.raises(ConfigError, match="cache_ttl_seconds"):
        load_settings(cache_ttl_seconds=-1)
    with pytest.raises(ConfigError, match="log_level must be one of DEBUG"):
        load_settings(log_level="loud")
    assert load_settings(log_level="info").log_level == "INFO"
    (isolated_dirs / "gpt-trader.toml").write_text("cache_ttl = 5\n")
    with pytest.raises(ConfigError, match="cache_ttl"):
        load_settings()


def test_wrong_types_say_which_setting_and_where(isolated_dirs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (isolated_dirs / "gpt-trader.toml").write_text('database_url = 5\nworkers = 2.0\n')
    monkeypatch.setenv("GPT_TRADER_CACHE_TTL_SECONDS", "soon")
    with pytest.raises(ConfigError) as raised:
        load_settings()
    message = str(raised.value)
    assert "database_url: should be text, not 5" in message
    assert "cache_ttl_seconds: should be a whole number, not 'soon'" in message
    assert f"(check {isolated_dirs / 'gpt-trader.toml'}, GPT_TRADER_* variables and flags)" in message
    (isolated_dirs / "gpt-trader.toml").write_text("workers = 2.0\n")
    monkeypatch.delenv("GPT_TRADER_CACHE_TTL_SECONDS")
    assert load_settings().workers == 2  # a whole float is a whole number, as TOML may write it


def test_environment_names_ignore_case_and_paths_expand_the_home(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("gpt_trader_data_dir", "~/trader-data")
    monkeypatch.setenv("GPT_TRADER_WORKERS", " 4 ")
    settings = load_settings()
    assert settings.data_dir == Path.home() / "trader-data"
    assert settings.workers == 4
    with pytest.raises(AttributeError):
        settings.workers = 5  # type: ignore[misc]  # settings are frozen


def test_every_setting_has_a_reader() -> None:
    assert set(config._PARSERS) == {setting.name for setting in dataclasses.fields(Settings)}


def test_a_config_file_that_is_not_toml_is_a_config_error(isolated_dirs: Path) -> None:
    (isolated_dirs / "gpt-trader.toml").write_text("cache_ttl_seconds = = 5\n")
    with pytest.raises(ConfigError, match=r"gpt-trader\.toml is not valid TOML \(.*line 1"):
        load_settings()


def test_credentials_from_the_environment_turn_escaped_newlines_into_newlines(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COINBASE_API_KEY", KEY_NAME)
    monkeypatch.setenv("COINBASE_API_SECRET", PEM.replace("\n", "\\n"))
    credentials = load_credentials()
    assert credentials is not None
    assert credentials.key_name == KEY_NAME and credentials.private_key == PEM


def test_half_a_credential_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GPT_TRADER_COINBASE_KEY_NAME", KEY_NAME)
    with pytest.raises(ConfigError, match="GPT_TRADER_COINBASE_PRIVATE_KEY is not"):
        load_credentials()


def test_credentials_from_a_dotenv_file(isolated_dirs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ("COINBASE_API_KEY", "COINBASE_API_SECRET"):
        monkeypatch.delenv(variable, raising=False)
    escaped = PEM.replace("\n", "\\n")
    (isolated_dirs / ".env").write_text(f'COINBASE_API_KEY="{KEY_NAME}"\nCOINBASE_API_SECRET="{escaped}"\n')
    credentials = load_credentials()
    assert credentials is not None and credentials.private_key == PEM


def test_credentials_from_a_cdp_key_file(isolated_dirs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ("COINBASE_API_KEY", "COINBASE_API_SECRET"):
        monkeypatch.delenv(variable, raising=False)
    key_file = isolated_dirs / "cdp_api_key.json"
    key_file.write_text(json.dumps({"id": KEY_NAME, "privateKey": PEM}))
    credentials = load_credentials(load_settings(coinbase_key_file=key_file))
    assert credentials == Credentials(KEY_NAME, "ignored: compare=False")
    assert credentials is not None and credentials.private_key == PEM
    assert load_credentials() is None  # nothing configured: public endpoints need no key


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "does not exist"), ("{not json", "not readable JSON"), ("[1]", "JSON object"), ('{"name": "x"}', "lacks")],
)
def test_broken_key_files_say_what_is_wrong(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "key.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ConfigError, match=message):
        read_key_file(path)


def test_credentials_never_show_their_secret(caplog: pytest.LogCaptureFixture) -> None:
    credentials = Credentials(KEY_NAME, PEM)
    shown = f"{credentials!r} {credentials}"
    assert SECRET_LINE not in shown
    assert KEY_NAME not in shown and mask(KEY_NAME) in shown and mask(KEY_NAME) == "…123456"
    logger = logging.getLogger("gpt_trader.test")
    logger.addFilter(SecretMaskFilter())
    with caplog.at_level(logging.INFO, logger="gpt_trader.test"):
        logger.info("loaded %s", PEM)
    assert SECRET_LINE not in caplog.text
    assert "***" in caplog.text

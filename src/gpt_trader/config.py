"""Typed settings. Precedence, lowest first: defaults < `gpt-trader.toml` < `GPT_TRADER_*` env < flags.

The config file is the first that exists of: the path in `GPT_TRADER_CONFIG`, `./gpt-trader.toml`,
`$XDG_CONFIG_HOME/gpt-trader/gpt-trader.toml`. Every key is optional, e.g.::

    data_dir = "/srv/gpt-trader"
    cache_ttl_seconds = 600
    coinbase_key_file = "~/cdp_api_key.json"

Coinbase credentials come from the environment (`COINBASE_API_KEY` / `COINBASE_API_SECRET`, or
`GPT_TRADER_COINBASE_KEY_NAME` / `GPT_TRADER_COINBASE_PRIVATE_KEY`), a `.env` file in the working
directory, or a CDP key JSON file (`coinbase_key_file`). They are never printed: see `Credentials`.
"""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dotenv import dotenv_values
from pydantic import Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from gpt_trader.errors import ConfigError
from gpt_trader.log import register_secret

ENV_PREFIX = "GPT_TRADER_"
CONFIG_FILE_NAME = "gpt-trader.toml"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def _xdg(variable: str, fallback: str) -> Path:
    return Path(os.environ.get(variable) or Path.home() / fallback) / "gpt-trader"


def config_file() -> Path | None:
    """The config file in force, or None when there is none."""
    explicit = os.environ.get(f"{ENV_PREFIX}CONFIG")
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise ConfigError(f"{ENV_PREFIX}CONFIG names {path}, which is not a file")
        return path
    for candidate in (Path.cwd() / CONFIG_FILE_NAME, _xdg("XDG_CONFIG_HOME", ".config") / CONFIG_FILE_NAME):
        if candidate.is_file():
            return candidate
    return None


class Settings(BaseSettings):
    """Every setting GPT-Trader reads. Build with `load_settings(**flags)`."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", frozen=True)

    data_dir: Path = Field(default_factory=lambda: _xdg("XDG_DATA_HOME", ".local/share"))
    cache_dir: Path = Field(default_factory=lambda: _xdg("XDG_CACHE_HOME", ".cache"))
    database_url: str | None = None
    cache_ttl_seconds: int = 3600
    coinbase_rest_url: str | None = None
    coinbase_ws_url: str | None = None
    coinbase_key_file: Path | None = None
    workers: int | None = None
    log_level: str = "WARNING"

    @field_validator("data_dir", "cache_dir", "coinbase_key_file", mode="after")
    @classmethod
    def _expand(cls, value: Path | None) -> Path | None:
        return value.expanduser() if value is not None else None

    @field_validator("cache_ttl_seconds")
    @classmethod
    def _non_negative(cls, value: int) -> int:
        if value < 0:
            raise ValueError("cache_ttl_seconds must be 0 or more")
        return value

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in LOG_LEVELS:
            raise ValueError(f"log_level must be one of {', '.join(LOG_LEVELS)}, not {value!r}")
        return level

    @property
    def database(self) -> str:
        """The SQLAlchemy URL in force: the configured one, or a SQLite file in the data directory."""
        return self.database_url or f"sqlite:///{self.data_dir / 'gpt-trader.db'}"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = config_file()
        if path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)


def load_settings(**flags: Any) -> Settings:
    """Settings from defaults, file and environment, with `flags` (None means "not given") on top."""
    given = {key: value for key, value in flags.items() if value is not None}
    try:
        return Settings(**given)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"config file {config_file()} is not valid TOML ({error}); fix or remove it") from None
    except ValidationError as error:
        problems = "; ".join(_describe(problem) for problem in error.errors())
        where = config_file()
        sources = f"{where}, " if where else ""
        raise ConfigError(f"invalid settings: {problems} (check {sources}GPT_TRADER_* variables and flags)") from None


def _describe(problem: Any) -> str:
    name = ".".join(str(part) for part in problem.get("loc", ())) or "settings"
    message = str(problem.get("msg", "invalid")).removeprefix("Value error, ")
    if problem.get("type") == "extra_forbidden":
        message = "is not a setting GPT-Trader knows"
    return f"{name}: {message}"


@dataclass(frozen=True, repr=False)
class Credentials:
    """A Coinbase CDP API key: its name and private key. The repr shows only the name's last 6 characters."""

    key_name: str
    private_key: str = field(compare=False)

    def __post_init__(self) -> None:
        register_secret(self.private_key)

    @property
    def masked_name(self) -> str:
        return mask(self.key_name)

    def __repr__(self) -> str:
        return f"Credentials(key_name={self.masked_name}, private_key=***)"

    __str__ = __repr__


def mask(text: str) -> str:
    """`…` followed by the last 6 characters: enough to tell keys apart, too little to use one."""
    return "…" + text[-6:] if len(text) > 6 else "***"


def load_credentials(settings: Settings | None = None, env_file: Path | None = None) -> Credentials | None:
    """The Coinbase key from, in order: the environment, a `.env` file, the CDP key JSON file.

    Returns None when none is configured (public endpoints need no key).
    """
    settings = settings or load_settings()
    dotenv = {k: v for k, v in dotenv_values(env_file or Path.cwd() / ".env").items() if v is not None}
    for source in (os.environ, dotenv):
        for name_var, secret_var in (
            (f"{ENV_PREFIX}COINBASE_KEY_NAME", f"{ENV_PREFIX}COINBASE_PRIVATE_KEY"),
            ("COINBASE_API_KEY", "COINBASE_API_SECRET"),
        ):
            name, secret = source.get(name_var), source.get(secret_var)
            if name and secret:
                return Credentials(name, _unescape(secret))
            if name or secret:
                missing = secret_var if name else name_var
                raise ConfigError(f"{name_var if name else secret_var} is set but {missing} is not; set both")
    key_file = settings.coinbase_key_file or _path_or_none(dotenv.get(f"{ENV_PREFIX}COINBASE_KEY_FILE"))
    return read_key_file(key_file) if key_file else None


def read_key_file(path: Path) -> Credentials:
    """Read a CDP key JSON file: {"name" (or "id"): ..., "privateKey": ...}."""
    try:
        document = json.loads(path.expanduser().read_text())
    except FileNotFoundError:
        raise ConfigError(f"Coinbase key file {path} does not exist; check coinbase_key_file") from None
    except (OSError, json.JSONDecodeError) as error:
        raise ConfigError(f"Coinbase key file {path} is not readable JSON ({type(error).__name__})") from None
    if not isinstance(document, dict):
        raise ConfigError(f"Coinbase key file {path} must hold a JSON object with name and privateKey")
    name = document.get("name") or document.get("id")
    secret = document.get("privateKey")
    if not name or not secret:
        raise ConfigError(f"Coinbase key file {path} lacks 'name' (or 'id') or 'privateKey'")
    return Credentials(str(name), _unescape(str(secret)))


def _unescape(secret: str) -> str:
    # Secrets pasted into env vars and .env files often carry literal "\n" instead of newlines.
    return secret.replace("\\n", "\n").strip() + ("\n" if "BEGIN" in secret else "")


def _path_or_none(text: str | None) -> Path | None:
    return Path(text).expanduser() if text else None

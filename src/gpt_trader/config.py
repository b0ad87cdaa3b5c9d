"""Typed settings. Precedence, lowest first: defaults < `gpt-trader.toml` < `GPT_TRADER_*` env < flags.

The config file is the first that exists of: the path in `GPT_TRADER_CONFIG`, `./gpt-trader.toml`,
`$XDG_CONFIG_HOME/gpt-trader/gpt-trader.toml`. Every key is optional, e.g.::

    data_dir = "/srv/gpt-trader"
    cache_ttl_seconds = 600
    coinbase_key_file = "~/cdp_api_key.json"

Environment variables are matched ignoring case (`GPT_TRADER_CACHE_TTL_SECONDS=600`). Settings are a plain
frozen dataclass, read and checked here without a settings framework: every command reads them, the quick
screen included, and they are nine values.

Coinbase credentials come from the environment (`COINBASE_API_KEY` / `COINBASE_API_SECRET`, or
`GPT_TRADER_COINBASE_KEY_NAME` / `GPT_TRADER_COINBASE_PRIVATE_KEY`), a `.env` file in the working
directory, or a CDP key JSON file (`coinbase_key_file`). They are never printed: see `Credentials`.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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


@dataclass(frozen=True)
class Settings:
    """Every setting GPT-Trader reads. Build with `load_settings(**flags)`, which checks every value."""

    data_dir: Path = field(default_factory=lambda: _xdg("XDG_DATA_HOME", ".local/share"))
    cache_dir: Path = field(default_factory=lambda: _xdg("XDG_CACHE_HOME", ".cache"))
    database_url: str | None = None
    cache_ttl_seconds: int = 3600
    coinbase_rest_url: str | None = None
    coinbase_ws_url: str | None = None
    coinbase_key_file: Path | None = None
    workers: int | None = None
    log_level: str = "WARNING"

    @property
    def database(self) -> str:
        """The SQLAlchemy URL in force: the configured one, or a SQLite file in the data directory."""
        return self.database_url or f"sqlite:///{self.data_dir / 'gpt-trader.db'}"


def load_settings(**flags: Any) -> Settings:
    """Settings from defaults, file and environment, with `flags` (None means "not given") on top."""
    where = config_file()
    given: dict[str, Any] = _read_toml(where) if where else {}
    environment = {name.lower(): value for name, value in os.environ.items()}
    for name in _PARSERS:
        value = environment.get(f"{ENV_PREFIX}{name}".lower())
        if value is not None:
            given[name] = value
    given.update((name, value) for name, value in flags.items() if value is not None)
    values: dict[str, Any] = {}
    problems: list[str] = []
    for name, value in given.items():
        parse = _PARSERS.get(name)
        if parse is None:
            problems.append(f"{name}: is not a setting GPT-Trader knows")
            continue
        try:
            values[name] = parse(value)
        except (TypeError, ValueError) as error:
            problems.append(f"{name}: {error}")
    if problems:
        sources = f"{where}, " if where else ""
        raise ConfigError(f"invalid settings: {'; '.join(problems)} (check {sources}GPT_TRADER_* variables and flags)")
    return Settings(**values)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as file:
            return tomllib.load(file)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"config file {path} is not valid TOML ({error}); fix or remove it") from None


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"should be text, not {value!r}")
    return value


def _path(value: Any) -> Path:
    if not isinstance(value, str | os.PathLike):
        raise TypeError(f"should be a path, not {value!r}")
    return Path(value).expanduser()


def _whole_number(value: Any) -> int:
    if isinstance(value, bool):
        raise TypeError(f"should be a whole number, not {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    raise ValueError(f"should be a whole number, not {value!r}")


def _cache_ttl(value: Any) -> int:
    seconds = _whole_number(value)
    if seconds < 0:
        raise ValueError("cache_ttl_seconds must be 0 or more")
    return seconds


def _log_level(value: Any) -> str:
    level = _text(value).strip().upper()
    if level not in LOG_LEVELS:
        raise ValueError(f"log_level must be one of {', '.join(LOG_LEVELS)}, not {value!r}")
    return level


# How each setting's value is read from the file, the environment (always text) or a flag: one per field of
# `Settings` (a unit test checks).
_PARSERS: Mapping[str, Callable[[Any], Any]] = {
    "data_dir": _path,
    "cache_dir": _path,
    "database_url": _text,
    "cache_ttl_seconds": _cache_ttl,
    "coinbase_rest_url": _text,
    "coinbase_ws_url": _text,
    "coinbase_key_file": _path,
    "workers": _whole_number,
    "log_level": _log_level,
}


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
    from dotenv import dotenv_values  # only credentials read `.env`; most commands need none

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

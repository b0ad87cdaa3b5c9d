"""Coinbase CDP API keys and the JWTs that authenticate with them.

A CDP key is a key name (`organizations/{org}/apiKeys/{id}`) and a private key, either an EC P-256
PEM (signed ES256) or the base64 of a raw Ed25519 key (signed EdDSA). Each authenticated REST
request carries a fresh JWT bound to its method, host and path; each WebSocket subscribe message
carries a fresh JWT without the binding::

    key = load_key()
    async with CoinbaseRestClient(auth=auth_hook(key)) as client:
        accounts = await client.all_accounts()

Neither the private key nor a JWT is ever logged or printed; a key's repr shows only the last
six characters of its name.
"""

from __future__ import annotations

import base64
import binascii
import secrets
import time
from collections.abc import Callable
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from gpt_trader.coinbase import constants
from gpt_trader.config import Credentials, Settings, load_credentials, mask
from gpt_trader.errors import ConfigError
from gpt_trader.log import register_secret

MISSING_KEY_HELP = (
    "No Coinbase API key is configured, and account and order endpoints need one. Set COINBASE_API_KEY "
    "(the key name) and COINBASE_API_SECRET (the private key) in the environment or in a .env file in "
    "the working directory, or point `coinbase_key_file` in gpt-trader.toml (or "
    "GPT_TRADER_COINBASE_KEY_FILE) at the CDP key JSON file; a local sandbox makes one with "
    "`gpt-trader sandbox keys create`."
)

_PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


class CdpKey:
    """A CDP API key able to sign JWTs. Build with `from_credentials` or `load_key`."""

    __slots__ = ("_private_key", "algorithm", "key_name")

    def __init__(self, key_name: str, private_key: _PrivateKey) -> None:
        self.key_name = key_name
        self._private_key = private_key
        self.algorithm = (
            constants.JWT_ALGORITHM_ED25519
            if isinstance(private_key, ed25519.Ed25519PrivateKey)
            else constants.JWT_ALGORITHM_EC
        )

    @classmethod
    def from_credentials(cls, credentials: Credentials) -> CdpKey:
        """The key of `credentials`, its kind told from the secret's form (PEM: EC; base64: Ed25519)."""
        secret = credentials.private_key.replace("\\n", "\n").strip()
        register_secret(secret)
        where = f"the Coinbase private key of key {mask(credentials.key_name)}"
        if "-----BEGIN" in secret:
            return cls(credentials.key_name, _pem_key(secret, where))
        return cls(credentials.key_name, _ed25519_key(secret, where))

    @property
    def masked_name(self) -> str:
        return mask(self.key_name)

    def __repr__(self) -> str:
        return f"CdpKey(key_name={self.masked_name}, algorithm={self.algorithm})"

    __str__ = __repr__

    def rest_jwt(self, method: str, host_port: str, path: str, now: int | None = None) -> str:
        """A JWT for one REST request: `host_port` as the client addresses it (with the port when the
        URL has one), `path` the full URL path; a query string, if any, is left out of the binding."""
        claims = self._claims(now)
        claims["uri"] = f"{method.upper()} {host_port}{path.partition('?')[0]}"
        return self._sign(claims)

    def ws_jwt(self, now: int | None = None) -> str:
        """A JWT for one WebSocket subscribe or unsubscribe message."""
        return self._sign(self._claims(now))

    def _claims(self, now: int | None) -> dict[str, Any]:
        issued = int(time.time()) if now is None else int(now)
        return {
            "sub": self.key_name,
            "iss": constants.JWT_ISSUER,
            "nbf": issued,
            "exp": issued + constants.JWT_LIFETIME_SECONDS,
        }

    def _sign(self, claims: dict[str, Any]) -> str:
        # A fresh nonce makes every token unique, even two signed in the same second.
        headers = {"kid": self.key_name, "nonce": secrets.token_hex(16), "typ": "JWT"}
        return jwt.encode(claims, self._private_key, algorithm=self.algorithm, headers=headers)


def load_key(settings: Settings | None = None) -> CdpKey:
    """The configured key (environment, `.env`, or the CDP key file); a ConfigError saying how to
    configure one when there is none."""
    credentials = load_credentials(settings)
    if credentials is None:
        raise ConfigError(MISSING_KEY_HELP)
    return CdpKey.from_credentials(credentials)


def auth_hook(key: CdpKey) -> Callable[[str, str, str], dict[str, str]]:
    """The `auth` hook of `CoinbaseRestClient`: a bearer header with a fresh JWT per attempt."""

    def sign(method: str, host_port: str, path: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {key.rest_jwt(method, host_port, path)}"}

    return sign


def _pem_key(secret: str, where: str) -> _PrivateKey:
    try:
        private_key = serialization.load_pem_private_key(secret.encode(), password=None)
    except TypeError:
        raise ConfigError(f"{where} is encrypted; use the unencrypted key from the CDP key file") from None
    except ValueError:
        raise ConfigError(
            f"{where} looks like PEM but cannot be read; copy privateKey from the CDP key file unchanged "
            "(newlines may be written as \\n)"
        ) from None
    if isinstance(private_key, ed25519.Ed25519PrivateKey):
        return private_key
    if not isinstance(private_key, ec.EllipticCurvePrivateKey):
        raise ConfigError(f"{where} is a {type(private_key).__name__}; Coinbase keys are EC P-256 or Ed25519")
    if not isinstance(private_key.curve, ec.SECP256R1):
        raise ConfigError(f"{where} is an EC key on {private_key.curve.name}; Coinbase EC keys use P-256")
    return private_key


def _ed25519_key(secret: str, where: str) -> ed25519.Ed25519PrivateKey:
    try:
        raw = base64.b64decode(secret, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) not in constants.ED25519_SECRET_LENGTHS:
        raise ConfigError(
            f"{where} is neither a PEM EC key nor the base64 of a 32- or 64-byte Ed25519 key; copy "
            "privateKey from the CDP key file unchanged"
        )
    # A 64-byte secret is the seed followed by the public key; a mismatch means a damaged secret.
    private_key = ed25519.Ed25519PrivateKey.from_private_bytes(raw[:32])
    public = private_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    if len(raw) == 64 and raw[32:] != public:
        raise ConfigError(f"{where} is a 64-byte Ed25519 secret whose public half does not match its seed")
    return private_key

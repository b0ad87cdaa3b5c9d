"""API keys of the sandbox exchange: making CDP-style keys, and checking the JWTs signed with them.

This is the server's side of Coinbase's CDP authentication, written from the API's documented rules
and never from the client's code, so that a client passing these checks is known to follow them:

- a key is a name `organizations/{org}/apiKeys/{id}` and an EC P-256 private key (JWTs signed
  ES256) or an Ed25519 one (signed EdDSA, the secret being base64 of seed + public key);
- a JWT's header names the key in `kid` and carries a fresh `nonce`; its claims hold `sub` (the key
  name again), `iss` "cdp" (or the older "coinbase-cloud", usually with an `aud` claim, which is not
  checked), `nbf` and `exp` at most two minutes apart, and, for REST, `uri` = "{METHOD} {host:port}{path}"
  (or a `uris` list holding that one uri, as some clients sign Ed25519 tokens);
- a REST token opens one request: its nonce (or, without one, its signature) is remembered per key
  until the token expires, and a second use is refused.

The store keeps only PUBLIC keys, in `{state_dir}/keys.json`; the private key goes to the caller
(and to the key file, when asked) and nowhere else::

    store = KeyStore(state_dir)
    created = store.create_key(out=Path("sandbox_key.json"))
    key_name = store.verify_rest(token, "GET", "127.0.0.1:8765", "/api/v3/brokerage/accounts")
"""

from __future__ import annotations

import base64
import json
import os
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeGuard

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from jwt.types import Options

from gpt_trader.errors import UserError
from gpt_trader.log import register_secret

KEYS_FILE_NAME = "keys.json"
ISSUERS = ("cdp", "coinbase-cloud")
"""`cdp` is what Coinbase documents; `coinbase-cloud` is the older issuer that widely used clients still sign."""
MAX_LIFETIME_SECONDS = 120
MAX_NONCES_PER_KEY = 10_000
"""Nonces remembered per key; far above what its rate limit lets through in a token's life (30/s × 125 s)."""
DEFAULT_LEEWAY_SECONDS = 5.0
"""Tolerated clock difference between client and sandbox (for `nbf` and the lifetime)."""
ES256 = "ES256"
EDDSA = "EdDSA"

_PublicKey = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey
# Only the checks below decide; PyJWT is asked for the signature alone.
_SIGNATURE_ONLY: Options = {
    "verify_signature": True,
    "verify_exp": False,
    "verify_nbf": False,
    "verify_iat": False,
    "verify_aud": False,
    "verify_iss": False,
    "verify_sub": False,
    "verify_jti": False,
}


class AuthError(Exception):
    """A token the sandbox refuses. `reason` is for the sandbox's log; clients get a plain 401."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True, repr=False)
class CreatedKey:
    """A new key: its name and private key (PEM for EC; the base64 CDP secret for Ed25519), and the
    key file written for it, if any."""

    key_name: str
    private_key_pem: str = field(compare=False)
    path: Path | None = None
    algorithm: str = ES256

    def __repr__(self) -> str:
        return f"CreatedKey(key_name={_mask(self.key_name)}, algorithm={self.algorithm}, path={self.path})"


@dataclass(frozen=True)
class _RegisteredKey:
    algorithm: str
    public_key: _PublicKey


class KeyStore:
    """The sandbox's registered keys, kept in `{state_dir}/keys.json`, and the JWT checks.

    Keys created by another process (`gpt-trader sandbox keys create` while the server runs) are
    picked up the first time a token names them. `clock` gives Unix seconds.
    """

    def __init__(
        self,
        state_dir: Path,
        *,
        clock: Callable[[], float] = time.time,
        leeway: float = DEFAULT_LEEWAY_SECONDS,
        max_nonces_per_key: int = MAX_NONCES_PER_KEY,
    ) -> None:
        self.path = Path(state_dir).expanduser() / KEYS_FILE_NAME
        self.clock = clock
        self.leeway = leeway
        self.max_nonces_per_key = max_nonces_per_key
        self._lock = threading.Lock()
        self._keys: dict[str, _RegisteredKey] = {}
        self._used: dict[str, OrderedDict[str, float]] = {}
        """Per key: the nonces of REST tokens already accepted, oldest first, with their expiry."""
        self._loaded_stamp: tuple[int, int] | None = None
        with self._lock:
            self._reload()

    # -- keys ------------------------------------------------------------------------------------

    def create_key(self, name: str | None = None, *, ed25519_key: bool = False, out: Path | None = None) -> CreatedKey:
        """Make and register a key (EC P-256, or Ed25519 with `ed25519_key`), named in the CDP form
        unless `name` is given; with `out`, write it as a CDP key file readable only by its owner."""
        key_name = name or f"organizations/{uuid.uuid4()}/apiKeys/{uuid.uuid4()}"
        with self._lock:
            self._reload()
            if key_name in self._keys:
                raise UserError(f"the sandbox already has a key named {key_name}; choose another name")
        if ed25519_key:
            ed_private = ed25519.Ed25519PrivateKey.generate()
            public_key: _PublicKey = ed_private.public_key()
            seed = ed_private.private_bytes(
                serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
            )
            public_raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
            secret = base64.b64encode(seed + public_raw).decode()
        else:
            ec_private = ec.generate_private_key(ec.SECP256R1())
            # "EC PRIVATE KEY" (SEC 1) is the form Coinbase's portal hands out.
            secret = ec_private.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.TraditionalOpenSSL,
                serialization.NoEncryption(),
            ).decode()
            public_key = ec_private.public_key()
        register_secret(secret)
        # The file first: a key nobody could hold must not end up registered.
        path = _write_key_file(Path(out).expanduser(), key_name, secret) if out is not None else None
        self._register(key_name, _pem(public_key))
        return CreatedKey(key_name, secret, path, EDDSA if ed25519_key else ES256)

    def register_public_key(self, key_name: str, pem: str) -> None:
        """Accept tokens signed by the private half of `pem` (an EC P-256 or Ed25519 public key),
        replacing any key registered under the same name."""
        self._register(key_name, pem)

    def key_names(self) -> list[str]:
        with self._lock:
            self._reload()
            return sorted(self._keys)

    # -- tokens ----------------------------------------------------------------------------------

    def verify_rest(self, token: str, method: str, host_port: str, path: str) -> str:
        """The key name of a valid REST token for `method host_port path` (path without query), used
        for the first time."""
        key_name, claims = self._verify(token, f"{method.upper()} {host_port}{path.partition('?')[0]}")
        self._use_once(key_name, token, float(claims["exp"]))
        return key_name

    def verify_ws(self, token: str) -> str:
        """The key name of a valid WebSocket token (no `uri` claim is needed)."""
        return self._verify(token, None)[0]

    def remembered_nonces(self, key_name: str) -> int:
        """How many nonces of `key_name`'s unexpired REST tokens the store remembers."""
        with self._lock:
            return len(self._used.get(key_name, ()))

    def _use_once(self, key_name: str, token: str, expires: float) -> None:
        nonce = jwt.get_unverified_header(token).get("nonce")
        # Without a nonce the signature tells tokens apart (ECDSA and EdDSA signatures of a claim set differ).
        seen = f"nonce {nonce!r}" if isinstance(nonce, str) and nonce else "this token"
        now = self.clock()
        with self._lock:
            used = self._used.setdefault(key_name, OrderedDict())
            while used and next(iter(used.values())) <= now - self.leeway:
                used.popitem(last=False)
            if seen in used:
                raise AuthError(f"{seen} was already used by key {_mask(key_name)}: a REST token opens one request")
            used[seen] = expires
            while len(used) > self.max_nonces_per_key:
                used.popitem(last=False)

    def _verify(self, token: str, expected_uri: str | None) -> tuple[str, dict[str, Any]]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise AuthError("the bearer token is not a JWT") from None
        algorithm, key_name = header.get("alg"), header.get("kid")
        if algorithm not in (ES256, EDDSA):
            raise AuthError(f"algorithm {algorithm!r} is not accepted (ES256 or EdDSA only)")
        if not isinstance(key_name, str) or not key_name:
            raise AuthError("the token's header has no kid")
        registered = self._lookup(key_name)
        if registered is None:
            raise AuthError(f"unknown key {_mask(key_name)}")
        if algorithm != registered.algorithm:
            raise AuthError(f"algorithm {algorithm} does not fit key {_mask(key_name)} ({registered.algorithm})")
        try:
            claims = jwt.decode(token, registered.public_key, algorithms=[algorithm], options=_SIGNATURE_ONLY)
        except jwt.InvalidSignatureError:
            raise AuthError(f"the signature does not verify with key {_mask(key_name)}") from None
        except jwt.InvalidTokenError as error:
            raise AuthError(f"the token cannot be read ({type(error).__name__})") from None
        self._check_claims(claims, key_name, expected_uri)
        return key_name, claims

    def _check_claims(self, claims: dict[str, Any], key_name: str, expected_uri: str | None) -> None:
        not_before, expires = claims.get("nbf"), claims.get("exp")
        if not _is_seconds(not_before) or not _is_seconds(expires):
            raise AuthError("nbf and exp must both be Unix seconds")
        now = self.clock()
        if not_before > now + self.leeway:
            raise AuthError(f"the token is not valid yet (nbf is {not_before - now:.0f} s ahead)")
        if expires <= now:
            raise AuthError(f"the token expired {now - expires:.0f} s ago")
        if expires - not_before > MAX_LIFETIME_SECONDS + self.leeway:
            raise AuthError(f"the token lives {expires - not_before:.0f} s, more than {MAX_LIFETIME_SECONDS} s")
        if claims.get("iss") not in ISSUERS:
            raise AuthError(f"iss is {claims.get('iss')!r}, not {' or '.join(map(repr, ISSUERS))}")
        if claims.get("sub") != key_name:
            raise AuthError("sub is not the key name given in kid")
        if expected_uri is not None:
            _check_uri(claims, expected_uri)

    # -- storage ---------------------------------------------------------------------------------

    def _lookup(self, key_name: str) -> _RegisteredKey | None:
        with self._lock:
            if key_name not in self._keys:
                self._reload()
            return self._keys.get(key_name)

    def _register(self, key_name: str, pem: str) -> None:
        registered = _registered(key_name, pem)
        with self._lock:
            self._reload()
            document = self._document()
            document["keys"][key_name] = {"algorithm": registered.algorithm, "public_key": pem}
            self.path.parent.mkdir(parents=True, exist_ok=True)
            staging = self.path.with_name(f".{self.path.name}.{os.getpid()}.{threading.get_ident()}")
            staging.write_text(json.dumps(document, indent=2) + "\n")
            os.replace(staging, self.path)
            self._keys[key_name] = registered
            self._loaded_stamp = _stamp(self.path)

    def _reload(self) -> None:
        """Re-read keys.json if it changed since it was last read (callers hold the lock)."""
        stamp = _stamp(self.path)
        if stamp == self._loaded_stamp:
            return
        entries = self._document()["keys"]
        self._keys = {
            name: _registered(name, entry.get("public_key", "") if isinstance(entry, dict) else "")
            for name, entry in entries.items()
        }
        self._loaded_stamp = stamp

    def _document(self) -> dict[str, Any]:
        if not self.path.exists():
            return {"keys": {}}
        try:
            document = json.loads(self.path.read_text())
            if not isinstance(document, dict) or not isinstance(document.get("keys"), dict):
                raise ValueError("expected an object with a 'keys' object")
        except (OSError, ValueError) as error:
            raise UserError(
                f"the sandbox key store {self.path} cannot be read ({error}); delete it and create the keys "
                "again with `gpt-trader sandbox keys create`"
            ) from None
        return document


def _check_uri(claims: dict[str, Any], expected_uri: str) -> None:
    """`uri` must be the request; a token signed with a `uris` list instead must list that one request only."""
    if ("uri" in claims or "uris" not in claims) and claims.get("uri") != expected_uri:
        raise AuthError(f"uri {claims.get('uri')!r} does not match the request {expected_uri!r}")
    if "uris" in claims and claims["uris"] != [expected_uri]:
        raise AuthError(f"uris {claims['uris']!r} does not match the request {expected_uri!r}")


def _registered(key_name: str, pem: str) -> _RegisteredKey:
    try:
        public_key = serialization.load_pem_public_key(pem.encode())
    except (ValueError, TypeError):
        raise UserError(f"the public key of {_mask(key_name)} is not a readable PEM public key") from None
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        return _RegisteredKey(EDDSA, public_key)
    if isinstance(public_key, ec.EllipticCurvePublicKey) and isinstance(public_key.curve, ec.SECP256R1):
        return _RegisteredKey(ES256, public_key)
    raise UserError(f"the public key of {_mask(key_name)} is neither EC P-256 nor Ed25519")


def _pem(public_key: _PublicKey) -> str:
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def _write_key_file(path: Path, key_name: str, secret: str) -> Path:
    """Write `{"name", "privateKey"}` as Coinbase's portal does, never over an existing file."""
    exists = UserError(f"{path} already exists; give another path, or move that key file away first")
    if path.exists():
        raise exists
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        if path.exists():
            raise exists from None
        raise UserError(f"cannot write the key file {path} (a file is in the way of its folder)") from None
    except OSError as error:
        raise UserError(f"cannot write the key file {path} ({error.strerror}); give another path") from None
    with os.fdopen(descriptor, "w") as key_file:
        json.dump({"name": key_name, "privateKey": secret}, key_file, indent=2)
        key_file.write("\n")
    return path


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        status = path.stat()
    except FileNotFoundError:
        return None
    return status.st_mtime_ns, status.st_size


def _is_seconds(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _mask(key_name: str) -> str:
    return "…" + key_name[-6:] if len(key_name) > 6 else "***"

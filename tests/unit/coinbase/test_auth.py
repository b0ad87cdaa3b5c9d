"""CDP keys and JWTs: the kind told from the secret, the header and claims as documented, secrets kept out."""

from __future__ import annotations

import base64
import logging
import re
import time
from collections.abc import Callable

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from gpt_trader.coinbase.auth import CdpKey, auth_hook, load_key
from gpt_trader.config import Credentials
from gpt_trader.errors import ConfigError
from gpt_trader.log import mask_secrets

KEY_NAME = "organizations/0b5a2f6e-1c1d-4f4e-9a39-5d6d1e2c3b4a/apiKeys/7d9e8f10-aaaa-4bbb-8ccc-123456abcdef"
NOW = 1_754_773_548
DAMAGED_PEM = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIDamaged0000\n-----END EC PRIVATE KEY-----\n"
PublicKey = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey


def ec_secret(curve: ec.EllipticCurve | None = None) -> tuple[str, PublicKey]:
    private = ec.generate_private_key(curve or ec.SECP256R1())
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    return pem.decode(), private.public_key()


def ed25519_secret(length: int = 64) -> tuple[str, PublicKey]:
    private = ed25519.Ed25519PrivateKey.generate()
    raw = serialization.Encoding.Raw
    seed = private.private_bytes(raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
    public = private.public_key().public_bytes(raw, serialization.PublicFormat.Raw)
    return base64.b64encode((seed + public)[:length]).decode(), private.public_key()


@pytest.fixture(params=["ES256", "EdDSA"])
def key_and_public(request: pytest.FixtureRequest) -> tuple[CdpKey, PublicKey]:
    secret, public = ec_secret() if request.param == "ES256" else ed25519_secret()
    key = CdpKey.from_credentials(Credentials(KEY_NAME, secret))
    assert key.algorithm == request.param
    return key, public


def test_a_rest_jwt_carries_the_documented_header_and_claims(key_and_public: tuple[CdpKey, PublicKey]) -> None:
    key, public = key_and_public
    now = int(time.time())
    token = key.rest_jwt("get", "api.coinbase.com", "/api/v3/brokerage/accounts", now=now)

    header = jwt.get_unverified_header(token)
    assert set(header) == {"alg", "kid", "nonce", "typ"}
    assert (header["alg"], header["kid"], header["typ"]) == (key.algorithm, KEY_NAME, "JWT")
    assert re.fullmatch(r"[0-9a-f]{32}", header["nonce"])
    claims = jwt.decode(token, public, algorithms=[key.algorithm])
    assert claims == {
        "sub": KEY_NAME,
        "iss": "cdp",
        "nbf": now,
        "exp": now + 120,
        "uri": "GET api.coinbase.com/api/v3/brokerage/accounts",
    }


def test_the_uri_keeps_the_port_and_drops_the_query_string(key_and_public: tuple[CdpKey, PublicKey]) -> None:
    key, public = key_and_public
    token = key.rest_jwt("POST", "127.0.0.1:8765", "/api/v3/brokerage/orders/historical/batch?limit=2&x=y")
    claims = jwt.decode(token, public, algorithms=[key.algorithm])
    assert claims["uri"] == "POST 127.0.0.1:8765/api/v3/brokerage/orders/historical/batch"


def test_a_websocket_jwt_has_the_same_claims_without_uri(key_and_public: tuple[CdpKey, PublicKey]) -> None:
    key, public = key_and_public
    claims = jwt.decode(key.ws_jwt(now=NOW), public, algorithms=[key.algorithm], options={"verify_exp": False})
    assert claims == {"sub": KEY_NAME, "iss": "cdp", "nbf": NOW, "exp": NOW + 120}


def test_every_token_is_fresh_even_within_one_second(key_and_public: tuple[CdpKey, PublicKey]) -> None:
    key, _ = key_and_public
    tokens = [key.rest_jwt("GET", "api.coinbase.com", "/api/v3/brokerage/accounts", now=NOW) for _ in range(5)]
    tokens += [key.ws_jwt(now=NOW) for _ in range(5)]
    assert len(set(tokens)) == 10
    assert len({jwt.get_unverified_header(token)["nonce"] for token in tokens}) == 10


def test_a_token_does_not_verify_with_another_key(key_and_public: tuple[CdpKey, PublicKey]) -> None:
    key, _ = key_and_public
    _, other_public = ec_secret() if key.algorithm == "ES256" else ed25519_secret()
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(key.ws_jwt(), other_public, algorithms=[key.algorithm])


def test_the_current_time_is_used_when_none_is_given(key_and_public: tuple[CdpKey, PublicKey]) -> None:
    key, public = key_and_public
    before = int(time.time())
    claims = jwt.decode(key.ws_jwt(), public, algorithms=[key.algorithm])
    assert before <= claims["nbf"] <= int(time.time()) and claims["exp"] == claims["nbf"] + 120


def test_an_ed25519_seed_alone_gives_the_same_key_as_seed_and_public_half() -> None:
    full, public = ed25519_secret(64)
    seed_only = base64.b64encode(base64.b64decode(full)[:32]).decode()
    key = CdpKey.from_credentials(Credentials(KEY_NAME, seed_only))
    assert key.algorithm == "EdDSA"
    assert jwt.decode(key.ws_jwt(), public, algorithms=["EdDSA"])["sub"] == KEY_NAME


def test_an_ed25519_key_in_pem_form_signs_eddsa() -> None:
    private = ed25519.Ed25519PrivateKey.generate()
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    key = CdpKey.from_credentials(Credentials(KEY_NAME, pem))
    assert key.algorithm == "EdDSA"
    assert jwt.decode(key.ws_jwt(), private.public_key(), algorithms=["EdDSA"])["sub"] == KEY_NAME


def test_a_pem_pasted_with_literal_backslash_n_is_read() -> None:
    pem, public = ec_secret()
    key = CdpKey.from_credentials(Credentials(KEY_NAME, pem.strip().replace("\n", "\\n")))
    assert jwt.decode(key.ws_jwt(), public, algorithms=["ES256"])["iss"] == "cdp"


def _rsa_pem() -> str:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def _encrypted_pem() -> str:
    private = ec.generate_private_key(ec.SECP256R1())
    return private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"correct horse"),
    ).decode()


def _mismatched_ed25519() -> str:
    first, _ = ed25519_secret()
    second, _ = ed25519_secret()
    return base64.b64encode(base64.b64decode(first)[:32] + base64.b64decode(second)[32:]).decode()


@pytest.mark.parametrize(
    ("make_secret", "says"),
    [
        (lambda: "not a key at all, just some text", "neither a PEM EC key nor the base64"),
        (lambda: base64.b64encode(bytes(range(16))).decode(), "32- or 64-byte Ed25519"),
        (lambda: ec_secret(ec.SECP384R1())[0], "EC key on secp384r1"),
        (_rsa_pem, "RSAPrivateKey"),
        (_encrypted_pem, "is encrypted"),
        (lambda: DAMAGED_PEM, "cannot be read"),
        (_mismatched_ed25519, "public half does not match"),
    ],
)
def test_an_unusable_secret_is_a_config_error_that_never_echoes_it(make_secret: Callable[[], str], says: str) -> None:
    secret = make_secret()
    with pytest.raises(ConfigError) as refused:
        CdpKey.from_credentials(Credentials(KEY_NAME, secret))
    message = str(refused.value)
    assert says in message and "…abcdef" in message
    assert KEY_NAME not in message
    for line in secret.splitlines():
        if not line.startswith("-----"):
            assert line not in message


def test_the_repr_shows_only_the_end_of_the_key_name() -> None:
    pem, _ = ec_secret()
    key = CdpKey.from_credentials(Credentials(KEY_NAME, pem))
    assert repr(key) == str(key) == "CdpKey(key_name=…abcdef, algorithm=ES256)"
    assert f"{key!r} {key}".count("abcdef") == 2 and KEY_NAME not in repr(key)


def test_neither_the_secret_nor_a_token_reaches_a_log_line(caplog: pytest.LogCaptureFixture) -> None:
    pem, _ = ec_secret()
    ed_secret, _ = ed25519_secret()
    key = CdpKey.from_credentials(Credentials(KEY_NAME, pem))
    ed_key = CdpKey.from_credentials(Credentials(KEY_NAME, ed_secret))
    caplog.set_level(logging.DEBUG, logger="gpt_trader")
    logging.getLogger("gpt_trader.coinbase").info("using %s and %s", key, ed_key)
    assert "abcdef" in caplog.text and KEY_NAME not in caplog.text
    body_lines = [line for line in pem.splitlines() if not line.startswith("-----")]
    assert all(line not in caplog.text for line in body_lines)
    # The masking filter of every configured log handler knows both secrets.
    assert mask_secrets(f"leaked {body_lines[0]} and {ed_secret}") == "leaked *** and ***"


def test_the_auth_hook_gives_a_fresh_bearer_token_bound_to_the_request() -> None:
    pem, public = ec_secret()
    sign = auth_hook(CdpKey.from_credentials(Credentials(KEY_NAME, pem)))
    first = sign("GET", "127.0.0.1:8765", "/api/v3/brokerage/accounts")
    second = sign("GET", "127.0.0.1:8765", "/api/v3/brokerage/accounts")
    assert set(first) == {"Authorization"} and first != second
    scheme, _, token = first["Authorization"].partition(" ")
    assert scheme == "Bearer"
    assert jwt.decode(token, public, algorithms=["ES256"])["uri"] == "GET 127.0.0.1:8765/api/v3/brokerage/accounts"


def test_load_key_says_how_to_configure_one_when_none_is(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ("COINBASE_API_KEY", "COINBASE_API_SECRET", "GPT_TRADER_COINBASE_KEY_NAME",
                     "GPT_TRADER_COINBASE_PRIVATE_KEY", "GPT_TRADER_COINBASE_KEY_FILE"):
        monkeypatch.delenv(variable, raising=False)
    with pytest.raises(ConfigError) as missing:
        load_key()
    for hint in ("COINBASE_API_KEY", "COINBASE_API_SECRET", ".env", "coinbase_key_file"):
        assert hint in str(missing.value)

    pem, public = ec_secret()
    monkeypatch.setenv("COINBASE_API_KEY", KEY_NAME)
    monkeypatch.setenv("COINBASE_API_SECRET", pem.strip().replace("\n", "\\n"))
    key = load_key()
    assert jwt.decode(key.ws_jwt(), public, algorithms=["ES256"])["sub"] == KEY_NAME

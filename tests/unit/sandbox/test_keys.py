"""The sandbox's key store: CDP-style key files, and JWT checks that accept our client and refuse the rest."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from hypothesis import given, settings
from hypothesis import strategies as st

from gpt_trader.coinbase.auth import CdpKey
from gpt_trader.config import Credentials, read_key_file
from gpt_trader.errors import UserError
from gpt_trader.sandbox.keys import AuthError, KeyStore

NOW = 1_754_773_548
HOST = "127.0.0.1:8765"
ACCOUNTS = "/api/v3/brokerage/accounts"
CDP_NAME = re.compile(r"organizations/[0-9a-f-]{36}/apiKeys/[0-9a-f-]{36}")


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def store(tmp_path: Path, clock: Clock) -> KeyStore:
    return KeyStore(tmp_path / "state", clock=clock)


@pytest.fixture(params=[False, True], ids=["ES256", "EdDSA"])
def client_key(request: pytest.FixtureRequest, store: KeyStore, tmp_path: Path) -> CdpKey:
    """A key made by the sandbox, read back the way a user's client reads a CDP key file."""
    created = store.create_key(ed25519_key=request.param, out=tmp_path / "cdp_api_key.json")
    assert created.path is not None
    return CdpKey.from_credentials(read_key_file(created.path))


def other_private_key(algorithm: str) -> ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey:
    return ec.generate_private_key(ec.SECP256R1()) if algorithm == "ES256" else ed25519.Ed25519PrivateKey.generate()


def forged(
    key: CdpKey, claims: dict[str, Any], *, header: dict[str, Any] | None = None, algorithm: str | None = None
) -> str:
    """A token with the given claims, signed by `key`'s own private key unless told otherwise."""
    return jwt.encode(
        claims,
        key._private_key,
        algorithm=algorithm or key.algorithm,
        headers={"kid": key.key_name, "nonce": "00", **(header or {})},
    )


def documented_claims(key: CdpKey, uri: str = f"GET {HOST}{ACCOUNTS}") -> dict[str, Any]:
    return {"sub": key.key_name, "iss": "cdp", "nbf": NOW, "exp": NOW + 120, "uri": uri}


def test_a_created_key_file_is_cdp_shaped_private_to_its_owner_and_kept_out_of_the_store(
    store: KeyStore, tmp_path: Path
) -> None:
    created = store.create_key(out=tmp_path / "keys" / "sandbox.json")
    assert created.path == tmp_path / "keys" / "sandbox.json"
    assert created.path.stat().st_mode & 0o777 == 0o600
    document = json.loads(created.path.read_text())
    assert set(document) == {"name", "privateKey"}
    assert CDP_NAME.fullmatch(document["name"]) and document["name"] == created.key_name
    assert document["privateKey"].startswith("-----BEGIN EC PRIVATE KEY-----\n")
    assert document["privateKey"] == created.private_key_pem

    registry = store.path.read_text()
    assert created.key_name in registry and "PRIVATE" not in registry
    assert created.private_key_pem.splitlines()[1] not in registry
    assert store.key_names() == [created.key_name]
    assert created.private_key_pem not in repr(created) and created.key_name[-6:] in repr(created)


def test_an_ed25519_key_file_holds_the_base64_seed_and_public_key(store: KeyStore, tmp_path: Path) -> None:
    created = store.create_key(ed25519_key=True, out=tmp_path / "ed.json")
    raw = base64.b64decode(json.loads((tmp_path / "ed.json").read_text())["privateKey"])
    public = ed25519.Ed25519PrivateKey.from_private_bytes(raw[:32]).public_key()
    assert len(raw) == 64 and created.algorithm == "EdDSA"
    assert raw[32:] == public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def test_a_key_without_a_file_is_registered_all_the_same(store: KeyStore) -> None:
    created = store.create_key(name="organizations/test/apiKeys/no-file")
    assert created.path is None and store.key_names() == ["organizations/test/apiKeys/no-file"]
    key = CdpKey.from_credentials(Credentials(created.key_name, created.private_key_pem))
    assert store.verify_ws(key.ws_jwt(now=NOW)) == created.key_name


def test_our_clients_tokens_are_accepted(store: KeyStore, client_key: CdpKey) -> None:
    rest = client_key.rest_jwt("get", HOST, ACCOUNTS + "?limit=2", now=NOW)
    assert store.verify_rest(rest, "GET", HOST, ACCOUNTS + "?limit=2") == client_key.key_name
    assert store.verify_ws(client_key.ws_jwt(now=NOW)) == client_key.key_name


def test_a_token_is_good_for_its_two_minutes_with_a_little_leeway_for_clocks(
    store: KeyStore, client_key: CdpKey, clock: Clock
) -> None:
    token = client_key.ws_jwt(now=NOW)
    for moment, accepted in ((NOW - 4, True), (NOW + 119, True), (NOW - 6, False), (NOW + 120, False)):
        clock.now = moment
        if accepted:
            assert store.verify_ws(token) == client_key.key_name
        else:
            with pytest.raises(AuthError):
                store.verify_ws(token)


@pytest.mark.parametrize(
    ("spoil", "reason"),
    [
        (lambda key: key.ws_jwt(now=NOW - 121), "the token expired 1 s ago"),
        (lambda key: key.ws_jwt(now=NOW + 60), "not valid yet (nbf is 60 s ahead)"),
        (lambda key: forged(key, documented_claims(key) | {"exp": NOW + 600}), "lives 600 s, more than 120 s"),
        (lambda key: forged(key, documented_claims(key) | {"iss": "coinbase"}), "iss is 'coinbase', not 'cdp'"),
        (lambda key: forged(key, documented_claims(key) | {"sub": "someone-else"}), "sub is not the key name"),
        (lambda key: forged(key, documented_claims(key) | {"nbf": "now"}), "nbf and exp must both be Unix seconds"),
        (lambda key: forged(key, documented_claims(key), header={"kid": "organizations/x/apiKeys/nobody"}),
         "unknown key …nobody"),
        (lambda key: forged(key, documented_claims(key), header={"kid": ""}), "header has no kid"),
        (lambda key: jwt.encode(documented_claims(key), "shared-secret-of-32-bytes-or-more!", algorithm="HS256",
                                headers={"kid": key.key_name}), "algorithm 'HS256' is not accepted"),
        (lambda key: jwt.encode(documented_claims(key), None, algorithm="none", headers={"kid": key.key_name}),
         "algorithm 'none' is not accepted"),
        (lambda key: "not.a.jwt", "not a JWT"),
    ],
    ids=["expired", "not-yet-valid", "too-long", "issuer", "subject", "nbf-type", "unknown-kid", "no-kid",
         "hmac", "unsigned", "garbage"],
)
def test_a_bad_token_is_refused_with_its_reason(
    store: KeyStore, client_key: CdpKey, spoil: Any, reason: str
) -> None:
    with pytest.raises(AuthError) as refused:
        store.verify_ws(spoil(client_key))
    assert reason in refused.value.reason


def test_a_token_signed_by_another_key_is_refused(store: KeyStore, client_key: CdpKey) -> None:
    impostor = CdpKey(client_key.key_name, other_private_key(client_key.algorithm))
    with pytest.raises(AuthError, match="signature does not verify"):
        store.verify_rest(impostor.rest_jwt("GET", HOST, ACCOUNTS, now=NOW), "GET", HOST, ACCOUNTS)


def test_a_token_signed_with_the_other_algorithm_for_the_key_is_refused(store: KeyStore, client_key: CdpKey) -> None:
    other = "EdDSA" if client_key.algorithm == "ES256" else "ES256"
    impostor = CdpKey(client_key.key_name, other_private_key(other))
    with pytest.raises(AuthError, match=f"algorithm {other} does not fit key"):
        store.verify_ws(impostor.ws_jwt(now=NOW))


def test_a_tampered_payload_is_refused(store: KeyStore, client_key: CdpKey) -> None:
    token = client_key.rest_jwt("GET", HOST, ACCOUNTS, now=NOW)
    header, _, signature = token.split(".")
    widened = documented_claims(client_key, uri=f"POST {HOST}/api/v3/brokerage/orders")
    payload = base64.urlsafe_b64encode(json.dumps(widened).encode()).rstrip(b"=").decode()
    with pytest.raises(AuthError, match="signature does not verify"):
        store.verify_rest(f"{header}.{payload}.{signature}", "POST", HOST, "/api/v3/brokerage/orders")


@pytest.mark.parametrize(
    ("method", "host", "path"),
    [("POST", HOST, ACCOUNTS), ("GET", "127.0.0.1:9999", ACCOUNTS), ("GET", HOST, "/api/v3/brokerage/orders")],
    ids=["method", "port", "path"],
)
def test_a_token_for_another_request_is_refused(
    store: KeyStore, client_key: CdpKey, method: str, host: str, path: str
) -> None:
    token = client_key.rest_jwt("GET", HOST, ACCOUNTS, now=NOW)
    with pytest.raises(AuthError) as refused:
        store.verify_rest(token, method, host, path)
    assert refused.value.reason == f"uri 'GET {HOST}{ACCOUNTS}' does not match the request '{method} {host}{path}'"


def test_a_rest_token_needs_its_uri_claim(store: KeyStore, client_key: CdpKey) -> None:
    with pytest.raises(AuthError, match="uri None does not match"):
        store.verify_rest(client_key.ws_jwt(now=NOW), "GET", HOST, ACCOUNTS)


@settings(max_examples=25, deadline=None)
@given(
    signed=st.tuples(st.sampled_from(["GET", "POST"]), st.sampled_from(["/accounts", "/orders", "/orders/preview"])),
    asked=st.tuples(st.sampled_from(["GET", "POST"]), st.sampled_from(["/accounts", "/orders", "/orders/preview"])),
)
def test_a_rest_token_opens_exactly_the_request_it_was_made_for(
    tmp_path_factory: pytest.TempPathFactory, signed: tuple[str, str], asked: tuple[str, str]
) -> None:
    store = KeyStore(tmp_path_factory.mktemp("state"), clock=Clock(NOW))
    created = store.create_key()
    key = CdpKey.from_credentials(Credentials(created.key_name, created.private_key_pem))
    token = key.rest_jwt(signed[0], HOST, "/api/v3/brokerage" + signed[1], now=NOW)
    try:
        store.verify_rest(token, asked[0], HOST, "/api/v3/brokerage" + asked[1])
        accepted = True
    except AuthError:
        accepted = False
    assert accepted == (signed == asked)


def test_keys_created_by_another_process_are_found_by_a_running_store(tmp_path: Path) -> None:
    serving = KeyStore(tmp_path, clock=Clock(NOW))
    created = KeyStore(tmp_path).create_key()
    key = CdpKey.from_credentials(Credentials(created.key_name, created.private_key_pem))
    assert serving.verify_ws(key.ws_jwt(now=NOW)) == created.key_name
    assert KeyStore(tmp_path).key_names() == [created.key_name]


def test_a_public_key_can_be_registered_directly(store: KeyStore) -> None:
    private = ec.generate_private_key(ec.SECP256R1())
    pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    store.register_public_key("organizations/o/apiKeys/registered", pem)
    key = CdpKey("organizations/o/apiKeys/registered", private)
    assert store.verify_ws(key.ws_jwt(now=NOW)) == "organizations/o/apiKeys/registered"
    with pytest.raises(UserError, match="not a readable PEM public key"):
        store.register_public_key("organizations/o/apiKeys/broken", "-----BEGIN PUBLIC KEY-----\nAAAA\n")


def test_an_existing_key_file_is_never_overwritten_and_no_key_is_registered(store: KeyStore, tmp_path: Path) -> None:
    target = tmp_path / "cdp_api_key.json"
    target.write_text('{"name": "mine", "privateKey": "precious"}')
    with pytest.raises(UserError, match="already exists"):
        store.create_key(out=target)
    assert json.loads(target.read_text())["privateKey"] == "precious"
    assert store.key_names() == []


def test_a_key_file_that_cannot_be_written_is_named_and_no_key_is_registered(store: KeyStore, tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    with pytest.raises(UserError, match=r"cannot write the key file .*a-file/key\.json"):
        store.create_key(out=tmp_path / "a-file" / "key.json")
    with pytest.raises(UserError, match="already exists"):
        store.create_key(out=tmp_path)
    assert store.key_names() == []


def test_a_duplicate_key_name_is_refused(store: KeyStore) -> None:
    store.create_key(name="organizations/o/apiKeys/one")
    with pytest.raises(UserError, match="already has a key named organizations/o/apiKeys/one"):
        store.create_key(name="organizations/o/apiKeys/one")


def test_a_corrupt_store_file_is_named_with_the_way_out(tmp_path: Path) -> None:
    (tmp_path / "keys.json").write_text("{not json")
    with pytest.raises(UserError) as corrupt:
        KeyStore(tmp_path)
    assert str(tmp_path / "keys.json") in str(corrupt.value)
    assert "sandbox keys create" in str(corrupt.value)


def test_the_sandbox_side_never_imports_the_client() -> None:
    probe = "import sys, gpt_trader.sandbox.keys; print(sorted(m for m in sys.modules if 'coinbase' in m))"
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "[]"


# -- claim forms other widely used clients sign, and replays ----------------------------------------


def test_the_older_issuer_with_its_audience_is_accepted(store: KeyStore, client_key: CdpKey) -> None:
    claims = documented_claims(client_key) | {"iss": "coinbase-cloud", "aud": ["retail_rest_api_proxy"]}
    token = forged(client_key, claims, header={"nonce": "a1"})
    assert store.verify_rest(token, "GET", HOST, ACCOUNTS) == client_key.key_name


def test_a_uris_list_holding_the_one_uri_is_accepted(store: KeyStore, client_key: CdpKey) -> None:
    claims = documented_claims(client_key)
    claims["uris"] = [claims.pop("uri")]
    token = forged(client_key, claims, header={"nonce": "b1"})
    assert store.verify_rest(token, "GET", HOST, ACCOUNTS) == client_key.key_name


@pytest.mark.parametrize(
    ("uris", "reason"),
    [
        ([f"POST {HOST}{ACCOUNTS}"], "does not match the request"),
        ([f"GET {HOST}{ACCOUNTS}", f"POST {HOST}/api/v3/brokerage/orders"], "does not match the request"),
        (f"GET {HOST}{ACCOUNTS}", "does not match the request"),
        ([], "does not match the request"),
    ],
    ids=["other-request", "two-requests", "not-a-list", "empty"],
)
def test_a_uris_list_for_anything_but_this_one_request_is_refused(
    store: KeyStore, client_key: CdpKey, uris: Any, reason: str
) -> None:
    claims = {k: v for k, v in documented_claims(client_key).items() if k != "uri"} | {"uris": uris}
    with pytest.raises(AuthError, match=reason):
        store.verify_rest(forged(client_key, claims, header={"nonce": "c1"}), "GET", HOST, ACCOUNTS)


def test_an_unknown_issuer_is_still_refused_whatever_its_audience(store: KeyStore, client_key: CdpKey) -> None:
    claims = documented_claims(client_key) | {"iss": "coinbase", "aud": ["retail_rest_api_proxy"]}
    with pytest.raises(AuthError, match="iss is 'coinbase'"):
        store.verify_rest(forged(client_key, claims), "GET", HOST, ACCOUNTS)


def test_a_rest_token_is_good_for_one_request_only(store: KeyStore, client_key: CdpKey) -> None:
    token = client_key.rest_jwt("GET", HOST, ACCOUNTS, now=NOW)
    assert store.verify_rest(token, "GET", HOST, ACCOUNTS) == client_key.key_name
    with pytest.raises(AuthError, match=r"nonce '[0-9a-f]+' was already used"):
        store.verify_rest(token, "GET", HOST, ACCOUNTS)
    fresh = client_key.rest_jwt("GET", HOST, ACCOUNTS, now=NOW)
    assert store.verify_rest(fresh, "GET", HOST, ACCOUNTS) == client_key.key_name


def test_a_nonce_signed_again_is_a_replay_but_another_keys_nonce_is_not(
    store: KeyStore, client_key: CdpKey, tmp_path: Path
) -> None:
    other = store.create_key(ed25519_key=client_key.algorithm == "EdDSA")
    other_key = CdpKey.from_credentials(Credentials(other.key_name, other.private_key_pem))
    first = forged(client_key, documented_claims(client_key), header={"nonce": "same"})
    again = forged(client_key, documented_claims(client_key) | {"exp": NOW + 100}, header={"nonce": "same"})
    theirs = forged(other_key, documented_claims(other_key), header={"nonce": "same"})
    store.verify_rest(first, "GET", HOST, ACCOUNTS)
    with pytest.raises(AuthError, match="already used"):
        store.verify_rest(again, "GET", HOST, ACCOUNTS)
    assert store.verify_rest(theirs, "GET", HOST, ACCOUNTS) == other.key_name


def test_a_refused_token_does_not_use_up_its_nonce(store: KeyStore, client_key: CdpKey) -> None:
    token = client_key.rest_jwt("GET", HOST, ACCOUNTS, now=NOW)
    with pytest.raises(AuthError, match="does not match"):
        store.verify_rest(token, "POST", HOST, ACCOUNTS)
    assert store.verify_rest(token, "GET", HOST, ACCOUNTS) == client_key.key_name


def test_remembered_nonces_are_forgotten_once_their_tokens_expire_and_stay_bounded(
    tmp_path: Path, clock: Clock
) -> None:
    store = KeyStore(tmp_path, clock=clock, max_nonces_per_key=3)
    created = store.create_key()
    key = CdpKey.from_credentials(Credentials(created.key_name, created.private_key_pem))
    tokens = [key.rest_jwt("GET", HOST, ACCOUNTS, now=NOW) for _ in range(5)]
    for token in tokens:
        store.verify_rest(token, "GET", HOST, ACCOUNTS)
    assert store.remembered_nonces(created.key_name) == 3
    clock.now = NOW + 200
    later = key.rest_jwt("GET", HOST, ACCOUNTS, now=NOW + 200)
    store.verify_rest(later, "GET", HOST, ACCOUNTS)
    assert store.remembered_nonces(created.key_name) == 1

"""Whether the sandbox's REST rate limits hold against a client that tries to dodge or abuse them.

    python -m bench.sandbox_rest_limits [--seconds 5] [--json out.json]

Runs a sandbox in this process (synthetic market, Coinbase's limits: 10/s public per IP, 30/s private
per key) and, for `--seconds` each, three abusers on loopback:

- `victim`: one client floods tokens that name a victim's key id but are signed by a stranger, while
  the victim sends 20 valid requests a second (under its 30/s); figures: the victim's 429s (should be 0)
  and what the flood got back (401 until its connection's budget runs out, then 429).
- `forwarded_for`: public requests, each with a new `X-Forwarded-For`; figure: accepted per second
  (should stay near the 10/s limit).
- `random_kids`: junk tokens with a new made-up key id each, over one connection and over a new
  connection each; figures: accepted for checking per second, and the rate limiter's buckets at the end
  (bounded, however many names were made up).
"""

from __future__ import annotations

import argparse
import json
import secrets
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric import ec

from gpt_trader.coinbase.auth import CdpKey
from gpt_trader.config import Credentials
from gpt_trader.sandbox.ratelimit import RateLimits
from gpt_trader.sandbox.server import BackgroundServer, SandboxConfig, build_app

API = "/api/v3/brokerage"
PRIVATE_PATH = "/products/BTC-USD"


def junk_token(kid: str) -> str:
    return CdpKey(kid, ec.generate_private_key(ec.SECP256R1())).rest_jwt("GET", "127.0.0.1", API + PRIVATE_PATH)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def victim(server: BackgroundServer, key: CdpKey, seconds: float) -> dict[str, Any]:
    stop = threading.Event()
    flood: Counter[int] = Counter()
    junk = [junk_token(key.key_name) for _ in range(50)]

    def attack() -> None:
        with httpx.Client(base_url=server.url + API, timeout=10) as client:
            n = 0
            while not stop.is_set():
                flood[client.get(PRIVATE_PATH, headers=bearer(junk[n % len(junk)])).status_code] += 1
                n += 1

    attacker = threading.Thread(target=attack)
    attacker.start()
    answers: Counter[int] = Counter()
    host = server.url.removeprefix("http://")
    with httpx.Client(base_url=server.url + API, timeout=10) as client:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            token = key.rest_jwt("GET", host, API + PRIVATE_PATH)
            answers[client.get(PRIVATE_PATH, headers=bearer(token)).status_code] += 1
            time.sleep(0.05)
    stop.set()
    attacker.join()
    return {
        "victim_requests": sum(answers.values()),
        "victim_429": answers[429],
        "flood_requests_per_second": round(sum(flood.values()) / seconds, 1),
        "flood_answers": dict(sorted(flood.items())),
    }


def forwarded_for(server: BackgroundServer, seconds: float) -> dict[str, Any]:
    answers: Counter[int] = Counter()
    with httpx.Client(base_url=server.url + API, timeout=10) as client:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            spoofed = f"10.{secrets.randbelow(256)}.{secrets.randbelow(256)}.{secrets.randbelow(256)}"
            answers[client.get("/time", headers={"X-Forwarded-For": spoofed}).status_code] += 1
    return {
        "accepted_per_second": round(answers[200] / seconds, 1),
        "answers": dict(sorted(answers.items())),
    }


def random_kids(server: BackgroundServer, seconds: float, new_connection_each: bool) -> dict[str, Any]:
    answers: Counter[int] = Counter()
    kid_tokens = [junk_token(f"organizations/x/apiKeys/{secrets.token_hex(8)}") for _ in range(200)]
    client = httpx.Client(base_url=server.url + API, timeout=10)
    deadline = time.monotonic() + seconds
    n = 0
    while time.monotonic() < deadline:
        if new_connection_each:
            client.close()
            client = httpx.Client(base_url=server.url + API, timeout=10)
        answers[client.get(PRIVATE_PATH, headers=bearer(kid_tokens[n % len(kid_tokens)])).status_code] += 1
        n += 1
    client.close()
    return {
        "checked_per_second": round(answers[401] / seconds, 1),
        "answers": dict(sorted(answers.items())),
        "rate_limit_buckets": len(server.app.state.throttle.limiter),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as state:
        config = SandboxConfig(state_dir=Path(state), products=("BTC-USD",), days=0.05, history_days=0.05,
                               rate_limits=RateLimits())
        with BackgroundServer(build_app(config)) as server:
            created = server.app.state.keys.create_key()
            key = CdpKey.from_credentials(Credentials(created.key_name, created.private_key_pem))
            figures = {
                "victim": victim(server, key, args.seconds),
                "forwarded_for": forwarded_for(server, args.seconds),
                "random_kids_one_connection": random_kids(server, args.seconds, new_connection_each=False),
                "random_kids_new_connections": random_kids(server, args.seconds, new_connection_each=True),
            }
    text = json.dumps(figures, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()

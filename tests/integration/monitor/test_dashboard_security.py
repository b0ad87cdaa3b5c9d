"""The dashboard never shows a credential, never listens beyond loopback without a token, never writes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gpt_trader.cli.dashboard import check_exposure, is_loopback
from gpt_trader.errors import UserError
from gpt_trader.monitor.web import TOKEN_COOKIE, create_app
from gpt_trader.sandbox.server import BackgroundServer
from gpt_trader.store import Store
from tests.support.monitor_records import Planted

FAKE_KEY = "organizations/planted-org/apiKeys/PLANTEDKEY7f3a9c"
FAKE_SECRET = "PLANTEDSECRETb81d4e0c6a2f"
FAKE_FILE_SECRET = "PLANTEDFILESECRET55c0ffee"
TOKEN = "a-long-enough-dashboard-token-1234"


def environment_with_credentials(tmp_path: Path) -> dict[str, str]:
    key_file = tmp_path / "cdp_api_key.json"
    key_file.write_text(
        json.dumps(
            {
                "name": FAKE_KEY,
                "privateKey": f"-----BEGIN EC PRIVATE KEY-----\n{FAKE_FILE_SECRET}\n-----END EC PRIVATE KEY-----\n",
            }
        )
    )
    return {
        **os.environ,
        "COINBASE_API_KEY": FAKE_KEY,
        "COINBASE_API_SECRET": FAKE_SECRET,
        "GPT_TRADER_COINBASE_KEY_FILE": str(key_file),
        "NO_COLOR": "1",
    }


@pytest.fixture
def dashboard_process(tmp_path: Path, planted: Planted) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """`gpt-trader dashboard --port 0` as a user runs it, with credentials in its environment and key file."""
    process = subprocess.Popen(
        [sys.executable, "-m", "gpt_trader", "dashboard", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment_with_credentials(tmp_path),
    )
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()
        found = re.search(r"http://127\.0\.0\.1:(\d+)/", banner)
        assert found, banner + (process.stderr.read() if process.stderr and process.poll() is not None else "")
        yield f"http://127.0.0.1:{found.group(1)}", process
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_no_page_or_answer_shows_a_credential(
    dashboard_process: tuple[str, subprocess.Popen[str]], planted: Planted
) -> None:
    base, process = dashboard_process
    with httpx.Client(base_url=base, timeout=60) as http:
        schema = http.get("/openapi.json").json()
        ids = {"run_id": 1, "result_id": 1, "account_id": planted.accounts["a"], "session_id": planted.session}
        targets = ["/", "/static/dashboard.js", "/static/dashboard.css", "/static/plotly.min.js", "/openapi.json"]
        targets += [re.sub(r"\{(\w+)\}", lambda m: str(ids[m.group(1)]), path) for path in schema["paths"]]
        answers = []
        for target in targets:
            params = {"session_id": planted.session, "seconds": 0.5, "strategy": "ma_crossover"}
            answer = http.get(target, params=params)
            assert answer.status_code == 200, (target, answer.text)
            answers.append(answer)
    process.terminate()
    _, errors = process.communicate(timeout=10)
    shown = [answer.text + str(answer.headers) for answer in answers] + [errors]
    for secret in (FAKE_KEY, FAKE_SECRET, FAKE_FILE_SECRET, "PRIVATE KEY"):
        assert not [text for text in shown if secret in text], secret


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "::", "dashboard.example.com"])
def test_a_non_loopback_host_without_a_token_is_refused(host: str, tmp_path: Path) -> None:
    environment = {key: value for key, value in os.environ.items() if key != "GPT_TRADER_DASHBOARD_TOKEN"}
    refused = subprocess.run(
        [sys.executable, "-m", "gpt_trader", "dashboard", "--host", host, "--port", "0"],
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
    )
    assert refused.returncode == 2
    assert f"--host {host} would expose the dashboard" in refused.stderr and "--token" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_exposure_rules() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1") and is_loopback("127.5.0.1")
    assert not is_loopback("0.0.0.0") and not is_loopback("example.org")
    check_exposure("127.0.0.1", None)
    check_exposure("0.0.0.0", TOKEN)
    with pytest.raises(UserError, match="at least 16 characters"):
        check_exposure("0.0.0.0", "short")


def test_with_a_token_every_request_must_carry_it(filled_store: Store, planted: Planted) -> None:
    server = BackgroundServer(create_app(filled_store, token=TOKEN))
    with server, httpx.Client(base_url=server.url, timeout=30) as http:
        for path in ("/", "/api/runs", "/openapi.json", "/static/plotly.min.js"):
            refused = http.get(path)
            assert refused.status_code == 401 and "needs its token" in refused.json()["detail"]
            assert TOKEN not in refused.text
        assert http.get("/api/runs", headers={"Authorization": "Bearer wrong-token"}).status_code == 401
        assert http.get("/api/runs", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
        opened = http.get("/", params={"token": TOKEN})
        assert opened.status_code == 200 and TOKEN_COOKIE in http.cookies
        assert http.get("/api/sessions").status_code == 200  # the cookie carries it from now on


def test_no_endpoint_accepts_a_write(client_store: tuple[httpx.Client, Store], planted: Planted) -> None:
    http, store = client_store
    schema = http.get("/openapi.json").json()
    before = len(store.list_runs(limit=1000)), store.count_backtest_results()
    paths = ["/", "/static/dashboard.js", "/openapi.json", "/anything", *schema["paths"]]
    for path in paths:
        target = path.replace("{run_id}", "1").replace("{result_id}", "1").replace("{account_id}", "1")
        for method in ("POST", "PUT", "PATCH", "DELETE", "OPTIONS"):
            answer = http.request(method, target, json={"kind": "live", "name": "injected"})
            assert answer.status_code == 405, (method, target)
            assert "read-only" in answer.json()["detail"] and answer.headers["allow"] == "GET, HEAD"
    assert (len(store.list_runs(limit=1000)), store.count_backtest_results()) == before


@pytest.fixture
def client_store(filled_store: Store) -> Iterator[tuple[httpx.Client, Store]]:
    server = BackgroundServer(create_app(filled_store))
    with server, httpx.Client(base_url=server.url, timeout=30) as http:
        yield http, filled_store

"""Guarded live orders in sessions, end to end: real `sandbox serve` and `gpt-trader session` processes on a
real SQLite file. Without both opt-ins nothing reaches the sandbox's order log; with `live = true` and
`--live` the session's orders are on the exchange and in the store under traceable client order ids; a
resume after kill -9 reconciles a fill the dead process never recorded; `session kill` cancels the
session's open orders and stops it; and the planted key shows in no output, log or database."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from gpt_trader.coinbase import orders as coinbase_orders
from gpt_trader.coinbase.auth import auth_hook, load_key
from gpt_trader.coinbase.rest import CoinbaseRestClient
from gpt_trader.config import read_key_file
from gpt_trader.store import open_store
from gpt_trader.trading.live_broker import SENDING
from tests.support.order_proxy import OrderProxy
from tests.support.sandbox_serve import Running, environment, serve
from tests.support.session_processes import finish, query, start, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

START = 1_717_200_000  # 2024-06-01T00:00:00Z, where the sandbox's replay starts
SPEED = 120
"""Two bars a second: a live order's round trips to the sandbox take a small part of a bar."""
PAPER_SPEED = 300
PRODUCTS = ["BTC-USD", "ETH-USD"]
LIMITS = """\
[live_limits]
max_order_notional = 2000
max_daily_notional = 1000000
max_daily_loss = 1000
max_open_orders = 5
"""


def session_toml(ws_url: str, *, live: bool, hours: float, limits: str = LIMITS, start: str = "") -> str:
    """A session on the sandbox's feed; `start` (ISO) replays from there, else it starts at the next bar."""
    return f"""\
name = "{"live" if live else "paper"} on the sandbox"
live = {"true" if live else "false"}
duration_hours = {hours}

[accounts]
capital = 1000
slots = 2
fee_rate = 0.001

[feed]
source = "sandbox"
url = "{ws_url}"
granularity = "1m"
{f'start = "{start}"' if start else ""}

[rotation]
every_hours = 1
history_hours = 1
min_round_trips = 1

{limits if live else ""}
[[candidates]]
strategy = "ma_crossover"
products = {PRODUCTS!r}
params = [{{ fast = 2, slow = 5 }}, {{ fast = 3, slow = 8 }}, {{ fast = 5, slow = 20 }}]
""".replace("'", '"')


@dataclass
class Sandbox:
    running: Running
    key_file: Path

    def orders(self) -> list[coinbase_orders.Order]:
        """Every order the sandbox's order log holds for the key, any status."""
        return asyncio.run(_all_orders(self.running.rest_url))

    def place(self, client_order_id: str, product_id: str, configuration: dict[str, object]) -> str:
        return asyncio.run(_place(self.running.rest_url, client_order_id, product_id, configuration))


async def _all_orders(rest_url: str) -> list[coinbase_orders.Order]:
    found: list[coinbase_orders.Order] = []
    cursor: str | None = None
    async with CoinbaseRestClient(rest_url, auth=auth_hook(load_key())) as client:
        while True:
            page = await client.list_orders(cursor=cursor)
            found += page.orders
            if not page.has_next or not page.cursor or page.cursor == cursor:
                return found
            cursor = page.cursor


async def _place(rest_url: str, client_order_id: str, product_id: str, configuration: dict[str, object]) -> str:
    async with CoinbaseRestClient(rest_url, auth=auth_hook(load_key())) as client:
        created = await client.create_order(client_order_id, product_id, "BUY", configuration)
        return created.order_id


@pytest.fixture
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Iterator[Sandbox]:
    state = tmp_path / "sandbox-state"
    key_file = tmp_path / "planted_key.json"
    created = subprocess.run(
        [sys.executable, "-m", "gpt_trader", "sandbox", "keys", "create", "--state-dir", str(state), "--out",
         str(key_file)], capture_output=True, text=True, env=environment(), timeout=120,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    monkeypatch.setenv("GPT_TRADER_COINBASE_KEY_FILE", str(key_file))
    speed = getattr(request, "param", SPEED)
    flags = ["--source", "synthetic:11", "--products", ",".join(PRODUCTS), "--speed", str(speed), "--start",
             str(START), "--days", "0.5", "--history-days", "0.1", "--state-dir", str(state)]  # fmt: skip
    with serve(*flags) as running:
        yield Sandbox(running, key_file)


def orders_of(database: Path) -> list[tuple[str, str]]:
    """(client order id, status) of every order the session's store holds."""
    return [(str(cid), str(status)) for cid, status in query(database, "SELECT client_order_id, status FROM orders")]


def fills_of(database: Path, client_order_id: str) -> list[tuple[object, ...]]:
    return query(database, "SELECT f.trade_id, f.size FROM fills f JOIN orders o ON o.id = f.order_id "
                           "WHERE o.client_order_id = ?", client_order_id)  # fmt: skip


@pytest.mark.parametrize("sandbox", [PAPER_SPEED], indirect=True)
def test_without_both_opt_ins_no_order_reaches_the_sandbox(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = tmp_path / "store.db"
    live_file, paper_file = tmp_path / "live.toml", tmp_path / "paper.toml"
    live_file.write_text(session_toml(sandbox.running.ws_url, live=True, hours=0.5))
    # From the sandbox's start, so the session trades the same bars, and rotates the same way, every time.
    since = datetime.fromtimestamp(START, UTC).isoformat()
    paper_file.write_text(session_toml(sandbox.running.ws_url, live=False, hours=3, start=since))

    code, _, errors = finish(start(database, "session", "run", str(live_file)))
    assert code == 2 and "live orders are off: `--live` on the command is missing" in errors
    code, _, errors = finish(start(database, "session", "run", str(paper_file), "--live"))
    assert code == 2 and "live orders are off: `live = true` in the session file is missing" in errors
    with monkeypatch.context() as patched:
        patched.setenv("GPT_TRADER_COINBASE_KEY_FILE", str(tmp_path / "missing.json"))
        code, _, errors = finish(start(database, "session", "run", str(live_file), "--live"))
    assert code == 2 and "missing.json does not exist" in errors
    assert query(database, "SELECT id FROM sessions") == [], "a refused run records no session"

    code, _, errors = finish(start(database, "session", "run", str(paper_file)))
    assert code == 0, errors
    paper_orders = orders_of(database)
    assert paper_orders and all(cid.startswith("s1-") for cid, _ in paper_orders), "the session traded on paper"
    assert sandbox.orders() == []


def test_an_order_over_a_limit_is_refused_with_a_message_and_never_sent(sandbox: Sandbox, tmp_path: Path) -> None:
    database = tmp_path / "store.db"
    session_file = tmp_path / "live.toml"
    tight = LIMITS.replace("max_order_notional = 2000", "max_order_notional = 5")
    session_file.write_text(session_toml(sandbox.running.ws_url, live=True, hours=4, limits=tight))
    process = start(database, "session", "run", str(session_file), "--live")
    errors: list[str] = []
    stream = process.stderr
    assert stream is not None
    reader = threading.Thread(target=lambda: errors.extend(iter(stream.readline, "")), daemon=True)
    reader.start()
    wait_for(lambda: any("max_order_notional" in line for line in errors), "a refused order", process)
    finish(start(database, "session", "stop", "1"))
    assert process.wait(timeout=120) == 0
    reader.join(timeout=30)
    refusals = [line for line in errors if "max_order_notional" in line]
    assert all("refused: " in line and "above max_order_notional 5; no order was sent" in line for line in refusals)
    assert orders_of(database) == [] and sandbox.orders() == []


def test_a_5xx_answer_to_a_session_order_is_resolved_by_its_client_order_id_not_by_sending_it_again(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = tmp_path / "store.db"
    session_file = tmp_path / "live.toml"
    session_file.write_text(session_toml(sandbox.running.ws_url, live=True, hours=4))
    with OrderProxy(sandbox.running.rest_url) as proxy:
        monkeypatch.setenv("GPT_TRADER_COINBASE_REST_URL", proxy.url)
        proxy.lose_next_order_answer(503)  # the sandbox takes the session's first order; the session sees a 503
        process = start(database, "session", "run", str(session_file), "--live")
        wait_for(lambda: any(status == "FILLED" for _, status in orders_of(database)), "a live fill", process)
        finish(start(database, "session", "stop", "1"))
        code, _, errors = finish(process)
        posts = [json.loads(call.body)["client_order_id"] for call in proxy.calls_to("POST", "/orders")]
    assert code == 0, errors
    first = posts[0]
    assert f"placing order {first} failed without a verdict" in errors
    assert posts.count(first) == 1, "the order whose answer was lost was not sent again"
    assert dict(orders_of(database))[first] == "FILLED" and len(fills_of(database, first)) == 1
    assert [order.client_order_id for order in sandbox.orders()].count(first) == 1


def test_a_live_session_trades_on_the_sandbox_resumes_reconciled_and_is_killed(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    database = tmp_path / "store.db"
    session_file = tmp_path / "live.toml"
    session_file.write_text(session_toml(sandbox.running.ws_url, live=True, hours=4))
    outputs: list[str] = []

    # Both opt-ins: the session's orders go to the sandbox, each recorded under its client order id.
    process = start(database, "session", "run", str(session_file), "--live")
    wait_for(lambda: sum(1 for _, status in orders_of(database) if status == "FILLED") >= 2, "two live fills",
             process)  # fmt: skip
    process.kill()
    outputs += process.communicate()
    stored = dict(orders_of(database))
    assert all(cid.startswith("gpt-1-") for cid in stored)
    on_the_exchange = {order.client_order_id: order for order in sandbox.orders()}
    filled = [cid for cid, status in stored.items() if status == "FILLED"]
    assert {cid: on_the_exchange[cid].status for cid in filled} == dict.fromkeys(filled, "FILLED")
    assert all(fills_of(database, cid) for cid in filled)
    assert set(on_the_exchange) <= set(stored), "every order on the exchange is the store's"

    # A resume without --live sends nothing.
    code, output, errors = finish(start(database, "session", "resume", "1"))
    outputs += [output, errors]
    assert code == 2 and "`--live` on the command is missing" in errors
    assert len(sandbox.orders()) == len(on_the_exchange)

    # The dead process had recorded an order and sent it; it filled, but the process never heard back.
    account_id, product_id = query(database, "SELECT id, product_id FROM accounts ORDER BY id")[0]
    lost = f"gpt-1-{account_id}-100000"
    with open_store(f"sqlite:///{database}") as store:
        store.record_order(int(str(account_id)), lost, product_id=str(product_id), side="BUY", order_type="MARKET",
                           status=SENDING, quote_size=Decimal(20), config={"notional": "20"})  # fmt: skip
    sandbox.place(lost, str(product_id), coinbase_orders.market_configuration(quote_size=Decimal(20)))
    assert fills_of(database, lost) == []

    process = start(database, "session", "resume", "1", "--live")
    # Reconciliation records the fill, then the status (so a final status implies the fills are there).
    wait_for(lambda: dict(orders_of(database))[lost] == "FILLED", "the lost order, reconciled", process)
    assert len(fills_of(database, lost)) == 1

    # The kill switch: an open order of the session is cancelled, and the running process stops.
    resting = f"gpt-1-{account_id}-100001"
    exchange_id = sandbox.place(
        resting, str(product_id), coinbase_orders.limit_gtc_configuration(Decimal("0.1"), Decimal(100))
    )
    killed = subprocess.run([sys.executable, "-m", "gpt_trader", "session", "kill", "1"], capture_output=True,
                            text=True, env={**environment(), "GPT_TRADER_DATABASE_URL": f"sqlite:///{database}"},
                            timeout=120)  # fmt: skip
    outputs += [killed.stdout, killed.stderr]
    assert killed.returncode == 0, killed.stderr
    assert "open orders cancelled" in killed.stdout and "its process stops within seconds" in killed.stdout
    code, output, errors = finish(process)
    outputs += [output, errors]
    assert code == 0, errors
    assert "recorded already" not in errors, "the resume read its earlier decisions back rather than resend them"
    statuses = {order.order_id: order.status for order in sandbox.orders()}
    assert statuses[exchange_id] == "CANCELLED"
    assert set(statuses.values()) <= {"FILLED", "CANCELLED"}, "no order of the session is left open"
    assert {status for (status,) in query(database, "SELECT status FROM accounts")} == {"stopped"}
    assert len(fills_of(database, lost)) == 1, "the reconciled fill is recorded once"

    code, output, errors = finish(start(database, "session", "resume", "1", "--live"))
    outputs += [output, errors]
    assert code == 2 and "stopped by the kill switch" in errors

    # The planted key appears nowhere.
    credentials = read_key_file(sandbox.key_file)
    secrets = [credentials.key_name] + [line for line in credentials.private_key.splitlines() if "-----" not in line]
    stored_bytes = b"".join(path.read_bytes() for path in tmp_path.glob("store.db*")).decode("latin-1")
    everything = {"outputs": "\n".join(outputs), "database": stored_bytes}
    assert "reconciled session 1" in everything["outputs"], "the reconciliation was logged"
    assert {place: [s[:12] for s in secrets if s in text] for place, text in everything.items()} == {
        "outputs": [],
        "database": [],
    }

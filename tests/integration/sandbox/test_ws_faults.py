"""Fault mode over real connections: each fault injected on demand, and on a schedule."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from typing import Any

import httpx
import pytest
import websockets
from websockets.asyncio.client import ClientConnection

from gpt_trader.market.bars import Bars
from gpt_trader.sandbox.catalog import Catalog
from gpt_trader.sandbox.faults import FAULTS_PER_SECOND, FaultInjector
from gpt_trader.sandbox.market import MarketReplay
from gpt_trader.sandbox.ratelimit import RateLimits
from gpt_trader.sandbox.server import BackgroundServer, create_app
from tests.integration.sandbox.conftest import (
    START,
    RunningSandbox,
    StartSandbox,
    connect,
    receive,
    subscribe,
    until,
)
from tests.support.sandbox_faults import inject


async def take(connection: ClientConnection, count: int) -> list[dict[str, Any]]:
    """The next `count` messages."""
    return [await receive(connection, 10) for _ in range(count)]


async def test_a_gap_skips_exactly_the_asked_sequence_numbers(start_sandbox: StartSandbox) -> None:
    running = start_sandbox(speed=600)
    async with connect(running.ws_url) as connection:
        await subscribe(connection, "market_trades", "BTC-USD")
        numbers = [m["sequence_num"] for m in await take(connection, 5)]
        assert await inject(running, "gap", 4) == {"kind": "gap", "connections": 1}
        # Messages sent before the fault took effect may still be arriving: read until the jump, then on.
        while all(b - a == 1 for a, b in itertools.pairwise(numbers)):
            numbers.append((await receive(connection, 10))["sequence_num"])
        numbers += [m["sequence_num"] for m in await take(connection, 20)]
    steps = [b - a for a, b in itertools.pairwise(numbers)]
    assert steps.count(5) == 1 and set(steps) == {1, 5}, "one jump of exactly 1 + 4"


async def test_a_duplicate_repeats_the_last_message_with_its_number(start_sandbox: StartSandbox) -> None:
    running = start_sandbox(speed=600)
    async with connect(running.ws_url) as connection:
        await subscribe(connection, "ticker", "BTC-USD")
        await take(connection, 3)
        await inject(running, "duplicate")
        raw = [await asyncio.wait_for(connection.recv(), 10)]
        while raw[-1] not in raw[:-1]:  # until the repeat has arrived, then some more
            raw.append(await asyncio.wait_for(connection.recv(), 10))
        raw += [await asyncio.wait_for(connection.recv(), 10) for _ in range(20)]
    repeated = [(a, b) for a, b in itertools.pairwise(raw) if a == b]
    assert len(repeated) == 1
    numbers = [json.loads(frame)["sequence_num"] for frame in raw]
    assert len(numbers) - len(set(numbers)) == 1, "one number seen twice, no other change"


async def test_a_stall_holds_everything_back_then_resumes_without_loss(sandbox: RunningSandbox) -> None:
    async with connect(sandbox.ws_url) as connection:
        await subscribe(connection, "heartbeats")
        await subscribe(connection, "ticker", "BTC-USD", "ETH-USD")
        await until(connection, "ticker")
        await inject(sandbox, "stall", 1.5)
        arrivals = [(time.monotonic(), (await receive(connection))["sequence_num"])]
        # Read until the stall has shown as a silence and the held-back messages and a heartbeat followed it.
        while not (silenced := _silence_over(arrivals, 1.2)) or len(arrivals) - silenced < 5:
            arrivals.append((time.monotonic(), (await receive(connection, 10))["sequence_num"]))
    numbers = [number for _, number in arrivals]
    assert numbers == list(range(numbers[0], numbers[0] + len(numbers))), "held back, not dropped"


def _silence_over(arrivals: list[tuple[float, int]], seconds: float) -> int:
    """The index of the first arrival after a silence longer than `seconds` (0: none yet)."""
    for index, ((earlier, _), (later, _)) in enumerate(itertools.pairwise(arrivals), start=1):
        if later - earlier > seconds:
            return index
    return 0


async def test_a_disconnect_closes_the_connection_and_a_new_one_is_served(sandbox: RunningSandbox) -> None:
    async with connect(sandbox.ws_url) as connection:
        await subscribe(connection, "heartbeats")
        await until(connection, "heartbeats")
        await inject(sandbox, "disconnect")
        with pytest.raises(websockets.ConnectionClosed) as closed:
            while True:
                await receive(connection, 10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1011
    async with connect(sandbox.ws_url) as again:
        await subscribe(again, "heartbeats")
        assert (await receive(again))["sequence_num"] == 0


async def test_scheduled_faults_recur_per_connection_and_are_counted(start_sandbox: StartSandbox) -> None:
    running = start_sandbox(speed=600, faults="gap=0.4:2")
    async with connect(running.ws_url) as connection:
        await subscribe(connection, "market_trades", "BTC-USD")
        numbers = [(await receive(connection))["sequence_num"]]
        while sum(b - a == 3 for a, b in itertools.pairwise(numbers)) < 3:
            numbers.append((await receive(connection, 10))["sequence_num"])
    steps = [b - a for a, b in itertools.pairwise(numbers)]
    assert set(steps) == {1, 3}, "each scheduled gap skips exactly its two numbers"
    async with httpx.AsyncClient(base_url=running.url, timeout=10) as client:
        status = (await client.get("/sandbox/faults")).json()
    assert status["schedule"] == {"gap": 0.4} and status["injected"]["gap"] >= 3
    assert status["sizes"]["gap"] == 2 and status["connections"] == 0


async def test_an_unknown_fault_is_refused(sandbox: RunningSandbox) -> None:
    async with httpx.AsyncClient(base_url=sandbox.url, timeout=10) as client:
        answer = await client.post("/sandbox/faults", json={"kind": "explode"})
    assert answer.status_code == 400 and answer.json()["error"] == "INVALID_ARGUMENT"


@pytest.mark.parametrize(
    ("body", "complaint"),
    [
        ('{"kind": "gap", "size": -5}', "a gap skips a whole number of sequence numbers from 1 to 1000"),
        ('{"kind": "gap", "size": 2.5}', "a gap skips a whole number of sequence numbers from 1 to 1000"),
        ('{"kind": "gap", "size": 1e9}', "a gap skips a whole number of sequence numbers from 1 to 1000"),
        ('{"kind": "gap", "size": NaN}', "a gap skips a whole number of sequence numbers from 1 to 1000"),
        ('{"kind": "stall", "size": 1e9}', "a stall lasts more than 0 and at most 60 seconds"),
        ('{"kind": "stall", "size": Infinity}', "a stall lasts more than 0 and at most 60 seconds"),
        ('{"kind": "stall", "size": 0}', "a stall lasts more than 0 and at most 60 seconds"),
        ('{"kind": "disconnect", "size": 3}', "a disconnect takes no size"),
        ('{"kind": "gap", "size": "many"}', "size"),
        ('{"kind": "gap", "size": true}', "size"),
    ],
)
async def test_a_harmful_fault_is_refused_naming_the_allowed_values(
    sandbox: RunningSandbox, body: str, complaint: str
) -> None:
    async with connect(sandbox.ws_url) as connection:
        await subscribe(connection, "heartbeats")
        await until(connection, "heartbeats")
        async with httpx.AsyncClient(base_url=sandbox.url, timeout=10) as client:
            answer = await client.post("/sandbox/faults", content=body, headers={"content-type": "application/json"})
            status = (await client.get("/sandbox/faults")).json()
        beats = [await until(connection, "heartbeats") for _ in range(2)]
    assert answer.status_code == 400 and answer.json()["error"] == "INVALID_ARGUMENT", answer.text
    assert complaint in answer.json()["message"]
    assert status["injected"] == {}, "nothing was injected"
    numbers = [beat["sequence_num"] for beat in beats]
    assert numbers[1] == numbers[0] + 1, "the connection carries on untouched"


async def test_fault_requests_past_the_limit_are_refused_with_retry_after(sandbox_bars: dict[str, Bars]) -> None:
    # The limiter's clock stands still, so the burst allowance is all there is: exactly FAULTS_PER_SECOND pass.
    replay = MarketReplay(sandbox_bars, 60, START)
    app = create_app(replay, Catalog.default(), faults=FaultInjector(clock=lambda: 0.0), rate_limits=RateLimits.off())
    with BackgroundServer(app) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            answers = [await client.post("/sandbox/faults", json={"kind": "duplicate"}) for _ in range(15)]
    assert [answer.status_code for answer in answers] == [200] * FAULTS_PER_SECOND + [429] * 5
    refused = answers[-1]
    assert refused.json()["error"] == "RESOURCE_EXHAUSTED" and int(refused.headers["retry-after"]) >= 1
    assert f"at most {FAULTS_PER_SECOND} fault requests per second" in refused.json()["message"]

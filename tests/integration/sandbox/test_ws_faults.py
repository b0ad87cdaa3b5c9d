"""Fault mode over real connections: each fault injected on demand, and on a schedule."""

from __future__ import annotations

import asyncio
import itertools
import json
import time

import httpx
import pytest
import websockets

from tests.integration.sandbox.conftest import RunningSandbox, StartSandbox, collect, connect, subscribe
from tests.support.sandbox_faults import inject


async def test_a_gap_skips_exactly_the_asked_sequence_numbers(start_sandbox: StartSandbox) -> None:
    running = start_sandbox(speed=600)
    async with connect(running.ws_url) as connection:
        await subscribe(connection, "market_trades", "BTC-USD")
        before = await collect(connection, 0.5)
        assert await inject(running, "gap", 4) == {"kind": "gap", "connections": 1}
        after = await collect(connection, 0.5)
    numbers = [m["sequence_num"] for m in before + after]
    steps = [b - a for a, b in itertools.pairwise(numbers)]
    assert sorted(steps)[-1] == 5 and steps.count(5) == 1 and set(steps) == {1, 5}


async def test_a_duplicate_repeats_the_last_message_with_its_number(start_sandbox: StartSandbox) -> None:
    running = start_sandbox(speed=600)
    async with connect(running.ws_url) as connection:
        await subscribe(connection, "ticker", "BTC-USD")
        await collect(connection, 0.3)
        await inject(running, "duplicate")
        raw = []
        deadline = time.monotonic() + 0.6
        while time.monotonic() < deadline:
            raw.append(await asyncio.wait_for(connection.recv(), 2))
    repeated = [(a, b) for a, b in itertools.pairwise(raw) if a == b]
    assert len(repeated) == 1
    numbers = [json.loads(frame)["sequence_num"] for frame in raw]
    assert len(numbers) - len(set(numbers)) == 1, "one number seen twice, no other change"


async def test_a_stall_holds_everything_back_then_resumes_without_loss(sandbox: RunningSandbox) -> None:
    async with connect(sandbox.ws_url) as connection:
        await subscribe(connection, "heartbeats")
        await subscribe(connection, "ticker", "BTC-USD", "ETH-USD")
        await collect(connection, 0.3)
        await inject(sandbox, "stall", 1.5)
        arrivals = []
        deadline = time.monotonic() + 3.0
        while (left := deadline - time.monotonic()) > 0:
            try:
                message = json.loads(await asyncio.wait_for(connection.recv(), left))
            except TimeoutError:
                break
            arrivals.append((time.monotonic(), message["sequence_num"]))
    silences = [later - earlier for (earlier, _), (later, _) in itertools.pairwise(arrivals)]
    assert max(silences) > 1.2, "nothing, not even a heartbeat, during the stall"
    numbers = [number for _, number in arrivals]
    assert numbers == list(range(numbers[0], numbers[0] + len(numbers))), "held back, not dropped"


async def test_a_disconnect_closes_the_connection_and_a_new_one_is_served(sandbox: RunningSandbox) -> None:
    async with connect(sandbox.ws_url) as connection:
        await subscribe(connection, "heartbeats")
        await collect(connection, 0.2)
        await inject(sandbox, "disconnect")
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await collect(connection, 3)
            await connection.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1011
    async with connect(sandbox.ws_url) as again:
        await subscribe(again, "heartbeats")
        assert (await collect(again, 0.3))[0]["sequence_num"] == 0


async def test_scheduled_faults_recur_per_connection_and_are_counted(start_sandbox: StartSandbox) -> None:
    running = start_sandbox(speed=600, faults="gap=0.4:2")
    async with connect(running.ws_url) as connection:
        await subscribe(connection, "market_trades", "BTC-USD")
        messages = await collect(connection, 1.5)
    numbers = [m["sequence_num"] for m in messages]
    steps = [b - a for a, b in itertools.pairwise(numbers)]
    assert 2 <= steps.count(3) <= 4 and set(steps) == {1, 3}
    async with httpx.AsyncClient(base_url=running.url, timeout=10) as client:
        status = (await client.get("/sandbox/faults")).json()
    assert status["schedule"] == {"gap": 0.4} and status["injected"]["gap"] >= 2
    assert status["sizes"]["gap"] == 2 and status["connections"] == 0


async def test_an_unknown_fault_is_refused(sandbox: RunningSandbox) -> None:
    async with httpx.AsyncClient(base_url=sandbox.url, timeout=10) as client:
        answer = await client.post("/sandbox/faults", json={"kind": "explode"})
    assert answer.status_code == 400 and answer.json()["error"] == "INVALID_ARGUMENT"

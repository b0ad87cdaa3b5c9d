"""Offered more than it can replay, the sandbox slows its market and says so; nothing stalls or is lost.

(The brake for clients that cannot take more is fed by their send queues: `test_connection.py`,
`test_market_pacing.py`; dropping those that stop reading: `test_ws_hostile.py`.)"""

from __future__ import annotations

import itertools
import time
from typing import Any

from tests.integration.sandbox.conftest import FREEZE, StartSandbox, feed_status, receive, subscribe, tight_client


def consecutive(numbers: list[int]) -> bool:
    return numbers == list(range(numbers[0], numbers[0] + len(numbers)))


async def test_a_market_faster_than_the_server_can_replay_slows_with_heartbeats_on_time(
    start_sandbox: StartSandbox,
) -> None:
    running = start_sandbox(speed=100_000)
    async with tight_client(running, max_queue=16) as connection:
        await subscribe(connection, "heartbeats")
        await subscribe(connection, "level2", "BTC-USD", "ETH-USD")
        messages: list[tuple[float, dict[str, Any]]] = []
        while sum(m["channel"] == "heartbeats" for _, m in messages) < 5:
            messages.append((time.monotonic(), await receive(connection, 10)))
        status = await feed_status(running)
    beats = [(at, m) for at, m in messages if m["channel"] == "heartbeats"]
    silences = [later - earlier for (earlier, _), (later, _) in itertools.pairwise(beats)]
    assert max(silences) < FREEZE, f"the heartbeats stalled for {max(silences):.1f} s"
    assert consecutive([m["events"][0]["heartbeat_counter"] for _, m in beats])
    assert consecutive([m["sequence_num"] for _, m in messages]), "nothing lost"
    assert status["slowed"] and status["effective_speed"] < 100_000 / 2, status
    # Which brake held it back more depends on how fast this process reads, next to the server's thread.
    assert "the server cannot replay faster" in status["why"] or "clients cannot take more" in status["why"]

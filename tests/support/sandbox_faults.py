"""Injecting a WebSocket fault into a running sandbox on demand, through its `/sandbox/faults` endpoint."""

from __future__ import annotations

from typing import Any, Protocol

import httpx


class Sandbox(Protocol):
    url: str
    """The sandbox's REST base URL."""


async def inject(sandbox: Sandbox, kind: str, size: float | None = None) -> dict[str, Any]:
    """Ask the sandbox for one fault (`gap`, `duplicate`, `stall`, `disconnect`) and return its answer."""
    body: dict[str, Any] = {"kind": kind} if size is None else {"kind": kind, "size": size}
    async with httpx.AsyncClient(base_url=sandbox.url, timeout=10) as client:
        answer = await client.post("/sandbox/faults", json=body)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())

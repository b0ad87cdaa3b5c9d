"""Fault mode: the WebSocket misbehaviours a client must survive, on a schedule or on demand.

`--faults disconnect=30,gap=10,duplicate=5,stall=20` means: on every connection, counting from the
moment it opened, every 30 wall-clock seconds close it; every 10 s skip `sequence_num` values; every
5 s send a message twice; every 20 s stop sending for a while. A kind may carry its size after a colon:
`gap=10:5` skips 5 numbers (default 3; a whole number up to 1000), `stall=20:8` stalls for 8 s
(default 6 s, longer than a client's few-second stale deadline; at most 60 s). Schedules are per
connection so each one sees every fault whenever it connected.

| fault | what the client sees |
|---|---|
| `disconnect` | the server closes the connection (code 1011) |
| `gap` | the next message's `sequence_num` jumps by 1 + size |
| `duplicate` | the last message sent arrives again, same `sequence_num` |
| `stall` | nothing (not even heartbeats) for the stall's length, then the held-back messages |

Tests trigger one fault at once through `POST /sandbox/faults` with `{"kind": "gap"}` (optionally
`"size"`, within the same bounds), or through the Python handle `app.state.faults.trigger("gap")` on the
server's event loop (from another thread: `loop.call_soon_threadsafe`); `GET /sandbox/faults` reports the
schedule and how many faults were injected. The route needs no key, so it takes at most
`FAULTS_PER_SECOND` requests a second (429 past that) and refuses sizes that would do lasting harm.
"""

from __future__ import annotations

import asyncio
import enum
import math
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from gpt_trader.errors import UserError
from gpt_trader.sandbox.ratelimit import RateLimiter
from gpt_trader.sandbox.rest import ApiError, error_response


class FaultKind(enum.StrEnum):
    DISCONNECT = "disconnect"
    GAP = "gap"
    DUPLICATE = "duplicate"
    STALL = "stall"


DEFAULT_SIZES = {FaultKind.GAP: 3.0, FaultKind.STALL: 6.0, FaultKind.DISCONNECT: 0.0, FaultKind.DUPLICATE: 0.0}
"""Numbers skipped by a gap, seconds of a stall (the others have no size)."""
MAX_GAP = 1000
MAX_STALL = 60.0
FAULTS_PER_SECOND = 10
"""Requests `POST /sandbox/faults` takes per second (a burst of as many)."""


def fault_size(kind: FaultKind, size: float | None) -> float:
    """The size of a fault of `kind` (`None`: the default); a ValueError says what sizes it takes."""
    if size is None:
        return DEFAULT_SIZES[kind]
    if kind is FaultKind.GAP:
        if not (math.isfinite(size) and size == int(size) and 1 <= size <= MAX_GAP):
            raise ValueError(f"a gap skips a whole number of sequence numbers from 1 to {MAX_GAP}, not {size:g}")
    elif kind is FaultKind.STALL:
        if not (math.isfinite(size) and 0 < size <= MAX_STALL):
            raise ValueError(f"a stall lasts more than 0 and at most {MAX_STALL:g} seconds, not {size:g}")
    else:
        raise ValueError(f"a {kind.value} takes no size")
    return float(size)


@dataclass(frozen=True)
class Fault:
    kind: FaultKind
    size: float = 0.0
    """Sequence numbers a gap skips, or seconds a stall lasts."""


@dataclass(frozen=True)
class FaultSchedule:
    """Each kind's interval in wall-clock seconds (per connection) and size; empty: no scheduled faults."""

    every: dict[FaultKind, float] = field(default_factory=dict)
    sizes: dict[FaultKind, float] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str | None) -> FaultSchedule:
        """Read `disconnect=30,gap=10:5,duplicate=5,stall=20:8`; a UserError names what is wrong."""
        every: dict[FaultKind, float] = {}
        sizes: dict[FaultKind, float] = {}
        for part in (text or "").split(","):
            if not part.strip():
                continue
            name, equals, value = part.partition("=")
            try:
                kind = FaultKind(name.strip().lower())
            except ValueError:
                raise UserError(
                    f"--faults: unknown fault {name.strip()!r}; use {', '.join(k.value for k in FaultKind)}"
                ) from None
            interval_text, colon, size_text = value.partition(":")
            interval, size = _positive(interval_text), _positive(size_text)
            if not equals or interval is None or (colon and size is None):
                raise UserError(
                    f"--faults: {part.strip()!r} should be KIND=SECONDS or KIND=SECONDS:SIZE with positive "
                    "numbers, e.g. gap=10 or stall=20:8"
                )
            every[kind] = interval
            if size is not None:
                try:
                    sizes[kind] = fault_size(kind, size)
                except ValueError as error:
                    raise UserError(f"--faults: {part.strip()!r}: {error}") from None
        return cls(every, sizes)

    def size(self, kind: FaultKind) -> float:
        return self.sizes.get(kind, DEFAULT_SIZES[kind])

    def describe(self) -> str:
        units = {FaultKind.GAP: " numbers", FaultKind.STALL: " s"}
        parts = []
        for kind, interval in self.every.items():
            size = f" ({self.size(kind):g}{units[kind]})" if kind in units else ""
            parts.append(f"{kind.value} every {interval:g} s{size}")
        return ", ".join(parts) or "none"


def _positive(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if 0 < value < float("inf") else None


class FaultTarget(Protocol):
    """A connection that can suffer a fault (ws.Connection)."""

    def inject(self, fault: Fault) -> None: ...


class FaultInjector:
    """The server's handle on faults: connections attach; `trigger` hits them now; `run` follows the schedule."""

    def __init__(self, schedule: FaultSchedule | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.schedule = schedule or FaultSchedule()
        self.clock = clock
        self.injected: Counter[str] = Counter()
        self.requests = RateLimiter(clock)
        """Limits `POST /sandbox/faults` (see `FAULTS_PER_SECOND`)."""
        self._targets: dict[FaultTarget, dict[FaultKind, float]] = {}

    @property
    def connections(self) -> int:
        return len(self._targets)

    def attach(self, target: FaultTarget) -> None:
        now = self.clock()
        self._targets[target] = {kind: now + every for kind, every in self.schedule.every.items()}

    def detach(self, target: FaultTarget) -> None:
        self._targets.pop(target, None)

    def trigger(self, kind: FaultKind | str, size: float | None = None) -> int:
        """Inject one fault into every open connection now; returns how many connections it hit.

        Raises ValueError for a size the kind does not take (see `fault_size`)."""
        kind = FaultKind(kind)
        fault = Fault(kind, self.schedule.size(kind) if size is None else fault_size(kind, size))
        targets = list(self._targets)
        for target in targets:
            self._inject(target, fault)
        return len(targets)

    def due(self) -> int:
        """Inject the scheduled faults that are due; returns how many."""
        now = self.clock()
        count = 0
        for target, next_times in list(self._targets.items()):
            for kind, when in next_times.items():
                if when <= now:
                    next_times[kind] = now + self.schedule.every[kind]
                    self._inject(target, Fault(kind, self.schedule.size(kind)))
                    count += 1
        return count

    async def run(self, interval: float = 0.05) -> None:
        """Follow the schedule until cancelled (returns at once when nothing is scheduled)."""
        if not self.schedule.every:
            return
        while True:
            self.due()
            await asyncio.sleep(interval)

    def _inject(self, target: FaultTarget, fault: Fault) -> None:
        self.injected[fault.kind.value] += 1
        target.inject(fault)


class FaultRequest(BaseModel):
    kind: FaultKind
    size: float | None = Field(default=None, strict=True)
    """Strict: `true` is not a size. JSON's NaN and Infinity get through here and `fault_size` refuses them."""


router = APIRouter(prefix="/sandbox")


@router.post("/faults", response_model=None)
async def inject_fault(request: Request, fault: FaultRequest) -> dict[str, Any] | JSONResponse:
    """Inject one fault into every open WebSocket connection now."""
    injector: FaultInjector = request.app.state.faults
    wait = injector.requests.take("faults", FAULTS_PER_SECOND)
    if wait > 0:
        response = error_response(
            429, "RESOURCE_EXHAUSTED", f"too many requests: at most {FAULTS_PER_SECOND} fault requests per second"
        )
        response.headers["retry-after"] = str(max(1, math.ceil(wait)))
        return response
    try:
        hit = injector.trigger(fault.kind, fault.size)
    except ValueError as error:
        raise ApiError(400, "INVALID_ARGUMENT", f"{error}; see GET /sandbox/faults for the defaults") from None
    return {"kind": fault.kind.value, "connections": hit}


@router.get("/faults")
async def fault_status(request: Request) -> dict[str, Any]:
    injector: FaultInjector = request.app.state.faults
    return {
        "schedule": {kind.value: every for kind, every in injector.schedule.every.items()},
        "sizes": {kind.value: injector.schedule.size(kind) for kind in FaultKind},
        "injected": dict(injector.injected),
        "connections": injector.connections,
    }

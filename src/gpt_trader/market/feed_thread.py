"""A live feed's client read in a thread of its own, on an event loop of its own: reading the socket, the
sequence and heartbeat checks and stale detection then depend only on what arrives on it, never on how long
the engine takes over a bar.

::

    async with FeedThread(client) as messages:   # the thread starts; the client connects there
        async for message in messages:           # on the engine's loop: what the client yielded, in order
            ...
        await messages.resync(["BTC-USD"])       # the client's resync, run on the reader's loop

- Each message is stamped as the reader takes it from the client (`stamp`, see `market/arrival.py`), so the
  engine's latency still counts from the read; `waits` keeps how long the last messages waited to be taken.
- The hand-over is bounded. Once `backlog` messages wait for the consumer, the reader goes on reading but drops
  what it reads (health events apart: they are rare, and the store records each) until the consumer has taken
  half of them; then a `gap` health event stands where the dropped messages were, which the bars and the
  broker treat as any loss (backfill, books invalid), and the client is asked for fresh level-2 snapshots.
  Holding the reader back instead would stop it reading the socket: a venue drops a consumer that lags (the
  sandbox does, as exchanges do), and stale detection would take the engine's delay for the venue's silence.
- An exception in the reader (the client gave up: `CoinbaseUnavailable`) is raised on the consumer's side as
  its next message; the end of the client's messages ends the iteration.
- `close()` (or leaving the `async with`) cancels the reader, which closes the client on its own loop, and
  waits for the thread to end.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Iterable
from contextlib import suppress
from dataclasses import dataclass
from types import TracebackType
from typing import Generic, Protocol, TypeVar

from gpt_trader.market import arrival
from gpt_trader.market.arrival import ReadMoment
from gpt_trader.market.feed import FeedHealth, HealthKind

log = logging.getLogger(__name__)

DEFAULT_BACKLOG = 50_000
"""Messages that may wait for the consumer: most of a minute of a busy feed, tens of megabytes at most."""
WAIT_SAMPLES = 100_000
"""Messages whose wait between read and hand-over `waits` keeps."""
_JOIN_TIMEOUT = 10.0
"""Seconds `close()` waits for the thread; closing the client takes about one (its close handshake)."""

Message = TypeVar("Message")
_Message_co = TypeVar("_Message_co", covariant=True)


class FeedClient(Protocol[_Message_co]):
    """What the thread reads: an async context manager that connects, iterated for its messages."""

    @property
    def connections(self) -> int: ...

    async def __aenter__(self) -> object: ...

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None: ...

    def __aiter__(self) -> AsyncIterator[_Message_co]: ...

    async def resync(self, product_ids: Iterable[str] | None = None) -> None: ...


@dataclass(frozen=True, slots=True)
class _Failure:
    error: BaseException


_END = object()
"""Handed over after the client's last message."""


class FeedThread(Generic[Message]):
    """`client` read in a thread named `name`, handed over to the loop that iterates this. See the module."""

    def __init__(
        self, client: FeedClient[Message], *, backlog: int = DEFAULT_BACKLOG, name: str = "feed-reader"
    ) -> None:
        if backlog < 2:
            raise ValueError(f"a feed's backlog holds at least 2 messages, not {backlog}")
        self.client = client
        self.backlog = backlog
        self.name = name
        self.stamp: ReadMoment | None = None
        """When the message last handed over was read."""
        self.peak = 0
        """The most messages that waited for the consumer at once."""
        self.dropped = 0
        """Messages dropped because `backlog` of them were waiting."""
        self.waits: deque[float] = deque(maxlen=WAIT_SAMPLES)
        """Seconds each of the last messages waited between its read and its hand-over: how far behind the
        consumer was."""
        self._queue: deque[tuple[object, ReadMoment]] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._consumer: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._running = threading.Event()
        self._behind = 0
        """Messages dropped since the backlog was last full; 0 while the consumer keeps up."""
        self._orphaned = False

    async def __aenter__(self) -> FeedThread[Message]:
        self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def start(self) -> None:
        """Start reading, handing over to the running loop."""
        if self._thread is not None:
            raise RuntimeError("a feed thread reads its client once")
        self._consumer = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()
        self._running.wait()

    async def close(self) -> None:
        thread, loop, task = self._thread, self._loop, self._task
        if thread is None or not thread.is_alive():
            return
        if loop is not None and task is not None:
            with suppress(RuntimeError):  # its loop has closed: the thread is ending on its own
                loop.call_soon_threadsafe(task.cancel)
        await asyncio.to_thread(thread.join, _JOIN_TIMEOUT)
        if thread.is_alive():
            log.warning("the feed's reader thread did not end within %g s of closing", _JOIN_TIMEOUT)

    async def resync(self, product_ids: Iterable[str] | None = None) -> None:
        """The client's `resync(product_ids)`, on the reader's loop; nothing once the reader has ended."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None or not thread.is_alive():
            return
        products = None if product_ids is None else list(product_ids)
        await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(self.client.resync(products), loop))

    def __aiter__(self) -> FeedThread[Message]:
        return self

    async def __anext__(self) -> Message:
        queue = self._queue
        while not queue:
            waiter = asyncio.get_running_loop().create_future()
            self._waiter = waiter
            if queue:  # handed over between the check and the waiter
                self._waiter = None
                break
            try:
                await waiter
            finally:
                self._waiter = None
        item, moment = queue[0]
        if item is _END:
            raise StopAsyncIteration
        queue.popleft()
        if isinstance(item, _Failure):
            queue.appendleft((_END, moment))
            raise item.error
        self.stamp = moment
        self.waits.append(time.perf_counter() - moment[0])
        return item  # type: ignore[return-value]  # the client's own messages are all that is queued besides

    # The reader's side, in the thread.

    def _run(self) -> None:
        asyncio.run(self._read())

    async def _read(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.current_task()
        self._running.set()
        ending: object = _END
        try:
            async with self.client:
                async for message in self.client:
                    if self._orphaned:
                        return
                    await self._hand(message)
        except asyncio.CancelledError:
            pass  # close() asked
        except BaseException as error:  # raised again on the consumer's side, where it can be handled
            ending = _Failure(error)
        finally:
            self._put(ending, arrival.now())

    async def _hand(self, message: Message) -> None:
        moment = arrival.now()
        if isinstance(message, FeedHealth):
            self._put(message, moment)
            return
        waiting = len(self._queue)
        if not self._behind and waiting < self.backlog:
            self._put(message, moment)
            return
        if not self._behind:
            log.warning("%d feed messages wait for the engine: dropping messages until it has taken half", waiting)
        self._behind += 1
        self.dropped += 1
        if waiting > self.backlog // 2:
            return
        detail = (f"the engine fell {self.backlog:,} messages behind the feed: {self._behind:,} dropped; "
                  "re-snapshotting the books")  # fmt: skip
        self._behind = 0
        self._put(FeedHealth(HealthKind.GAP, detail, self.client.connections), moment)
        await self.client.resync()

    def _put(self, item: object, moment: ReadMoment) -> None:
        queue = self._queue
        queue.append((item, moment))
        self.peak = max(self.peak, len(queue))
        waiter = self._waiter
        if waiter is None:
            return
        self._waiter = None
        assert self._consumer is not None
        try:
            self._consumer.call_soon_threadsafe(_wake, waiter)
        except RuntimeError:
            self._orphaned = True  # the consumer's loop has closed without closing this: nobody will read


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)

"""`gpt-trader sandbox serve` as a real subprocess on a free loopback port: started, read, and stopped as a
user would stop it."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager


class Running:
    """A started `sandbox serve`: its process, its printed lines so far, and its URLs."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.rest_url = self._url_after("REST:")
        self.ws_url = self._url_after("WebSocket:")

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def _url_after(self, label: str) -> str:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=1)
            except queue.Empty:
                continue
            if line is None:
                break
            self.lines.append(line)
            if line.strip().startswith(label):
                return line.split(label, 1)[1].strip()
        raise AssertionError(f"no {label} line; printed so far: {self.lines}")

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> int:
        self.process.send_signal(sig)
        return self.process.wait(timeout=30)


def environment() -> dict[str, str]:
    """The test's environment (its own data, cache and config folders), with a wide, plain console."""
    return {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}


@contextmanager
def serve(*flags: str) -> Iterator[Running]:
    """`gpt-trader sandbox serve --port 0 FLAGS...`, killed at the end if still running."""
    command = [sys.executable, "-m", "gpt_trader", "sandbox", "serve", "--port", "0", *flags]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                               env=environment())  # fmt: skip
    try:
        yield Running(process)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

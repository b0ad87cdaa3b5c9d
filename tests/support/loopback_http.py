"""The HTTP plumbing the loopback test servers share: a threaded server on 127.0.0.1 (a random free
port) that hands each request, read whole, to a function and writes back what it returns::

    def respond(request: IncomingRequest) -> Answer:
        return Answer(200, b'{"ok": true}', "application/json")

    with LoopbackHttpServer(respond) as http:
        httpx.get(http.url + "/anything")
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class IncomingRequest:
    """One request: the path without its query string, the query parsed, header names lower-cased."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    content_type: str
    headers: Mapping[str, str] = field(default_factory=dict)


Responder = Callable[[IncomingRequest], Answer]


class LoopbackHttpServer:
    """Serves GET and POST with `respond` in a background thread; a context manager, or `start`/`stop`."""

    def __init__(self, respond: Responder, name: str = "loopback-http") -> None:
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(respond))
        self._httpd.daemon_threads = True
        self._name = name
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """`http://127.0.0.1:PORT`."""
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def start(self) -> None:
        # A short poll interval makes stop() quick: shutdown waits for the serving loop to notice.
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), name=self._name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> LoopbackHttpServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (just now): connecting to it is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _handler_for(respond: Responder) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out as two writes; without this, each answer waits for a delayed ACK.
        disable_nagle_algorithm = True

        def do_GET(self) -> None:
            self._answer("GET")

        def do_POST(self) -> None:
            self._answer("POST")

        def _answer(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            split = urlsplit(self.path)
            query = parse_qs(split.query, keep_blank_values=True)
            headers = {name.lower(): value for name, value in self.headers.items()}
            answer = respond(IncomingRequest(method, split.path, query, headers, body))
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.content_type)
            self.send_header("Content-Length", str(len(answer.body)))
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(answer.body)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the servers built on this record what they saw."""

    return Handler

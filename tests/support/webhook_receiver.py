"""A webhook receiver for tests: ``http.server`` on 127.0.0.1 (a free port) in a thread, recording every POST.

``status`` is what it answers (change it at any time: 500 makes the sender retry), after ``delay`` seconds.
``check_signature`` verifies a delivery's ``X-Margincall-Signature`` with its own HMAC-SHA256 computation
(independent of the code under test).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    answered: int

    @property
    def seq(self) -> int:
        return int(self.headers["x-margincall-event-id"])

    def json(self) -> Any:
        return json.loads(self.body)


def check_signature(secret: str, header: str, body: bytes, now: float | None = None) -> bool:
    """``header`` is ``t=<ts>,v1=<hex>`` with hex = HMAC-SHA256(secret, "<ts>." + body) and ts within 5 minutes."""
    fields = dict(item.split("=", 1) for item in header.split(","))
    ts = fields["t"]
    expected = hmac.new(secret.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
    fresh = abs((time.time() if now is None else now) - int(ts)) <= 300
    return fresh and hmac.compare_digest(expected, fields["v1"])


class Receiver:
    def __init__(self) -> None:
        self.status = 200
        self.delay = 0.0
        self.received: list[Received] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                time.sleep(receiver.delay)
                answer = receiver.status
                with receiver._lock:
                    receiver.received.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()},
                                                      body, answer))
                try:
                    self.send_response(answer)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except (BrokenPipeError, ConnectionResetError):  # the sender was killed while waiting
                    pass

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def base(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def requests(self, path: str | None = None) -> list[Received]:
        with self._lock:
            return [r for r in self.received if path is None or r.path == path]

    def wait_for(self, done: Callable[[], bool], timeout: float = 20, what: str = "deliveries") -> None:
        deadline = time.monotonic() + timeout
        while not done():
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            time.sleep(0.02)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def __enter__(self) -> Receiver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

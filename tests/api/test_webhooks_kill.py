"""Webhooks survive ``kill -9``: ``margincall serve`` runs as a process on a SQLite file (and PostgreSQL), a real
HTTP receiver (http.server on 127.0.0.1) takes the deliveries, and the server is SIGKILLed while deliveries are in
flight, while the receiver answers 500 (twice: the attempt count survives), and in the middle of the backlog. At
the end every ``margin_call`` in the log — read from the database directly — reached the admin's all-accounts
webhook at least once with a 2xx answer and a valid signature, and every one of t1's reached t1's own webhook,
which never carried another account's event.

The market and its margin calls (four per round trip of the mark 10,000 → 9,220 → 10,000) are those of
tests/support/webhook_scenario.py.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from margincall.store import open_log
from support.paths import SRC
from support.webhook_receiver import Received, Receiver, check_signature
from support.webhook_scenario import HIGH, LOW, auth, mark, ok, seed

ADMIN = "admin-key-for-the-webhook-kill-test"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """``margincall serve`` on ``database``: started, SIGKILLed, restarted on the same port."""

    def __init__(self, database: str, log_dir: Path) -> None:
        self.database = database
        self.port = _free_port()
        self.log_dir = log_dir
        self.runs = 0
        self.proc: subprocess.Popen[bytes] | None = None
        path = os.pathsep.join(p for p in (str(SRC), os.environ.get("PYTHONPATH")) if p)
        self.env = {**os.environ, "PYTHONPATH": path,
                    "MARGINCALL_ADMIN_KEY": ADMIN, "MARGINCALL_RATE_LIMIT_PER_SECOND": "0",
                    "MARGINCALL_WEBHOOK_RETRY_FIRST": "0.05", "MARGINCALL_WEBHOOK_RETRY_MAX": "0.3",
                    "MARGINCALL_WEBHOOK_POLL_INTERVAL": "0.5"}

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.runs += 1
        out = (self.log_dir / f"serve-{self.runs}.log").open("wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "margincall.cli.main", "serve", "--database",
                                      self.database, "--port", str(self.port), "--log-level", "warning"],
                                     stdout=out, stderr=subprocess.STDOUT, env=self.env)
        deadline = time.monotonic() + 30
        while True:
            assert self.proc.poll() is None, f"serve exited: {self.output()}"
            try:
                if httpx.get(f"{self.base}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "serve did not start"
            time.sleep(0.05)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        assert self.proc.wait(30) == -signal.SIGKILL, self.output()

    def stop(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGINT)
        assert self.proc.wait(30) == 0, self.output()

    def output(self) -> str:
        return (self.log_dir / f"serve-{self.runs}.log").read_text()[-3000:]

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@contextmanager
def serving(database: str, log_dir: Path) -> Iterator[Server]:
    server = Server(database, log_dir)
    try:
        server.start()
        yield server
    finally:
        server.close()


def _round_trips(c: httpx.Client, n: int) -> int:
    """``n`` round trips of the mark; the margin calls they caused (four each, see the scenario)."""
    calls = 0
    for _ in range(n):
        calls += sum(e["type"] == "margin_call" for e in mark(c, ADMIN, LOW) + mark(c, ADMIN, HIGH))
    assert calls == 4 * n
    return calls


def _state(c: httpx.Client, hook: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = ok(c.get(f"/v1/webhooks/{hook['id']}", headers=auth(ADMIN)))["delivery"]
    return out


def test_every_margin_call_is_delivered_through_server_kills(target: str, tmp_path: Path) -> None:
    with Receiver() as receiver, serving(target, tmp_path) as server:
        c = httpx.Client(base_url=server.base, timeout=30)
        keys = seed(c, ADMIN)
        every = ok(c.post("/v1/webhooks", json={"url": f"{receiver.base}/all"}, headers=auth(ADMIN)))
        mine = ok(c.post("/v1/webhooks", json={"url": f"{receiver.base}/t1", "account": "t1"},
                         headers=auth(keys["trader_t1"])))
        made = 0

        # 1. killed mid-stream: the receiver takes 50 ms per delivery, the server dies after the first few
        receiver.delay = 0.05
        made += _round_trips(c, 3)
        receiver.wait_for(lambda: len(receiver.requests("/all")) >= 2)
        server.kill()
        assert len(receiver.requests("/all")) < made, "everything was delivered before the kill: not mid-stream"
        receiver.delay = 0.0

        # 2. restarted into a receiver that answers 500: retried, never acknowledged; killed while failing
        receiver.status = 500
        server.start()
        made += _round_trips(c, 2)
        failed_before = len([r for r in receiver.requests() if r.answered == 500])
        receiver.wait_for(lambda: len([r for r in receiver.requests() if r.answered == 500]) >= failed_before + 4,
                          what="failed attempts")
        state = _state(c, every)
        assert state["status"] == "failing" and state["last_error"] == "HTTP 500"
        attempts = state["attempts"]
        server.kill()

        # 3. restarted, still failing: the attempt count carries on from the stored one; then the receiver
        #    recovers and the server is killed again in the middle of the backlog
        server.start()
        made += _round_trips(c, 2)
        failed_before = len([r for r in receiver.requests("/all") if r.answered == 500])
        receiver.wait_for(lambda: len([r for r in receiver.requests("/all") if r.answered == 500])
                          >= failed_before + 2, what="failed attempts after the restart")
        assert _state(c, every)["attempts"] > attempts
        receiver.delay = 0.05
        receiver.status = 200
        receiver.wait_for(lambda: len([r for r in receiver.requests("/all") if r.answered == 200]) >= 2)
        server.kill()
        assert len({r.seq for r in receiver.requests("/all") if r.answered == 200}) < made, "not mid-backlog"
        receiver.delay = 0.0

        # 4. a last restart delivers everything; then a graceful stop
        server.start()
        listed = ok(c.get("/v1/events", params={"type": "margin_call", "limit": 1000}, headers=auth(ADMIN)))
        assert len(listed["events"]) == made == 28
        last = listed["events"][-1]["seq"]
        receiver.wait_for(lambda: _state(c, every)["cursor"] >= last and _state(c, mine)["cursor"] >= last,
                          timeout=30, what="the cursors to reach the last margin call")
        for hook in (every, mine):
            state = _state(c, hook)
            assert state["attempts"] == 0 and state["failing_seq"] is None
        c.close()
        server.stop()

    assert server.runs == 4
    calls = _margin_calls(target)  # from the database itself
    assert [e.seq for e in calls] == [e["seq"] for e in listed["events"]]
    everyone = _acknowledged(receiver.requests("/all"), every["secret"])
    assert everyone == {e.seq for e in calls}  # each at least once, nothing else
    t1 = _acknowledged(receiver.requests("/t1"), mine["secret"])
    assert t1 == {e.seq for e in calls if e.payload["account"] == "t1"} and len(t1) == 14
    assert {r.json()["payload"]["account"] for r in receiver.requests("/t1")} == {"t1"}  # never another account
    # any request, failed or not, was signed and named its event
    for path, hook in (("/all", every), ("/t1", mine)):
        for r in receiver.requests(path):
            assert check_signature(hook["secret"], r.headers["x-margincall-signature"], r.body)
            assert r.seq == r.json()["seq"] and r.json()["type"] == "margin_call"


def _margin_calls(target: str) -> list[Any]:
    log = open_log(target)
    try:
        return [e for e in log.read() if e.type == "margin_call"]
    finally:
        log.close()


def _acknowledged(requests: list[Received], secret: str) -> set[int]:
    """The seqs the receiver answered 2xx, each with a valid signature."""
    ok_ = [r for r in requests if 200 <= r.answered < 300]
    assert all(check_signature(secret, r.headers["x-margincall-signature"], r.body) for r in ok_)
    return {r.seq for r in ok_}

"""The fault test of the service: writer processes post fills and marks (no ``ts``, each item with its idempotency
key) to ``margincall serve`` while the server is killed with SIGKILL at random moments and started again. After
the last kill:

* every acknowledged item is in the log exactly once, at the seq it was acknowledged with;
* nothing valid was refused (every item the writers send is valid by construction: ample wallets, marks within
  the circuit breaker, no client timestamps);
* ``margincall ledger verify`` passes (hash chain, replay, conservation after every event);
* an all-accounts webhook delivered every ``margin_call`` in the log at least once, signed, to a real HTTP
  receiver, across the kills.

Kills per backend: ``MARGINCALL_FAULT_KILLS`` (default 3, for CI; the sweep recorded in docs/benchmarks.md ran
25 per backend). The PostgreSQL run fails, not skips, under ``CI=true`` without a server.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from margincall.store import open_log
from support.paths import ROOT, SUPPORT
from support.store import pg_schema, require_pg
from support.webhook_receiver import Receiver, check_signature

WRITER = SUPPORT / "fault_writer.py"
KILLS = int(os.environ.get("MARGINCALL_FAULT_KILLS", "3"))
ADMIN = "fault-test-admin-key"
MARKET = {"symbol": "BTCUSDT", "venue": "generic", "maker_fee": "0", "taker_fee": "0", "liquidation_fee": "0.01",
          "tiers": [{"floor": "0", "mmr": "0.02", "max_leverage": "50"}]}
#: Risky accounts: 1 BTC long at 10,000 and 10x on wallets of 1,000-1,150 USDT: margin calls below ~9,230-9,370,
#: liquidation below ~9,184-9,337 (equity W + P − 10,000 against MM 0.02·P), inside the writers' mark walk.
RISKY = [(f"r{i}", 1000 + 50 * i) for i in range(4)]


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield str(tmp_path / "engine.db")
    else:
        require_pg()
        with pg_schema() as url:
            yield url


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, database: str, tmp: Path) -> None:
        self.database, self.tmp = database, tmp
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "MARGINCALL_ADMIN_KEY": ADMIN}
        log = (self.tmp / f"server-{self.starts}.log").open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "margincall.cli.main", "serve", "--database", self.database, "--port",
             str(self.port), "--log-level", "warning"], stdout=log, stderr=subprocess.STDOUT, env=env, cwd=self.tmp)
        self.starts += 1
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, (self.tmp / f"server-{self.starts - 1}.log").read_text()
            try:
                if httpx.get(f"{self.base}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise AssertionError("the server did not start")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()


def _setup(base: str, hook_url: str) -> tuple[dict[str, str], str]:
    h = {"Authorization": f"Bearer {ADMIN}"}
    with httpx.Client(base_url=base, timeout=30) as c:
        def ok(r: httpx.Response) -> Any:
            assert r.status_code == 200, r.text
            return r.json()

        ok(c.post("/v1/markets", json={**MARKET, "key": "setup-market"}, headers=h))
        ok(c.post("/v1/insurance-fund/deposits", json={"asset": "USDT", "amount": "100000", "key": "setup-fund"},
                  headers=h))
        for name, wallet in [(f"w{i}", 10_000_000) for i in range(8)] + [*RISKY, ("mm", 10_000_000)]:
            ok(c.post("/v1/accounts", json={"account": name, "key": f"setup-{name}"}, headers=h))
            ok(c.post(f"/v1/accounts/{name}/deposits", json={"asset": "USDT", "amount": str(wallet),
                                                            "key": f"setup-dep-{name}"}, headers=h))
        fills = []
        for name, _w in RISKY:
            ok(c.post(f"/v1/accounts/{name}/leverage", json={"symbol": "BTCUSDT", "leverage": "10"}, headers=h))
            fills += [{"account": name, "symbol": "BTCUSDT", "side": "buy", "size": "1", "price": "10000",
                       "key": f"setup-fill-{name}"},
                      {"account": "mm", "symbol": "BTCUSDT", "side": "sell", "size": "1", "price": "10000",
                       "key": f"setup-fill-mm-{name}"}]
        ok(c.post("/v1/fills", json={"fills": fills}, headers=h))
        ok(c.post("/v1/marks", json={"marks": [{"symbol": "BTCUSDT", "price": "10000", "key": "setup-mark"}]},
                  headers=h))
        secret = ok(c.post("/v1/webhooks", json={"url": hook_url, "after": 0}, headers=h))["secret"]
        return {name: ok(c.post("/v1/keys", json={"role": "feeder"}, headers=h))["key"] for name in ("a", "b")}, secret


def _answered(path: Path) -> list[list[str]]:
    if not path.exists():
        return []
    return [line.split() for line in path.read_text().splitlines(keepends=True) if line.endswith("\n")]


def test_kill_9_under_concurrent_writers_loses_nothing_and_refuses_nothing(database: str, tmp_path: Path) -> None:
    rng = random.Random(20261203)
    server = Server(database, tmp_path)
    server.start()
    writers: list[subprocess.Popen[bytes]] = []
    receiver = Receiver().__enter__()
    try:
        keys, secret = _setup(server.base, f"{receiver.base}/hook")
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
        per = max(150, 50 * KILLS)  # the writers outlast the kills
        for name, kind, batches in (("fa", "fills", per), ("fb", "fills", per), ("ma", "marks", 2 * per)):
            key = keys["a"] if name != "fb" else keys["b"]
            writers.append(subprocess.Popen(
                [sys.executable, str(WRITER), server.base, key, kind, name, str(batches),
                 str(tmp_path / f"{name}.txt")], env=env))
        for _ in range(KILLS):
            time.sleep(rng.uniform(0.3, 1.5))
            server.kill()
            time.sleep(rng.uniform(0, 0.3))
            server.start()
        for w in writers:
            assert w.wait(300) == 0
        log = open_log(database)
        try:
            calls = {ev.seq for ev in log.read(0, results=False) if ev.type == "margin_call"}
        finally:
            log.close()

        def delivered() -> set[int]:
            return {r.seq for r in receiver.requests("/hook") if r.answered < 300}

        deadline = time.monotonic() + 120
        while not calls <= delivered() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert calls and calls <= delivered(), f"{len(calls - delivered())} margin calls never delivered"
        assert all(check_signature(secret, r.headers["x-margincall-signature"], r.body)
                   for r in receiver.requests("/hook"))
    finally:
        for w in writers:
            if w.poll() is None:
                w.kill()
        server.stop()
        receiver.__exit__(None, None, None)

    answered = [line for name in ("fa", "fb", "ma") for line in _answered(tmp_path / f"{name}.txt")]
    refused = [line for line in answered if line[0] == "REFUSED"]
    assert refused == []
    acked = {key: int(seq) for _ack, key, seq in answered}
    assert len(acked) == 2 * sum(1 for line in answered if line[1].endswith("-a")) + sum(
        1 for line in answered if "-m" in line[1])
    log = open_log(database)
    try:
        stored: dict[str, int] = {}
        for ev in log.read(0, results=False):
            if ev.key is not None and "/" in ev.key:
                client = ev.key.split("/", 1)[1]
                assert client not in stored, f"{client} is in the log twice"
                stored[client] = ev.seq
        margin_calls = sum(1 for ev in log.read(0, results=False) if ev.type == "margin_call")
    finally:
        log.close()
    assert {k: stored.get(k) for k in acked} == acked  # every acknowledged item, once, at its seq
    assert margin_calls > 0  # the marks reached the risky accounts
    verify = subprocess.run([sys.executable, "-m", "margincall.cli.main", "ledger", "verify", "--log",
                             database], capture_output=True, text=True, timeout=300,
                            env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    assert verify.returncode == 0, verify.stdout + verify.stderr

"""The API on a real uvicorn server on 127.0.0.1 (a free port): HTTP through httpx, the WebSocket stream
through the ``websockets`` client, PostgreSQL, and ``margincall serve`` as a process with a graceful stop.

The scenario and its hand-computed numbers are those of tests/test_api.py (the seed example: liquidation of
``t`` at 9,180, the insurance fund from 500 to 680).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import httpx
import websockets

from support.api import auth, ok, running, seed
from support.store import pg_schema, require_pg


async def _liquidation_over_the_wire(addr: str, admin: str) -> dict[str, Any]:
    """Subscribe to liquidations, post the mark that triggers t's liquidation, return the liquidation message."""
    async with websockets.connect(f"ws://{addr}/v1/stream?topics=liquidations,insurance_fund",
                                  additional_headers=auth(admin)) as ws:
        hello = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert hello["topic"] == "hello" and hello["role"] == "admin"
        async with httpx.AsyncClient(base_url=f"http://{addr}") as c:
            r = await c.post("/v1/marks", json={"marks": [{"symbol": "BTCUSDT", "price": "9180"}]},
                             headers=auth(admin))
            assert r.status_code == 200, r.text
        got: dict[str, dict[str, Any]] = {}
        while "liquidation" not in got or "insurance_fund" not in got:
            msg = json.loads(await asyncio.wait_for(ws.recv(), 10))
            got.setdefault(msg["type"], msg)
        assert D(got["insurance_fund"]["payload"]["balance"]) == 680  # 500 + the 180 equity left at 9,180
        return got["liquidation"]


def _scenario(addr: str, admin: str) -> None:
    with httpx.Client(base_url=f"http://{addr}", timeout=30) as c:
        keys = seed(c, admin)
        assert ok(c.get("/healthz"))["status"] == "ok"
        assert c.get("/v1/accounts/t", headers=auth(keys["trader_own"])).status_code == 403
    liq = asyncio.run(_liquidation_over_the_wire(addr, admin))
    assert liq["topic"] == "liquidations" and liq["payload"]["account"] == "t"
    assert D(liq["payload"]["close_price"]) == 9180 and D(liq["payload"]["bankruptcy_price"]) == 9000
    with httpx.Client(base_url=f"http://{addr}") as c:
        fund = ok(c.get("/v1/insurance-fund", headers=auth(admin)))
        assert D(fund["balances"]["USDT"]) == 680


def test_real_server_on_sqlite_streams_the_liquidation(tmp_path: Path) -> None:
    db = tmp_path / "engine.db"
    with running(str(db)) as (addr, app):
        _scenario(addr, app.state.admin_key)
        last = app.state.service.last_seq
    # graceful shutdown: every acknowledged event is in the file and a snapshot was taken at the last one
    con = sqlite3.connect(db)
    assert con.execute("SELECT MAX(seq) FROM events").fetchone()[0] == last
    assert con.execute("SELECT MAX(seq) FROM snapshots").fetchone()[0] == last
    con.close()


def test_real_server_on_postgresql() -> None:
    require_pg()  # skips without a server, fails under CI=true
    with pg_schema() as url, running(url) as (addr, app):
        _scenario(addr, app.state.admin_key)
        import psycopg

        with psycopg.connect(url) as conn:
            rows = conn.execute("SELECT role FROM api_keys ORDER BY role").fetchall()
        assert [r[0] for r in rows] == ["admin", "feeder", "trader", "trader", "viewer"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_margincall_serve_prints_the_key_and_stops_gracefully(tmp_path: Path) -> None:
    port = _free_port()
    db = tmp_path / "served.db"
    env = {**os.environ, "MARGINCALL_RATE_LIMIT_PER_SECOND": "0"}
    proc = subprocess.Popen([sys.executable, "-m", "margincall.cli.main", "serve", "--database", str(db),
                             "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=env)
    try:
        lines: list[str] = []
        assert proc.stdout is not None
        while not any("serving on" in line for line in lines):
            line = proc.stdout.readline()
            assert line, "".join(lines)
            lines.append(line)
        key = re.search(r"admin API key \(shown once, stored hashed\): (\S+)", "".join(lines))
        assert key, lines
        deadline = time.monotonic() + 20
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/healthz")
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline
                time.sleep(0.1)
        assert r.json() == {"status": "ok", "seq": 0}
        h = auth(key.group(1))
        r = httpx.post(f"http://127.0.0.1:{port}/v1/accounts", json={"account": "a"}, headers=h)
        assert r.status_code == 200 and r.json()["seq"] == 1
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    con = sqlite3.connect(db)
    assert con.execute("SELECT seq, type FROM events").fetchall() == [(1, "account_opened")]
    assert con.execute("SELECT MAX(seq) FROM snapshots").fetchone()[0] == 1
    con.close()

"""The service under load through HTTP: sustained fills/s and marks/s, request latency p50/p99 (issue #5).

python3 benchmarks/api.py [--seconds S] [--concurrency C] [--batch B] [--accounts N] [--database URL] [--json]

Starts ``margincall serve`` as a separate process on 127.0.0.1 (a free port; SQLite in a temporary directory,
or ``--database postgresql://...``), with the rate limit off. Set-up over HTTP: two linear markets (the
generic venue, one 2 % tier), ``--accounts`` accounts with 1,000,000 USDT each. Then, each phase for at most
``--seconds`` seconds and ``--max-requests`` requests, ``--concurrency`` asyncio httpx clients post in a
closed loop:

* ``fills``: batches of ``--batch`` fills, pairs of accounts trading 0.001 BTC at 10,000 back and forth (the
  positions stay small, no liquidation);
* ``marks`` (batched): batches of ``--batch`` marks, a random walk of ±1 bp around 10,000;
* ``marks (1 per request)``: one mark per request — the per-tick path: its latency is ack-after-durable.

Every item is durable (one SQLite transaction with ``synchronous=FULL`` per writer batch) before its
response. Loopback only; bounded in count and time. Prints a table; ``--json`` prints one JSON object as
the last line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Any

import httpx

ADMIN = "benchmark-admin-key"
MARKET = {"venue": "generic", "maker_fee": "0", "taker_fee": "0.0005", "liquidation_fee": "0.01",
          "tiers": [{"floor": "0", "mmr": "0.02", "max_leverage": "50"}]}


@dataclass
class Phase:
    name: str
    items: int
    requests: int
    seconds: float
    latencies: list[float]
    errors: int

    def quantile(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        xs = sorted(self.latencies)
        return xs[min(len(xs) - 1, int(q * len(xs)))]

    def row(self) -> dict[str, Any]:
        return {"phase": self.name, "items": self.items, "requests": self.requests,
                "seconds": round(self.seconds, 3), "items_per_s": round(self.items / self.seconds, 1),
                "requests_per_s": round(self.requests / self.seconds, 1),
                "p50_ms": round(self.quantile(0.50) * 1000, 2), "p99_ms": round(self.quantile(0.99) * 1000, 2),
                "errors": self.errors}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(database: str, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "MARGINCALL_ADMIN_KEY": ADMIN, "MARGINCALL_RATE_LIMIT_PER_SECOND": "0"}
    return subprocess.Popen([sys.executable, "-m", "margincall.cli.main", "serve", "--database", database,
                             "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


async def wait_ready(c: httpx.AsyncClient, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            err = proc.stderr.read().decode() if proc.stderr else ""
            raise SystemExit(f"margincall serve exited with {proc.returncode}: {err}")
        try:
            if (await c.get("/healthz")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit("margincall serve did not answer in time")
        await asyncio.sleep(0.1)


async def setup(c: httpx.AsyncClient, accounts: int) -> None:
    for symbol in ("BTCUSDT", "ETHUSDT"):
        r = await c.post("/v1/markets", json={**MARKET, "symbol": symbol})
        r.raise_for_status()
    for i in range(accounts):
        (await c.post("/v1/accounts", json={"account": f"a{i}"})).raise_for_status()
        (await c.post(f"/v1/accounts/a{i}/deposits", json={"asset": "USDT", "amount": "1000000"})).raise_for_status()
    r = await c.post("/v1/marks", json={"marks": [{"symbol": "BTCUSDT", "price": "10000"},
                                                  {"symbol": "ETHUSDT", "price": "2000"}]})
    r.raise_for_status()


async def run_phase(c: httpx.AsyncClient, name: str, path: str, make_body: Any, items_per_request: int,
                    concurrency: int, seconds: float, max_requests: int) -> Phase:
    latencies: list[float] = []
    errors = 0
    sent = 0
    start = time.perf_counter()
    stop_at = start + seconds

    async def worker(w: int) -> None:
        nonlocal errors, sent
        rng = random.Random(w)
        while time.perf_counter() < stop_at and sent < max_requests:
            sent += 1
            body = make_body(rng, w)
            t0 = time.perf_counter()
            r = await c.post(path, json=body)
            latencies.append(time.perf_counter() - t0)
            if r.status_code != 200 or any("error" in x for x in r.json()["results"]):
                errors += 1

    await asyncio.gather(*(worker(w) for w in range(concurrency)))
    elapsed = time.perf_counter() - start
    return Phase(name, len(latencies) * items_per_request, len(latencies), elapsed, latencies, errors)


async def bench(args: argparse.Namespace) -> list[Phase]:
    tmp = tempfile.TemporaryDirectory(prefix="margincall-bench-")
    database = args.database or os.path.join(tmp.name, "engine.db")
    port = free_port()
    proc = start_server(database, port)
    limits = httpx.Limits(max_connections=args.concurrency, max_keepalive_connections=args.concurrency)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60, limits=limits,
                                     headers={"Authorization": f"Bearer {ADMIN}"}) as c:
            await wait_ready(c, proc)
            await setup(c, args.accounts)
            n_acc = args.accounts
            batch = args.batch
            prices = {"BTCUSDT": 10000.0}

            def fills(rng: random.Random, w: int) -> dict[str, Any]:
                out = []
                for _ in range(batch // 2):
                    a, b = rng.sample(range(n_acc), 2)
                    side = rng.choice(("buy", "sell"))
                    other = "sell" if side == "buy" else "buy"
                    for acct, s in ((a, side), (b, other)):
                        out.append({"account": f"a{acct}", "symbol": "BTCUSDT", "side": s, "size": "0.001",
                                    "price": "10000"})
                return {"fills": out}

            def marks(n: int) -> Any:
                def body(rng: random.Random, w: int) -> dict[str, Any]:
                    out = []
                    for _ in range(n):
                        p = prices["BTCUSDT"] = min(10100.0, max(9900.0, prices["BTCUSDT"] * (1 + rng.gauss(0, 1e-4))))
                        out.append({"symbol": "BTCUSDT", "price": f"{p:.2f}"})
                    return {"marks": out}
                return body

            phases = [
                await run_phase(c, f"fills ({batch // 2 * 2}/request)", "/v1/fills", fills, batch // 2 * 2,
                                args.concurrency, args.seconds, args.max_requests),
                await run_phase(c, f"marks ({batch}/request)", "/v1/marks", marks(batch), batch,
                                args.concurrency, args.seconds, args.max_requests),
                await run_phase(c, "marks (1/request)", "/v1/marks", marks(1), 1, args.concurrency, args.seconds,
                                args.max_requests),
            ]
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        tmp.cleanup()
    return phases


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=5.0, help="duration of each phase (default 5)")
    ap.add_argument("--max-requests", type=int, default=20_000, help="request cap per phase")
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--batch", type=int, default=100, help="items per batched request")
    ap.add_argument("--accounts", type=int, default=50)
    ap.add_argument("--database", help="postgresql:// URL (default: SQLite in a temp dir)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    phases = asyncio.run(bench(args))
    rows = [p.row() for p in phases]
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"margincall API over loopback HTTP ({args.concurrency} clients, "
                        f"{'PostgreSQL' if args.database else 'SQLite'})")
    for col in ("phase", "items/s", "requests/s", "p50 ms", "p99 ms", "requests", "errors"):
        table.add_column(col, justify="left" if col == "phase" else "right")
    for r in rows:
        table.add_row(r["phase"], f"{r['items_per_s']:,.0f}", f"{r['requests_per_s']:,.0f}", f"{r['p50_ms']:.2f}",
                      f"{r['p99_ms']:.2f}", str(r["requests"]), str(r["errors"]))
    Console(stderr=args.json).print(table)
    if args.json:
        out = {"benchmark": "api", "concurrency": args.concurrency, "batch": args.batch,
               "database": "postgresql" if args.database else "sqlite",
               "fills_per_s": rows[0]["items_per_s"], "fills_p99_ms": rows[0]["p99_ms"],
               "marks_per_s": rows[1]["items_per_s"], "marks_p99_ms": rows[1]["p99_ms"],
               "single_marks_per_s": rows[2]["items_per_s"], "single_mark_p99_ms": rows[2]["p99_ms"],
               "phases": rows}
        sys.stdout.write(json.dumps(out) + "\n")


if __name__ == "__main__":
    main()

"""Durable ledger throughput: fills/s through the Journal's batched path, raw log appends/s, replay events/s.

python3 benchmarks/ledger.py [--events N] [--replay-events N] [--repeats R] [--pg-url URL | --no-postgres] [--json]

Each throughput is the median of ``--repeats`` runs (default 3; every run is printed too): this is a shared
2-core machine, and single runs of a few hundred milliseconds vary by ±15 %.

* fills/s — ``Journal.submit_many`` of fill events (each with an idempotency key) in batches of 1, 100 and 1000:
  ledger apply + canonical JSON + hash chain + one durable transaction per batch (SQLite WAL + synchronous=FULL;
  PostgreSQL with synchronous_commit=on). Acknowledged = durable. A fresh log for every run.
* append/s — ``EventLog.append`` of ready-made events and results: the log alone, without the ledger.
* apply — ``Ledger.apply(...).to_dict()`` of the same fills in memory, with the fast path for common fills
  (:mod:`margincall.ledger.fastfill`, the default) and with it switched off (``fast_fills = False``): the
  ledger's share.
* replay — ``journal.replay``: a fresh ledger folded from a SQLite log of ``--replay-events`` fills (default
  100,000; read + parse + fold, the path recovery takes: SQLite assembles chunks on a reader thread,
  :mod:`margincall.store.prefetch`), and its two halves separately (``read_for_replay`` alone; ``Ledger.fold``
  alone). Every replay is checked equal to the live ledger.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from margincall.ledger import Ledger
from margincall.store import NewEvent, open_log
from margincall.store.journal import Command, Journal
from margincall.store.journal import replay as replay_log

MARKET = {"venue": "binance-usdm", "symbol": "BTCUSDT"}
BUY = {"account": "a1", "symbol": "BTCUSDT", "side": "buy", "size": "0.01", "price": "60000", "liquidity": "taker"}
SELL = {**BUY, "side": "sell"}
BATCHES = (1, 100, 1000)
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"


@contextmanager
def sqlite_target() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="mc-bench-") as d:
        yield str(Path(d) / "events.db")


@contextmanager
def pg_target(url: str) -> Iterator[str]:
    import psycopg

    name = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {name}")
    try:
        yield f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{name}"
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {name} CASCADE")


def fills(n: int, start: int = 0) -> list[Command]:
    return [Command("fill", BUY if i % 2 == 0 else SELL, key=f"f{i}", ts=2_000 + i) for i in range(start, start + n)]


def journal_rate(target: str, batch: int, n: int) -> tuple[float, Journal]:
    """Fills per second through ``submit_many`` in batches of ``batch`` (``n`` fills in all)."""
    j = Journal(open_log(target), Ledger)
    j.submit_many(
        [
            Command("market_listed", MARKET, ts=1_000),
            Command("account_opened", {"account": "a1"}, ts=1_000),
            Command("deposit", {"account": "a1", "asset": "USDT", "amount": "1000000000"}, ts=1_000),
        ]
    )
    commands = fills(n)
    t0 = time.perf_counter()
    for i in range(0, n, batch):
        for outcome in j.submit_many(commands[i : i + batch]):
            if not hasattr(outcome, "seq"):
                raise SystemExit(f"benchmark fill refused: {outcome!r}")
    return n / (time.perf_counter() - t0), j


def apply_rate(n: int, fast: bool) -> float:
    """Fills per second through ``Ledger.apply`` (and ``to_dict``, as the journal does), in memory."""
    led = Ledger()
    led.fast_fills = fast
    led.apply("market_listed", MARKET, ts=1_000)
    led.apply("account_opened", {"account": "a1"}, ts=1_000)
    led.apply("deposit", {"account": "a1", "asset": "USDT", "amount": "1000000000"}, ts=1_000)
    commands = fills(n)
    t0 = time.perf_counter()
    for c in commands:
        led.apply(c.type, c.payload, ts=c.ts or 0).to_dict()
    return n / (time.perf_counter() - t0)


def append_rate(target: str, batch: int, n: int, result: dict[str, Any]) -> float:
    """Events per second through ``EventLog.append`` alone (events and results prepared beforehand)."""
    log = open_log(target)
    events = [(NewEvent("fill", BUY if i % 2 == 0 else SELL, f"r{i}", 2_000 + i), result) for i in range(n)]
    t0 = time.perf_counter()
    for i in range(0, n, batch):
        log.append(events[i : i + batch])
    rate = n / (time.perf_counter() - t0)
    log.close()
    return rate


def count_for(batch: int, n: int) -> int:
    # One fsync per event at batch 1: a few hundred events measure it; bigger batches get the full count.
    return min(n, 500) if batch == 1 else n


def replay_rates(n: int, repeats: int) -> dict[str, Any]:
    """A SQLite log of ``n`` fills written through the journal (batches of 1000), then: ``journal.replay`` of it
    ``repeats`` times (a fresh ledger each time), the read alone and the fold alone; each checked against the
    live ledger's digest."""
    with sqlite_target() as target:
        _rate, j = journal_rate(target, 1000, n)
        log, live, total = j.log, j.ledger.digest(), n + 3
        runs = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            again = replay_log(log, Ledger)
            runs.append(total / (time.perf_counter() - t0))
            if again.digest() != live:
                raise SystemExit("replay differs from the live ledger")
        t0 = time.perf_counter()
        events = [tuple(row) for row in log.read_for_replay()]  # type: ignore[attr-defined]
        t_read = time.perf_counter() - t0
        folded = Ledger()
        t0 = time.perf_counter()
        for _seq, ts, type_, payload in events:
            folded.fold(type_, payload, ts)
        t_fold = time.perf_counter() - t0
        if folded.digest() != live:
            raise SystemExit("fold differs from the live ledger")
        log.close()
    return {"events": total, "runs": runs, "replay_events_per_s": statistics.median(runs),
            "read_events_per_s": total / t_read, "fold_events_per_s": total / t_fold}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=20_000, help="fills per measurement (batch 1: at most 500)")
    ap.add_argument("--replay-events", type=int, default=100_000, help="fills in the log that is replayed")
    ap.add_argument("--repeats", type=int, default=3, help="runs of each measurement; the median is reported")
    ap.add_argument("--pg-url", default=os.environ.get("MARGINCALL_DATABASE_URL") or DEFAULT_PG)
    ap.add_argument("--no-postgres", action="store_true")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    n, repeats = args.events, max(1, args.repeats)

    sample = Ledger()
    sample.apply("market_listed", MARKET, ts=1)
    sample.apply("account_opened", {"account": "a1"}, ts=1)
    sample.apply("deposit", {"account": "a1", "asset": "USDT", "amount": "1000"}, ts=1)
    result = sample.apply("fill", BUY, ts=2).to_dict()

    backends: list[tuple[str, Any]] = [("sqlite", sqlite_target)]
    if not args.no_postgres:
        backends.append(("postgres", lambda: pg_target(args.pg_url)))
    figures: dict[str, dict[str, float]] = {}
    all_runs: dict[str, dict[str, list[float]]] = {}
    for name, make in backends:
        fills_s: dict[str, float] = {}
        appends_s: dict[str, float] = {}
        runs_of: dict[str, list[float]] = {}
        for batch in BATCHES:
            runs = []
            for _ in range(repeats):
                with make() as target:
                    rate, j = journal_rate(target, batch, count_for(batch, n))
                    runs.append(rate)
                    j.log.close()
            fills_s[str(batch)] = statistics.median(runs)
            runs_of[str(batch)] = runs
            with make() as target:
                appends_s[str(batch)] = append_rate(target, batch, count_for(batch, n), result)
        figures[f"{name}_fills_per_s"] = fills_s
        figures[f"{name}_append_per_s"] = appends_s
        all_runs[name] = runs_of

    replay = replay_rates(args.replay_events, repeats)
    apply_s = {"fast_path": apply_rate(n, True), "general_path": apply_rate(n, False)}

    print(f"durable fills through Journal.submit_many (idempotency key on every fill); {n} fills per batched run, "
          f"median of {repeats} runs")
    print(f"{'backend':<10} {'batch':>6} {'fills/s':>12} {'runs':>28} {'raw append/s':>14}")
    for name, _ in backends:
        for batch in BATCHES:
            f = figures[f"{name}_fills_per_s"][str(batch)]
            a = figures[f"{name}_append_per_s"][str(batch)]
            runs_text = " / ".join(f"{r / 1000:,.1f}k" for r in all_runs[name][str(batch)])
            print(f"{name:<10} {batch:>6} {f:>12,.0f} {runs_text:>28} {a:>14,.0f}")
    print(
        f"replay of {replay['events']:,} events (journal.replay, SQLite): {replay['replay_events_per_s']:,.0f} "
        f"events/s, median of {' / '.join(f'{r / 1000:,.0f}k' for r in replay['runs'])} "
        f"(read+parse alone {replay['read_events_per_s']:,.0f}/s, ledger fold alone "
        f"{replay['fold_events_per_s']:,.0f}/s)"
    )
    print(
        f"ledger apply alone: {apply_s['fast_path']:,.0f} fills/s with the fast path for common fills, "
        f"{apply_s['general_path']:,.0f} fills/s without"
    )
    if args.json:
        out: dict[str, Any] = {
            "sqlite_fills_per_s": {k: round(v) for k, v in figures["sqlite_fills_per_s"].items()},
            "postgres_fills_per_s": {k: round(v) for k, v in figures.get("postgres_fills_per_s", {}).items()},
            "replay_events_per_s": round(replay["replay_events_per_s"]),
            "sqlite_append_per_s": {k: round(v) for k, v in figures["sqlite_append_per_s"].items()},
            "postgres_append_per_s": {k: round(v) for k, v in figures.get("postgres_append_per_s", {}).items()},
            "replay_events": replay["events"],
            "replay_runs_per_s": [round(r) for r in replay["runs"]],
            "replay_read_per_s": round(replay["read_events_per_s"]),
            "replay_fold_per_s": round(replay["fold_events_per_s"]),
            "ledger_fill_apply_per_s": {k: round(v) for k, v in apply_s.items()},
            "runs_per_s": {b: {k: [round(r) for r in v] for k, v in runs.items()} for b, runs in all_runs.items()},
            "repeats": repeats,
        }
        sys.stdout.write(json.dumps(out) + "\n")


if __name__ == "__main__":
    main()

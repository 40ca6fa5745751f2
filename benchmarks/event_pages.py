"""Pages of ``GET /v1/events`` on a large log: ``EventLog.page`` through the indexes vs a full scan.

python benchmarks/event_pages.py [--events N] [--accounts A] [--pages P] [--json]

A SQLite log of ``--events`` events (default 263,000: fills of ``--accounts`` accounts in turn, a liquidation
paying the insurance fund every 1,000 events, an ADL in place of every other liquidation) is paged by the
queries the API makes: a viewer's public feed (``liquidation, partial_liquidation, adl``), a trader's own
events, an admin's account and type together, the insurance fund, and every event. Each is the median of
``--pages`` pages of 100 events read from random cursors in the log's first half (ms per page, rows examined
per page). ``full_scan_ms`` is the old way for the viewer's query: reading the log from the start and filtering
each event until 100 match.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from margincall.store import NewEvent
from margincall.store.sqlite import SqliteEventLog

PUBLIC = frozenset({"liquidation", "partial_liquidation", "adl"})
FEE = [{"from": "wallet:x", "to": "fees", "asset": "USDT", "amount": "0.1", "memo": "fee"}]
FUND = [{"from": "wallet:x", "to": "insurance", "asset": "USDT", "amount": "5", "memo": "liquidation fee"}]


def build(path: Path, n: int, accounts: int) -> SqliteEventLog:
    log = SqliteEventLog(path)
    batch: list[tuple[NewEvent, dict[str, Any] | None]] = []
    for i in range(n):
        acct, ts = f"acct{i % accounts}", 1_700_000_000_000 + i
        if i % 2000 == 1999:
            ev = NewEvent("adl", {"account": acct, "bankrupt_account": f"acct{(i + 1) % accounts}", "size": "1"},
                          None, ts)
            result: dict[str, Any] = {"postings": FEE}
        elif i % 1000 == 999:
            ev, result = NewEvent("liquidation", {"account": acct, "size": "1"}, None, ts), {"postings": FUND}
        else:
            ev = NewEvent("fill", {"account": acct, "symbol": "BTCUSDT", "side": "buy", "size": "0.01",
                                   "price": "60000"}, None, ts)
            result = {"postings": FEE}
        batch.append((ev, result))
        if len(batch) == 5000:
            log.append(batch)
            batch = []
    if batch:
        log.append(batch)
    return log


def full_scan(log: SqliteEventLog, after: int, types: frozenset[str], limit: int) -> int:
    found = 0
    for ev in log.read(after):
        if ev.type in types:
            found += 1
            if found == limit:
                break
    return found


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=263_000)
    ap.add_argument("--accounts", type=int, default=3000)
    ap.add_argument("--pages", type=int, default=50)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    n, rng = args.events, random.Random(5)
    queries: dict[str, dict[str, Any]] = {
        "viewer_public_feed": {"types": PUBLIC},
        "trader_own_account": {"account": "acct7"},
        "admin_account_and_types": {"account": "acct7", "types": frozenset({"fill"})},
        "insurance_fund": {"fund": True},
        "every_event": {},
    }
    with tempfile.TemporaryDirectory(prefix="mc-pages-") as d:
        t0 = time.perf_counter()
        log = build(Path(d) / "events.db", n, args.accounts)
        build_s = time.perf_counter() - t0
        out: dict[str, Any] = {"events": n, "accounts": args.accounts, "build_s": round(build_s, 2)}
        rows = []
        for name, query in queries.items():
            ms, examined = [], []
            for _ in range(args.pages):
                after = rng.randrange(n // 2)
                t0 = time.perf_counter()
                page = log.page(after, 100, **query)
                ms.append((time.perf_counter() - t0) * 1000)
                examined.append(page.examined)
            out[f"{name}_page_ms"] = round(statistics.median(ms), 3)
            out[f"{name}_examined"] = int(statistics.median(examined))
            rows.append((name, statistics.median(ms), int(statistics.median(examined))))
        t0 = time.perf_counter()
        full_scan(log, 0, PUBLIC, 100)  # 1 event in 1,000 is public: 100 of them take a scan of 100,000
        out["full_scan_ms"] = round((time.perf_counter() - t0) * 1000, 1)
        log.close()
    print(f"log of {n:,} events, {args.accounts:,} accounts, built in {build_s:.1f} s; pages of 100, median of "
          f"{args.pages}")
    print(f"{'query':<26} {'ms/page':>9} {'rows examined':>14}")
    for name, ms_, ex in rows:
        print(f"{name:<26} {ms_:>9.2f} {ex:>14,}")
    print(f"{'viewer feed by full scan':<26} {out['full_scan_ms']:>9.1f} {'(whole range)':>14}")
    if args.json:
        print(json.dumps(out))


if __name__ == "__main__":
    main()

"""What a crash's events cost before the engine decides anything: the floor under the crash-waterfall target.

python benchmarks/event_floor.py [--events N] [--json]

A million-position crash (``benchmarks/engine.py --crash-positions 1000000``) emits about 2.4 million events.
This measures, per event, three things any engine that logs each waterfall step as its own event must do at
least once, on this machine, and extrapolates them to that crash:

* build the event: one Python dict of an ``adl`` event's fields (the collector off, one Decimal formatted);
* apply it to the ledger: ``Ledger.apply`` of a checked event that moves money between two wallets (a
  ``transfer``, the cheapest posting event; a liquidation step posts more);
* make it durable: append it to the SQLite event log in batches of 10,000 (hash chain, one transaction per
  batch), with the payload already built.
"""

from __future__ import annotations

import argparse
import gc
import json
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from margincall.ledger import Ledger
from margincall.store.log import NewEvent
from margincall.store.sqlite import SqliteEventLog

CRASH_EVENTS = 2_406_480  # benchmarks/engine.py, 1,000,000 positions, one tick, 2026-11-30
BATCH = 10_000


def build(n: int) -> float:
    price = Decimal("81234.56")
    gc.disable()
    try:
        t0 = time.perf_counter()
        out = []
        for i in range(n):
            text = str(price)
            out.append(("adl", {"account": "a123", "symbol": "S001USDT", "position_side": "both", "size": "12.345",
                                "price": text, "liquidation_id": "L77", "rank": i, "score": "3.2109",
                                "ranking": "binance_leverage_pnl", "bankrupt_account": "a77"}))
        return time.perf_counter() - t0
    finally:
        gc.enable()


def apply(n: int) -> float:
    led = Ledger()
    led.apply("market_listed", {"venue": "generic", "symbol": "BTCUSDT",
                                "tiers": [{"floor": "0", "mmr": "0.01", "max_leverage": "50"}]}, 1)
    for acct in ("a", "b"):
        led.apply("account_opened", {"account": acct}, 1)
        led.apply("deposit", {"account": acct, "asset": "USDT", "amount": "1000000000"}, 1)
    payload = {"from": "a", "to": "b", "asset": "USDT", "amount": "1.23"}
    t0 = time.perf_counter()
    for _ in range(n):
        led.apply("transfer", payload, 2)
    return time.perf_counter() - t0


def append(n: int) -> float:
    payload = {"account": "a123", "symbol": "S001USDT", "position_side": "both", "size": "12.345",
               "price": "81234.56", "liquidation_id": "L77", "rank": 17, "score": "3.2109",
               "ranking": "binance_leverage_pnl", "bankrupt_account": "a77"}
    with tempfile.TemporaryDirectory() as d:
        log = SqliteEventLog(str(Path(d) / "floor.db"))
        batches = [[(NewEvent("adl", dict(payload), None, 5), None) for _ in range(min(BATCH, n - i))]
                   for i in range(0, n, BATCH)]
        t0 = time.perf_counter()
        for batch in batches:
            log.append(batch)
        seconds = time.perf_counter() - t0
        log.close()
    return seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=200_000, help="events measured per part")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    n = args.events
    parts = {"build_event": build(n), "ledger_apply": apply(n), "durable_append": append(n)}
    out: dict[str, float] = {"events": n, "crash_events": CRASH_EVENTS}
    print(f"margincall event floor ({n:,} events per part; a 1,000,000-position crash is {CRASH_EVENTS:,} events)")
    print(f"  {'part':<16} {'µs / event':>11} {'crash total (s)':>16}")
    total = 0.0
    for name, seconds in parts.items():
        per = seconds / n
        total += per * CRASH_EVENTS
        print(f"  {name:<16} {per * 1e6:>11.2f} {per * CRASH_EVENTS:>16.1f}")
        out[f"{name}_us"] = round(per * 1e6, 3)
    print(f"  {'sum':<16} {'':>11} {total:>16.1f}   (target for the whole waterfall: 2 s)")
    out["crash_floor_s"] = round(total, 1)
    if args.json:
        print(json.dumps(out))


if __name__ == "__main__":
    main()

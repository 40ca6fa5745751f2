"""One run of durable fills of many accounts, to be counted by an instruction counter (callgrind).

python benchmarks/fill_cost.py [--fills N] [--accounts A] [--batch B] [--raw] [--database URL] [--json]

Opens ``A`` accounts (one deposit each) on a fresh SQLite log (or the PostgreSQL ``--database``), then submits
``N`` fills through ``Journal.submit_many`` in batches of ``B`` (default 1000), fill ``i`` on account
``i mod A`` (each account opens and closes a position in turn). With ``--raw`` the same fills, results made
beforehand, go straight to ``EventLog.append`` (the log alone). The machine this runs on is shared and noisy, so
the cost of a fill is read from instructions, not time: the difference between a run of 4,000 and one of 2,000
fills, divided by 2,000, removes the start-up and the accounts' set-up::

    valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.2000 python benchmarks/fill_cost.py --fills 2000
    valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.4000 python benchmarks/fill_cost.py --fills 4000

(the totals are the ``summary:`` / ``totals:`` line of each output file). Without valgrind it prints the
wall-clock rate of the fills.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from margincall.ledger import Ledger
from margincall.store import NewEvent, open_log
from margincall.store.journal import Command, Journal

MARKET = {"venue": "binance-usdm", "symbol": "BTCUSDT"}


def fill(i: int, accounts: int) -> dict[str, str]:
    side = "buy" if (i // accounts) % 2 == 0 else "sell"
    return {"account": f"acct-{i % accounts:05d}", "symbol": "BTCUSDT", "side": side, "size": "0.01",
            "price": "60000", "liquidity": "taker"}


def setup(accounts: int) -> list[Command]:
    out = [Command("market_listed", MARKET, ts=1_000)]
    for a in range(accounts):
        name = f"acct-{a:05d}"
        out.append(Command("account_opened", {"account": name}, ts=1_000))
        out.append(Command("deposit", {"account": name, "asset": "USDT", "amount": "1000000"}, ts=1_000))
    return out


def run(target: str, fills: int, accounts: int, batch: int, raw: bool) -> float:
    """Seconds taken by the ``fills`` (set-up excluded)."""
    if raw:
        # One fill's result for every event (the log does not check it): what is counted is the log's work.
        led = Ledger()
        for c in setup(1):
            led.apply(c.type, c.payload, ts=c.ts or 0)
        result = led.apply("fill", fill(0, 1), 2_000).to_dict()
        events: list[tuple[NewEvent, dict[str, Any] | None]] = [
            (NewEvent("fill", fill(i, accounts), f"f{i}", 2_000 + i), result) for i in range(fills)]
        log = open_log(target)
        t0 = time.perf_counter()
        for i in range(0, fills, batch):
            log.append(events[i : i + batch])
        took = time.perf_counter() - t0
        log.close()
        return took
    j = Journal(open_log(target), Ledger)
    j.submit_many(setup(accounts))
    commands = [Command("fill", fill(i, accounts), key=f"f{i}", ts=2_000 + i) for i in range(fills)]
    t0 = time.perf_counter()
    for i in range(0, fills, batch):
        for outcome in j.submit_many(commands[i : i + batch]):
            if not hasattr(outcome, "seq"):
                raise SystemExit(f"fill refused: {outcome!r}")
    took = time.perf_counter() - t0
    j.log.close()
    return took


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fills", type=int, default=2_000)
    ap.add_argument("--accounts", type=int, default=1_000)
    ap.add_argument("--batch", type=int, default=1_000)
    ap.add_argument("--raw", action="store_true", help="EventLog.append of ready results (no ledger)")
    ap.add_argument("--database", help="postgresql:// URL of an empty schema (default: a fresh SQLite file)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if args.fills < 1 or args.accounts < 1 or args.batch < 1:
        raise SystemExit("--fills, --accounts and --batch must be at least 1")
    with tempfile.TemporaryDirectory(prefix="mc-fill-cost-") as d:
        took = run(args.database or str(Path(d) / "events.db"), args.fills, args.accounts, args.batch, args.raw)
    rate = args.fills / took
    print(f"{args.fills} {'raw appends' if args.raw else 'durable fills'} of {args.accounts} accounts, "
          f"batch {args.batch}: {rate:,.0f}/s")
    if args.json:
        sys.stdout.write(json.dumps({"fills": args.fills, "accounts": args.accounts, "batch": args.batch,
                                     "raw": args.raw, "per_s": round(rate)}) + "\n")


if __name__ == "__main__":
    main()

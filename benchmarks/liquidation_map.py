"""The liquidation map: how long ``GET /v1/liquidation-map`` holds the journal's lock, and the builder's rate.

python benchmarks/liquidation_map.py [--positions N] [--symbols S] [--rows R] [--seed S] [--json]

Engine part: the exact engine's synthetic book of ``benchmarks/engine.py`` (N/10 accounts of up to 10 positions, 70
% cross, plus one market maker per symbol); timed are reading the book (what runs under the journal's lock: each
watch's price inputs), pricing it (each position's exact liquidation and bankruptcy price) and building the ±30
%/30-step map (both after the lock is released). Builder part: R synthetic rows of one linear symbol through
``calculator.liquidation_map.build_map`` (what ``calc --book --map`` runs per row).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from decimal import Decimal

from engine import build_exact_engine
from margincall.api.liquidation_map import map_view, price_book, read_book
from margincall.calculator.liquidation_map import build_map
from margincall.model.instrument import Instrument


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--positions", type=int, default=2_000)
    ap.add_argument("--symbols", type=int, default=20)
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--repeats", type=int, default=5, help="reads of the book timed (the median is reported)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    engine, _ = build_exact_engine(args.positions, args.symbols, args.seed)
    reads = []
    for _ in range(args.repeats):  # the median of a few reads: this shared machine's speed drifts
        t0 = time.perf_counter()
        read = read_book(engine, 0)
        t1 = time.perf_counter()
        reads.append(t1 - t0)
    lock_s = statistics.median(reads)
    book = price_book(read)
    t_priced = time.perf_counter()
    view = map_view(book, {"USDT": Decimal(1_000_000)}, span=Decimal("0.3"), steps=30, symbol=None)
    t2 = time.perf_counter()

    rng = random.Random(args.seed)
    rows = []
    for _ in range(args.rows):
        side = rng.choice(("long", "short"))
        lev = rng.randint(2, 50)
        bp = 100 * (1 - 1 / lev) if side == "long" else 100 * (1 + 1 / lev)
        lp = bp * (1.004 if side == "long" else 0.996)
        rows.append({"symbol": "BTCUSDT", "side": side, "size": f"{rng.uniform(0.001, 5):.3f}", "mark_price": "100",
                     "liquidation_price": f"{lp:.2f}", "bankruptcy_price": f"{bp:.2f}"})
    t3 = time.perf_counter()
    build_map([rows[i:i + 10_000] for i in range(0, len(rows), 10_000)], {"BTCUSDT": Instrument("BTCUSDT")})
    t4 = time.perf_counter()

    out = {"positions": len(book.rows), "symbols": len(view["symbols"]),
           "lock_read_ms": round(lock_s * 1e3, 2), "lock_read_us_per_position": round(lock_s * 1e6 /
                                                                                         max(1, len(book.rows)), 2),
           "pricing_ms": round((t_priced - t1) * 1e3, 2),
           "map_build_ms": round((t2 - t_priced) * 1e3, 2), "rows": args.rows,
           "builder_rows_per_s": round(args.rows / (t4 - t3))}
    print("margincall liquidation map benchmark")
    for k, v in out.items():
        print(f"  {k:<26}  {v}")
    if args.json:
        print(json.dumps(out))


if __name__ == "__main__":
    main()

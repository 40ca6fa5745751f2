"""The calculator on large scenarios: seconds per ``calculate`` (parse + evaluate + serialise) by size.

python benchmarks/calc_scenario.py [--instruments 50,100,200,300] [--tiers 100] [--mode cross] [--repeats R] [--json]

Each scenario holds one position per instrument (alternately long and short, 0.1 at 1,000, 10x), each instrument
with its own table of ``--tiers`` brackets, on Binance USDⓈ-M rules. Linear cost means ``us_per_position``
stays flat as the scenario grows. The service refuses scenarios beyond its ``calculator`` limits (413).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any

from margincall.calculator import calculate


def scenario(n: int, tiers: int, mode: str) -> dict[str, Any]:
    table = [{"floor": str(10_000 * t), "cap": str(10_000 * (t + 1)), "mmr": f"{0.004 + 0.001 * t:.3f}",
              "max_leverage": str(max(1, 125 - t))} for t in range(tiers)]
    return {"venue": "binance-usdm", "wallet_balance": "100000",
            "instruments": {f"S{i}USDT": {"tiers": table} for i in range(n)},
            "positions": [{"symbol": f"S{i}USDT", "side": "long" if i % 2 else "short", "size": "0.1",
                           "entry_price": "1000", "leverage": "10", "margin_mode": mode} for i in range(n)]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--instruments", default="50,100,200,300")
    ap.add_argument("--tiers", type=int, default=100)
    ap.add_argument("--mode", choices=("cross", "isolated"), default="cross")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    sizes = [int(x) for x in args.instruments.split(",")]
    out: dict[str, Any] = {"tiers": args.tiers, "mode": args.mode, "seconds": {}, "us_per_position": {}}
    print(f"{args.mode} positions, {args.tiers} tiers per instrument, median of {args.repeats}")
    print(f"{'instruments':>11} {'seconds':>9} {'µs/position':>12}")
    for n in sizes:
        body = scenario(n, args.tiers, args.mode)
        runs = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            calculate(body)
            runs.append(time.perf_counter() - t0)
        s = statistics.median(runs)
        out["seconds"][str(n)] = round(s, 4)
        out["us_per_position"][str(n)] = round(s / n * 1e6)
        print(f"{n:>11} {s:>9.3f} {s / n * 1e6:>12,.0f}")
    if args.json:
        print(json.dumps(out))


if __name__ == "__main__":
    main()

"""The crash waterfall of ``benchmarks/engine.py`` (section ``exact``) with what must not change when it is made
faster: the event counts, the engine's state digest and a hash of every event it emitted, in order.

python benchmarks/crash_digest.py [--positions 20000] [--symbols 20] [--ticks 500] [--seed 7] [--per-symbol]

Run it before and after a change to the engine: the three lines after the timing must be identical.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time

import numpy as np

from engine import TICK_SIGMA, build_exact_engine, crash


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--positions", type=int, default=20_000)
    ap.add_argument("--symbols", type=int, default=20)
    ap.add_argument("--ticks", type=int, default=500)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--per-symbol", action="store_true", help="the crash as one mark event per symbol")
    args = ap.parse_args()
    engine, symbols = build_exact_engine(args.positions, args.symbols, args.seed)
    rng = np.random.default_rng(args.seed + 3)  # the same marks as section_exact
    marks = {s: 100.0 for s in symbols}
    stream = hashlib.sha256()

    def record(applied: list) -> int:  # type: ignore[type-arg]
        for a in applied:
            stream.update(json.dumps([a.type, a.payload, a.ts], sort_keys=True, default=str).encode())
        return len(applied)

    ts = 2
    for _ in range(args.ticks):
        sym = symbols[int(rng.integers(0, len(symbols)))]
        marks[sym] *= float(np.exp(rng.normal(0, TICK_SIGMA)))
        record(engine.process("mark", {"symbol": sym, "price": f"{marks[sym]:.2f}"}, ts))
        ts += 1
    liq0 = engine.metrics.liquidations
    t0 = time.perf_counter()
    outs = list(crash(engine, symbols, marks, ts, args.per_symbol))
    seconds = time.perf_counter() - t0
    events = sum(record(o) for o in outs)
    m = engine.metrics
    liquidations = m.liquidations - liq0
    print(f"crash: {seconds:.2f} s, {liquidations / max(seconds, 1e-9):,.0f} liquidations/s "
          f"({seconds / max(1, liquidations) * 1e3:.3f} ms per liquidation)")
    print(f"events {events:,}, liquidations {liquidations:,}, partial steps {m.partial_liquidations:,}, "
          f"ADL {m.adl:,}, money conserved {engine.conservation_error() is None}")
    print(f"digest {engine.digest()}")
    print(f"events sha256 {stream.hexdigest()}")


if __name__ == "__main__":
    main()

"""Liquidation prices per second: the exact Decimal solver vs the vectorised numpy path.

python benchmarks/calc.py [--positions N] [--decimal-sample K] [--json]
"""

from __future__ import annotations

import argparse
import json
import time
from decimal import Decimal

import numpy as np

from margincall.math.solver import Leg, solve_price
from margincall.math.vector import TierArrays, liquidation_price_vec
from margincall.model import ContractKind
from margincall.venues.tables import (
    BINANCE_USDM_BTCUSDT_2024,
    BINANCE_USDM_ETHUSDT_2021,
    BYBIT_LINEAR_BTCUSDT_2026,
    HYPERLIQUID_BTC,
)

TABLES = [BINANCE_USDM_BTCUSDT_2024, BINANCE_USDM_ETHUSDT_2021, BYBIT_LINEAR_BTCUSDT_2026, HYPERLIQUID_BTC]


def book(n: int, seed: int = 7) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    entry = np.round(rng.uniform(1000, 100000, n), 2)
    qty = np.round(rng.uniform(0.001, 50, n), 3)
    lev = rng.integers(2, 20, n).astype(np.float64)
    return {
        "table": rng.integers(0, len(TABLES), n),
        "inverse": np.zeros(n, dtype=bool),
        "sign": rng.choice([-1.0, 1.0], n),
        "qty": qty,
        "entry": entry,
        "margin": np.round(qty * entry / lev, 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--positions", type=int, default=1_000_000)
    ap.add_argument("--decimal-sample", type=int, default=None,
                    help="positions timed on the Decimal path (default: all of them)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    n = args.positions
    b = book(n)
    arrays = TierArrays.from_tables(TABLES)

    t0 = time.perf_counter()
    vec = liquidation_price_vec(arrays, b["table"], b["inverse"], b["sign"], b["qty"], b["entry"], b["margin"])
    vector_s = time.perf_counter() - t0

    k = n if args.decimal_sample is None else min(args.decimal_sample, n)
    exact = []
    t0 = time.perf_counter()
    for i in range(k):
        leg = Leg(
            ContractKind.LINEAR,
            int(b["sign"][i]),
            Decimal(str(b["qty"][i])),
            Decimal(str(b["entry"][i])),
            TABLES[int(b["table"][i])],
        )
        exact.append(solve_price([leg], Decimal(str(b["margin"][i])), leg.entry_price).price)
    decimal_s = time.perf_counter() - t0

    errs = [abs(float(e) - v) / float(e) for e, v in zip(exact, vec[:k], strict=True) if e is not None]
    mismatched_none = sum((e is None) != bool(np.isnan(v)) for e, v in zip(exact, vec[:k], strict=True))
    out = {
        "positions": n,
        "decimal_per_s": round(k / decimal_s),
        "vector_per_s": round(n / vector_s),
        "decimal_sample": k,
        "max_rel_error": max(errs) if errs else 0.0,
        "none_mismatches": mismatched_none,
    }
    print(f"{'path':<28}{'positions':>12}{'seconds':>12}{'per second':>16}")
    print(f"{'Decimal exact solver':<28}{k:>12}{decimal_s:>12.3f}{out['decimal_per_s']:>16,}")
    print(f"{'numpy vectorised (float64)':<28}{n:>12}{vector_s:>12.3f}{out['vector_per_s']:>16,}")
    print(
        f"agreement on the {k:,} sampled: max relative error {out['max_rel_error']:.2e}, "
        f"None/NaN mismatches {mismatched_none}"
    )
    if args.json:
        print(json.dumps(out))


if __name__ == "__main__":
    main()

"""Stress path generation speed: path-steps per second on one core, per price model.

python benchmarks/stress.py [--paths N] [--steps N] [--json]

Each model generates N paths of S steps (GBM σ 80 %/yr; Merton adds 20 jumps/yr; the bootstrap draws from 10,000
returns) with 48 checkpoints, the shape `margincall stress` uses. The kernel is compiled (or loaded from numba's
cache) before timing; the timed region is the kernel alone, best of three. Then one whole `run_stress` (paths,
probabilities, exact confirmation, fan) of the same size, and one advisor search on the binance-usdm tiers.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import pandas as pd

from margincall.stress import GBMModel, MertonModel, advise, run_stress
from margincall.stress.models import YEAR
from margincall.stress.paths import BOOTSTRAP, simulate, warm_up

SCENARIO = {"venue": "binance-usdm", "positions": [{"symbol": "BTCUSDT", "side": "long", "size": "0.5",
                                                    "entry_price": "60000", "leverage": "20",
                                                    "margin_mode": "isolated"}]}


def best_of(fn, n: int = 3) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--paths", type=int, default=10_000)
    ap.add_argument("--steps", type=int, default=720)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    warm_up()
    cps = np.unique(np.linspace(0, a.steps, 49).round().astype(np.int64)[1:])
    dt = (pd.Timedelta(hours=1) / YEAR)
    kernels = {
        "gbm": GBMModel(0.8).kernel(dt),
        "merton": MertonModel(0.8, 20, -0.05, 0.1).kernel(dt),
        "bootstrap": {"model": BOOTSTRAP, "returns": np.random.default_rng(1).normal(0, 0.008, 10_000)},
    }
    total = a.paths * a.steps
    rows = {}
    for name, k in kernels.items():
        s = best_of(lambda k=k: simulate(n_paths=a.paths, checkpoints=cps, seed=1, **k))
        rows[name] = {"seconds": round(s, 4), "path_steps_per_s": round(total / s)}
    horizon = pd.Timedelta(hours=a.steps)
    run_s = best_of(lambda: run_stress(SCENARIO, GBMModel(0.8), horizon, paths=a.paths, seed=1), 1)
    adv_s = best_of(lambda: advise({"positions": SCENARIO["positions"]}, GBMModel(0.8), horizon, 0.05,
                                   paths=a.paths, seed=1), 1)
    print(f"{'model':>10} {'paths':>8} {'steps':>6} {'seconds':>8} {'path-steps/s':>14}")
    for name, r in rows.items():
        print(f"{name:>10} {a.paths:>8,} {a.steps:>6} {r['seconds']:>8.4f} {r['path_steps_per_s']:>14,}")
    print(f"run_stress (gbm, whole): {run_s:.3f} s · advisor (every venue): {adv_s:.3f} s")
    if a.json:
        print(json.dumps({"paths": a.paths, "steps": a.steps, "path_steps_per_s": rows["gbm"]["path_steps_per_s"],
                          "models": rows, "run_stress_seconds": round(run_s, 3),
                          "advisor_seconds": round(adv_s, 3), "target_path_steps_per_s": 10_000_000}))


if __name__ == "__main__":
    main()

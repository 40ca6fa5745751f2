"""A backtest's wall time: one year of 1-minute mark candles (525,600) with N trades on one symbol.

python benchmarks/backtest.py [--candles N] [--trades N] [--leverage L] [--json]

The candles are a seeded random walk (σ ≈ 0.1 % a minute) around BTCUSDT's 2024 price on binance-usdm's built-in
tier table; each trade is an isolated long or short held 1–2,000 minutes (some are liquidated, most are not).
Reading the inputs is not timed; the replay (engine setup, every event and mark tick, the per-trade table) is.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import pandas as pd

from margincall.backtest import run_backtest


def market(n: int, seed: int = 11) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 60_000 * np.exp(np.cumsum(rng.normal(0, 0.001, n)))
    open_ = np.concatenate([[60_000.0], close[:-1]])
    wick = np.abs(rng.normal(0, 0.0007, (2, n)))
    high = np.maximum(open_, close) * (1 + wick[0])
    low = np.minimum(open_, close) * (1 - wick[1])
    dates = pd.date_range("2024-01-01", periods=n, freq="1min", tz="UTC")
    r = lambda x: np.round(x, 1)  # noqa: E731 — the 0.10 tick
    return pd.DataFrame({"date": dates, "open": r(open_), "high": r(high), "low": r(low), "close": r(close)})


def trades(n: int, candles: int, leverage: int, seed: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    start = np.sort(rng.integers(0, candles - 2100, n))
    hold = rng.integers(1, 2000, n)
    t0 = pd.Timestamp("2024-01-01", tz="UTC")
    return pd.DataFrame({
        "id": [f"t{i}" for i in range(n)], "symbol": "BTCUSDT",
        "side": rng.choice(["long", "short"], n),
        "open_time": [(t0 + pd.Timedelta(minutes=int(s))).isoformat() for s in start],
        "close_time": [(t0 + pd.Timedelta(minutes=int(s + h))).isoformat() for s, h in zip(start, hold, strict=True)],
        "size": "0.05", "leverage": str(leverage), "margin_mode": "isolated",
    })


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--candles", type=int, default=525_600)
    ap.add_argument("--trades", type=int, default=1000)
    ap.add_argument("--leverage", type=int, default=50)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    c = market(a.candles)
    t = trades(a.trades, a.candles, a.leverage)
    run_backtest(t.head(5), {"BTCUSDT": c.head(5000)})  # warm-up: imports, caches
    start = time.perf_counter()
    res = run_backtest(t, {"BTCUSDT": c})
    elapsed = time.perf_counter() - start
    table = res.trades
    out = {"candles": a.candles, "trades": a.trades, "leverage": a.leverage, "seconds": round(elapsed, 3),
           "liquidated": int(table["liquidated"].sum()), "marks_fed": res.marks_fed,
           "engine_events": res.engine_events, "target_seconds": 2.0}
    print(f"{'candles':>10} {'trades':>7} {'lev':>4} {'seconds':>8} {'liquidated':>10} {'marks fed':>10} "
          f"{'events':>8}")
    print(f"{a.candles:>10,} {a.trades:>7,} {a.leverage:>4} {elapsed:>8.3f} {out['liquidated']:>10,} "
          f"{res.marks_fed:>10,} {res.engine_events:>8,}")
    if a.json:
        print(json.dumps(out))


if __name__ == "__main__":
    main()

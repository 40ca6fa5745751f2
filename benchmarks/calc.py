"""Liquidation prices per second: the compiled batch path (``margincall.venues.batch.evaluate_book``) over a whole
book spread over every venue profile and formula form, against the calculator's exact Decimal evaluation (timed on
a sample, whose rows are also where the agreement is measured) and freqtrade's own Binance
``dry_run_liquidation_price`` (when freqtrade is installed).

python benchmarks/calc.py [--positions N] [--sample-accounts K] [--freqtrade-positions M] [--json]

The book is the sample's rows repeated (new account ids each time) up to N rows; ``vector_per_s`` is N over the
best of three timed ``evaluate_book`` calls (compiled beforehand), every output of every row included.
``vector_freqtrade_book_per_s``: the same on freqtrade's workload (Binance USDⓈ-M BTC/ETH isolated positions drawn
as :func:`freqtrade_rate` draws them), like for like. ``roofline_per_s``: rows per second of only reading every
input column once and writing every output column once with numpy (fresh outputs, as ``evaluate_book``
allocates them), one thread: the memory traffic's floor.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from margincall.venues.batch import evaluate_book
from support.random_book import batch_instruments, random_book, reference

NAMES = ("liquidation_price", "bankruptcy_price", "initial_margin", "maintenance_margin", "margin_ratio")


def whole_book(sample: dict[str, np.ndarray], n: int) -> dict[str, np.ndarray]:
    """The sample's rows repeated up to ``n`` rows, each copy under new account ids (accounts stay contiguous)."""
    rows = len(sample["account"])
    reps = math.ceil(n / rows)
    accounts = int(sample["account"].max()) + 1
    out = {k: np.tile(v, reps)[:n] for k, v in sample.items()}
    out["account"] = (np.tile(sample["account"], reps) + np.repeat(np.arange(reps) * accounts, rows))[:n]
    return out


def freqtrade_rate(n: int, seed: int = 3) -> float | None:
    """freqtrade's Binance ``dry_run_liquidation_price`` per second over ``n`` isolated positions, tiers loaded
    by freqtrade itself (its shipped ``binance_leverage_tiers.json``, as in dry-run and backtesting)."""
    try:
        from freqtrade.enums import MarginMode, RunMode, TradingMode
        from freqtrade.exchange import Binance
    except ImportError:
        return None
    ex: Any = Binance.__new__(Binance)  # no network: only what the liquidation price reads is set up
    ex._config = {"dry_run": True, "runmode": RunMode.BACKTEST, "stake_currency": "USDT"}
    ex.trading_mode, ex.margin_mode = TradingMode.FUTURES, MarginMode.ISOLATED
    ex._leverage_tiers, ex._exchange_ws, ex._api_async = {}, None, None
    ex.fill_leverage_tiers()
    rng = np.random.default_rng(seed)
    pairs = ["BTC/USDT:USDT", "ETH/USDT:USDT"]
    base = [60000.0, 3000.0]
    which = rng.integers(0, 2, n)
    rate = np.round(np.take(base, which) * rng.uniform(0.5, 1.5, n), 2)
    amount = np.round(rng.uniform(0.001, 5, n), 3)
    lev = rng.integers(2, 50, n).astype(float)
    short = rng.random(n) < 0.5
    args = [(pairs[w], float(r), bool(s), float(a), float(a * r / le), float(le), float(a * r / le))
            for w, r, s, a, le in zip(which, rate, short, amount, lev, strict=True)]
    price = ex.dry_run_liquidation_price
    t0 = time.perf_counter()
    for pair, r, s, a, stake, le, wb in args:
        price(pair, r, s, a, stake, le, wb, [])
    return n / (time.perf_counter() - t0)


def freqtrade_book(n: int, seed: int = 3) -> tuple[Any, dict[str, np.ndarray]]:
    """freqtrade's positions (:func:`freqtrade_rate`'s draw) as one isolated account each, with freqtrade's stake
    as the isolated margin; leverage up to 20 (within Binance's tier for the largest of them)."""
    from margincall.venues.batch import BatchInstrument, BatchInstruments
    from margincall.venues.profiles import get_venue

    venue = get_venue("binance-usdm")
    instruments = BatchInstruments.of([BatchInstrument("binance-usdm", venue.market(s).instrument)
                                       for s in ("BTCUSDT", "ETHUSDT")])
    rng = np.random.default_rng(seed)
    which = rng.integers(0, 2, n)
    rate = np.round(np.take([60000.0, 3000.0], which) * rng.uniform(0.5, 1.5, n), 2)
    amount = np.round(rng.uniform(0.001, 5, n), 3)
    lev = rng.integers(2, 21, n).astype(float)
    nan = np.full(n, np.nan)
    return instruments, {"account": np.arange(n), "instrument": which, "side": np.where(rng.random(n) < 0.5, -1.0, 1.0),
                         "size": amount, "entry_price": rate, "mark_price": rate, "cross": np.zeros(n, np.bool_),
                         "leverage": lev, "isolated_margin": amount * rate / lev, "extra_margin": nan,
                         "wallet_balance": nan}


def roofline(book: dict[str, np.ndarray]) -> float:
    """Seconds (best of three) to read every input column once and write five float64 and one int8 fresh
    output columns once: what any evaluation of the book must move through memory."""
    n = len(book["account"])
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        for v in book.values():
            v.sum()
        for dtype in (np.float64,) * 5 + (np.int8,):
            np.empty(n, dtype=dtype).fill(0)
        times.append(time.perf_counter() - t0)
    return min(times)


def best_of_three(instruments: Any, book: dict[str, np.ndarray]) -> tuple[float, float]:
    """Wall seconds of the fastest of three calls, and the CPU seconds (all threads) of the cheapest: on a shared
    machine the second does not count the time other processes held the cores."""
    evaluate_book(instruments, **book)  # compile (both paths) and fault the allocator in outside the timing
    walls, cpus = [], []
    for _ in range(3):
        t0, c0 = time.perf_counter(), time.process_time()
        evaluate_book(instruments, **book)
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return min(walls), min(cpus)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--positions", type=int, default=1_000_000)
    ap.add_argument("--sample-accounts", type=int, default=20_000,
                    help="accounts evaluated exactly (Decimal) for the agreement and the Decimal rate")
    ap.add_argument("--freqtrade-positions", type=int, default=200_000)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    n = args.positions
    instruments = batch_instruments()
    scenarios, sample = random_book(args.sample_accounts, seed=2026)
    book = whole_book(sample, n)
    vector_s, vector_cpu = best_of_three(instruments, book)
    result = evaluate_book(instruments, **book)
    roof_s = roofline(book)
    ft_instruments, ft_book = freqtrade_book(n)
    ft_like_s, _ = best_of_three(ft_instruments, ft_book)

    t0 = time.perf_counter()
    exact = [row for s in scenarios for row in reference(s)]
    decimal_s = time.perf_counter() - t0
    k = len(exact)
    ours = evaluate_book(instruments, **sample)
    worst = 0.0
    mismatched = 0
    for i, row in enumerate(exact):
        for name, e in zip(NAMES, row, strict=True):
            got = float(getattr(ours, name)[i])
            if math.isnan(e) or math.isnan(got):
                mismatched += math.isnan(e) != math.isnan(got)
            else:
                worst = max(worst, abs(got - e) / abs(e))
    refused = int(np.count_nonzero(result.error))
    ft = freqtrade_rate(args.freqtrade_positions) if args.freqtrade_positions > 0 else None

    out: dict[str, Any] = {
        "positions": n,
        "decimal_sample": k,
        "decimal_per_s": round(k / decimal_s),
        "max_rel_error": worst,
        "none_mismatches": mismatched,
        "refused_rows": refused,
    }
    if ft is not None:
        out["freqtrade_per_s"] = round(ft)
        out["freqtrade_positions"] = args.freqtrade_positions
    out["vector_per_s"] = round(n / vector_s)
    out["vector_cpu_ns_per_row"] = round(vector_cpu / n * 1e9, 1)
    out["vector_freqtrade_book_per_s"] = round(n / ft_like_s)
    out["roofline_per_s"] = round(n / roof_s)
    print(f"{'path':<44}{'positions':>12}{'seconds':>10}{'per second':>16}")
    print(f"{'calculator, Decimal (sample)':<44}{k:>12,}{decimal_s:>10.3f}{out['decimal_per_s']:>16,}")
    if ft is not None:
        fn = args.freqtrade_positions
        print(f"{'freqtrade Binance dry_run_liquidation_price':<44}{fn:>12,}{fn / ft:>10.3f}{round(ft):>16,}")
    print(f"{'evaluate_book, numba (all outputs)':<44}{n:>12,}{vector_s:>10.3f}{out['vector_per_s']:>16,}")
    print(f"{'evaluate_book, freqtrade-like book':<44}{n:>12,}{ft_like_s:>10.3f}"
          f"{out['vector_freqtrade_book_per_s']:>16,}")
    print(f"{'roofline: numpy reads inputs, writes outputs':<44}{n:>12,}{roof_s:>10.3f}{out['roofline_per_s']:>16,}")
    print(f"agreement on the {k:,} sampled rows (LP, BP, IM, MM, ratio): max relative error {worst:.2e}, "
          f"none/NaN mismatches {mismatched}; refused rows {refused}")
    if ft is not None:
        print(f"vector / freqtrade: {out['vector_per_s'] / ft:.1f}× (freqtrade-like book: "
              f"{out['vector_freqtrade_book_per_s'] / ft:.1f}×)")
    if args.json:
        print(json.dumps(out))


if __name__ == "__main__":
    main()

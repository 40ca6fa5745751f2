"""A whole book through ``margincall calc --book`` to Parquet: seconds and peak memory.

python benchmarks/calc_book.py [--rows 10000000] [--dir DIR] [--chunk-rows N] [--json]

Generates a CSV book of ``--rows`` positions over every venue profile (isolated and cross, accounts of one to three
legs, the venues without built-in markets given by an instruments file), then runs ``margincall calc --book BOOK
--instruments FILE --out OUT.parquet --quiet`` as a subprocess and reports its wall time and peak RSS (the child's
``VmHWM``, its own high-water mark since exec). The target of issue #12 is 10,000,000 rows in ≤ 30 s and ≤ 2 GiB
with a compiled evaluator; the Decimal reference evaluator is far slower (docs/benchmarks.md), so measure it on
``--rows 100000``.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

#: The instruments of the venues without built-in markets (the scenario schema, one venue's own each).
INSTRUMENTS = {
    "venues": {
        "binance-coinm": {"BTCUSD_PERP": {"contract_size": "100", "tick_size": "0.1", "lot_size": "1",
                                          "settle_asset": "BTC", "mmr": "0.004", "max_leverage": "125"}},
        "bybit-inverse": {"BTCUSD": {"contract_size": "1", "tick_size": "0.5", "lot_size": "1",
                                     "settle_asset": "BTC", "mmr": "0.005", "max_leverage": "100"}},
        "bitunix": {"BTCUSDT": {"tick_size": "0.1", "mmr": "0.004", "max_leverage": "125"}},
        "generic": {"BTCUSDT": {"tick_size": "0.1", "mmr": "0.005", "max_leverage": "100"}},
    }
}  # fmt: skip

#: (venue, symbols with their price, inverse contract size or 0 for linear, settles in coin)
VENUES = [
    ("binance-usdm", [("BTCUSDT", 60000.0), ("ETHUSDT", 3000.0)], 0, False),
    ("binance-coinm", [("BTCUSD_PERP", 60000.0)], 100, True),
    ("bybit-linear", [("BTCUSDT", 60000.0)], 0, False),
    ("bybit-inverse", [("BTCUSD", 60000.0)], 1, True),
    ("okx", [("ETH-USDT-SWAP", 3000.0)], 0, False),
    ("hyperliquid", [("BTC", 60000.0), ("ETH", 3000.0), ("SOL", 150.0)], 0, False),
    ("dydx", [("BTC-USD", 60000.0), ("ETH-USD", 3000.0)], 0, False),
    ("bitunix", [("BTCUSDT", 60000.0)], 0, False),
    ("generic", [("BTCUSDT", 60000.0)], 0, False),
]


def generate(path: Path, rows: int, seed: int = 1) -> int:
    """Write a CSV book of ``rows`` rows (grouped by account); the number of accounts."""
    rng = np.random.default_rng(seed)
    names = np.array([x[0] for x in VENUES], dtype=object)
    n_sym = np.array([len(x[1]) for x in VENUES])
    # Accounts on the venues in turn, each with one to three legs, one per symbol (one-way mode).
    venue_of_acct = np.arange(rows) % len(VENUES)
    legs = np.minimum(rng.integers(1, 4, size=rows), n_sym[venue_of_acct])
    a = int(np.searchsorted(np.cumsum(legs), rows)) + 1
    legs = legs[:a]
    legs[-1] -= int(legs.sum()) - rows
    acct_of_row = np.repeat(np.arange(a), legs)
    leg_of_row = np.arange(rows) - np.repeat(np.cumsum(legs) - legs, legs)
    v = venue_of_acct[acct_of_row]
    sym_idx = leg_of_row % n_sym[v]
    symbols = np.array([[s for s, _ in x[1]] + [""] * (3 - len(x[1])) for x in VENUES], dtype=object)
    prices = np.array([[p for _, p in x[1]] + [0.0] * (3 - len(x[1])) for x in VENUES])
    price = prices[v, sym_idx]
    entry = np.round(price * rng.uniform(0.9, 1.1, rows), 1)
    mark = np.round(entry * rng.uniform(0.96, 1.04, rows), 1)
    inverse = np.array([x[2] for x in VENUES])[v]
    coin = np.array([x[3] for x in VENUES])[v]
    notional = rng.uniform(10, 4000, rows)
    size_linear = np.maximum(np.round(notional / price, 3), 0.001)
    size_okx = np.maximum(np.round(notional / (price * 0.1)), 1)
    size_inverse = np.maximum(np.round(notional / np.maximum(inverse, 1)), 1) * np.maximum(inverse, 1)
    is_okx = names[v] == "okx"
    size = np.where(inverse > 0, size_inverse, np.where(is_okx, size_okx, size_linear))
    cross = (rng.random(a) < 0.6)[acct_of_row]
    wallet_acct = np.round(rng.uniform(500, 20000, a), 2)[acct_of_row]
    wallet = np.where(coin, np.round(wallet_acct / 10000, 4), wallet_acct)
    table = pa.table({
        "account": pa.array(acct_of_row).cast(pa.string()),
        "venue": pa.array(names[v].tolist(), pa.string()),
        "symbol": pa.array(symbols[v, sym_idx].tolist(), pa.string()),
        "side": pa.array(np.where(rng.random(rows) < 0.5, "long", "short")),
        "size": pa.array(size),
        "entry_price": pa.array(entry),
        "mark_price": pa.array(mark),
        "margin_mode": pa.array(np.where(cross, "cross", "isolated")),
        "leverage": pa.array(rng.choice([1, 2, 3, 5, 10], rows)),
        "isolated_margin": pa.nulls(rows, pa.string()),
        "extra_margin": pa.nulls(rows, pa.string()),
        "wallet_balance": pa.array(wallet),
    })  # fmt: skip
    pacsv.write_csv(table, path, pacsv.WriteOptions(quoting_style="none"))
    return a


#: Runs the CLI and writes its own peak RSS (``VmHWM``: since its exec) to stderr at exit. The children's
#: ``ru_maxrss`` would not do: a child started by fork/vfork is charged the parent's resident pages at its exec,
#: and the parent holds the generated book (2.3 GiB at 10,000,000 rows).
_RUN_REPORTING_PEAK = """
import atexit, runpy, sys
def _peak():
    try:
        with open('/proc/self/status') as f:
            sys.stderr.write(''.join(l for l in f if l.startswith('VmHWM')))
    except OSError:
        pass
atexit.register(_peak)
sys.argv = ['margincall', *sys.argv[1:]]
runpy.run_module('margincall.cli.main', run_name='__main__', alter_sys=True)
"""


def _child_peak_mb(stderr: str) -> float:
    """The child's peak RSS in MiB: its ``VmHWM`` line, else (no /proc) the children's ``ru_maxrss``."""
    for line in stderr.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--dir", type=Path, default=None, help="where the book and its output go (default: a temp dir)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        where = args.dir or Path(tmp)
        where.mkdir(parents=True, exist_ok=True)
        book, out, inst = where / "book.csv", where / "book_priced.parquet", where / "instruments.json"
        t0 = time.perf_counter()
        accounts = generate(book, args.rows)
        gen_s = time.perf_counter() - t0
        inst.write_text(json.dumps(INSTRUMENTS))
        cmd = [sys.executable, "-c", _RUN_REPORTING_PEAK, "calc", "--book", str(book), "--instruments", str(inst),
               "--out", str(out), "--quiet"]  # fmt: skip
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        seconds = time.perf_counter() - t0
        if proc.returncode not in (0, 1):
            sys.exit(f"calc --book failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
        peak_mb = _child_peak_mb(proc.stderr)
        summary = proc.stdout.strip().splitlines()[-1]
        written = pq.read_table(out, columns=["error"]).column("error")
        priced = written.null_count  # rows without an error
        print(f"book: {args.rows:,} rows, {accounts:,} accounts, {book.stat().st_size / 2**20:,.1f} MiB CSV"
              f" (generated in {gen_s:.1f} s)")  # fmt: skip
        print(f"calc --book → Parquet: {seconds:.2f} s, {args.rows / seconds:,.0f} rows/s, peak RSS {peak_mb:,.0f} MiB")
        print(f"  {summary}")
        if len(written) != args.rows:
            sys.exit(f"the output has {len(written):,} rows, not {args.rows:,}")
        if args.json:
            print(json.dumps({"book_rows": args.rows, "book_accounts": accounts, "book_priced": priced,
                              "book_seconds": round(seconds, 3), "book_peak_rss_mb": round(peak_mb, 1),
                              "rows_per_s": round(args.rows / seconds), "summary": summary}))  # fmt: skip


if __name__ == "__main__":
    main()

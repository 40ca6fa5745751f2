"""Risk engine: full re-screen and per-tick latency on a synthetic book (issue #4, "Done when").

python benchmarks/engine.py [--positions N] [--ticks T] [--seed S] [--json]

Book: N positions in N/10 accounts (10 symbols each), 70 % cross, 200 linear symbols cycling through the
built-in bracket tier tables, notionals log-uniform 50 … 2,000,000, leverage 2 … 50, entries within a few % of
the mark. Cross accounts start healthy-watched at k_down = 1.25 (margin call), isolated positions at 1.
A tick is one symbol's mark moving by a small random step (σ = 2 bp): set the mark, query the band index,
evaluate the candidates, run a two-state margin-call machine (healthy → warned at 1.25, liquidation at 1), hand
the liquidations off (removed from the index), re-band the rest — all inside the timed span.

Sections run in order from ``SECTIONS``; each takes the shared :class:`Context` and returns rows for the table
and keys for the JSON object, so further sections (the crash tick) can be appended.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from margincall.risk.screening.band_index import BandIndex
from margincall.risk.screening.book import RiskBook
from margincall.risk.screening.screen import Evaluation, evaluate_accounts, evaluate_isolated, full_screen
from margincall.venues.tables import (
    BINANCE_USDM_BTCUSDT_2021,
    BINANCE_USDM_BTCUSDT_2024,
    BINANCE_USDM_ETHUSDT_2021,
    BINANCE_USDM_ETHUSDT_2024,
    BYBIT_LINEAR_BTCUSDT_2026,
    DYDX_LARGE_CAP,
    HYPERLIQUID_BTC,
    HYPERLIQUID_ETH,
    HYPERLIQUID_SOL,
)

TABLES = [
    BINANCE_USDM_BTCUSDT_2024,
    BINANCE_USDM_ETHUSDT_2024,
    BINANCE_USDM_BTCUSDT_2021,
    BINANCE_USDM_ETHUSDT_2021,
    BYBIT_LINEAR_BTCUSDT_2026,
    HYPERLIQUID_BTC,
    HYPERLIQUID_ETH,
    HYPERLIQUID_SOL,
    DYDX_LARGE_CAP,
]
N_SYMBOLS = 200
PER_ACCOUNT = 10
TICK_SIGMA = 2e-4


def build_book(n_positions: int, seed: int) -> RiskBook:
    """The synthetic book, built with vectorised calls only (no per-position Python loop)."""
    rng = np.random.default_rng(seed)
    book = RiskBook("USDT", capacity=n_positions)
    marks = np.exp(rng.uniform(np.log(0.05), np.log(60000), N_SYMBOLS))
    for s in range(N_SYMBOLS):
        book.add_symbol(f"SYM{s}USDT", TABLES[s % len(TABLES)])
        book.set_mark(s, float(marks[s]))
    n_accounts = max(1, -(-n_positions // PER_ACCOUNT))
    book.add_accounts([f"acct{a}" for a in range(n_accounts)])
    pos = np.arange(n_positions)
    acc = pos // PER_ACCOUNT
    # Ten distinct symbols per account: a random start, stepping by 17 (coprime with 200).
    sym = (rng.integers(0, N_SYMBOLS, n_accounts)[acc] + 17 * (pos % PER_ACCOUNT)) % N_SYMBOLS
    iso = rng.random(n_positions) < 0.30
    sign = rng.choice([-1.0, 1.0], n_positions)
    entry = marks[sym] * (1 + rng.normal(0, 0.01, n_positions))
    notional = np.exp(rng.uniform(np.log(50), np.log(2e6), n_positions))
    qty = notional / entry
    lev = rng.integers(2, 51, n_positions).astype(np.float64)
    margin = np.where(iso, notional / lev, 0.0)
    book.add_positions(acc, sym, sign, qty, entry, iso, margin)
    acct_lev = rng.integers(2, 31, n_accounts).astype(np.float64)
    wallet = np.bincount(acc[~iso], notional[~iso], n_accounts) / acct_lev
    book.set_wallets(np.arange(n_accounts), wallet)
    book.set_thresholds_many(np.arange(n_accounts), 1.25)
    return book


@dataclass
class Engine:
    """A minimal engine loop around the screening structures (the real one lives in the risk engine)."""

    book: RiskBook
    index: BandIndex
    liquidated: int = 0
    margin_calls: int = 0

    def settle(self, accounts: np.ndarray, slots: np.ndarray) -> None:
        """Evaluate entries, then :meth:`transition` (used at start-up and after threshold changes)."""
        ea, es = evaluate_accounts(self.book, accounts), evaluate_isolated(self.book, slots)
        self.index.rebuild(accounts, slots)
        self.transition(ea, es)

    def transition(self, ea: Evaluation, es: Evaluation) -> None:
        """Move margin-call states of evaluated (and already re-banded) entries; liquidations are handed off."""
        book = self.book
        kd = book.k_down[ea.ids]
        liq_a = ea.flagged & (kd <= 1.0)
        warn_a = ea.flagged & (kd > 1.0)
        heal_a = ea.recovered
        self.liquidated += int(liq_a.sum() + es.flagged.sum())
        self.margin_calls += int(warn_a.sum())
        if liq_a.any() or es.flagged.any():
            self.index.remove(ea.ids[liq_a], es.ids[es.flagged])
        if warn_a.any() or heal_a.any():
            book.set_thresholds_many(ea.ids[warn_a], 1.0, 1.25)
            book.set_thresholds_many(ea.ids[heal_a], 1.25, 0.0)
            # A warned account may already be past liquidation: evaluate again at the new thresholds.
            self.settle(ea.ids[warn_a | heal_a], es.ids[:0])

    def tick(self, s: int, price: float) -> int:
        r = self.index.tick(s, price)
        ea, es = r.accounts, r.slots
        if ea.flagged.any() or ea.recovered.any() or es.flagged.any():
            self.transition(ea, es)
        return len(ea.ids) + len(es.ids)


@dataclass
class Context:
    args: argparse.Namespace
    rows: list[tuple[str, str]] = field(default_factory=list)
    out: dict[str, object] = field(default_factory=dict)
    book: RiskBook | None = None
    engine: Engine | None = None


def start_engine(book: RiskBook) -> Engine:
    """Band every entry, then hand the entries already past a threshold to the state machine."""
    engine = Engine(book, BandIndex(book))
    engine.index.rebuild_all()
    res = full_screen(book)
    engine.settle(np.union1d(res.flagged_accounts, res.recovered_accounts), res.flagged_slots)
    return engine


def run_ticks(engine: Engine, n_ticks: int, seed: int) -> tuple[np.ndarray, float]:
    rng = np.random.default_rng(seed)
    syms = rng.integers(0, N_SYMBOLS, n_ticks)
    steps = np.exp(rng.normal(0, TICK_SIGMA, n_ticks))
    lat = np.empty(n_ticks)
    cands = 0
    mark = engine.book.mark
    for t in range(n_ticks):
        s = int(syms[t])
        p = float(mark[s] * steps[t])
        t0 = time.perf_counter_ns()
        cands += engine.tick(s, p)
        lat[t] = time.perf_counter_ns() - t0
    return lat / 1000.0, cands / n_ticks


def section_build(ctx: Context) -> None:
    n = ctx.args.positions
    t0 = time.perf_counter()
    ctx.book = build_book(n, ctx.args.seed)
    t1 = time.perf_counter()
    ctx.engine = start_engine(ctx.book)
    t2 = time.perf_counter()
    ctx.rows += [
        ("positions / accounts", f"{n:,} / {ctx.book.n_accounts:,}"),
        ("build book (vectorised)", f"{t1 - t0:.2f} s"),
        ("band every entry + first screen", f"{t2 - t1:.2f} s"),
        (
            "entries already past a threshold",
            f"{ctx.engine.liquidated:,} liquidated, {ctx.engine.margin_calls:,} warned",
        ),
    ]
    ctx.out |= {"positions": n, "accounts": ctx.book.n_accounts}


def section_screen(ctx: Context) -> None:
    assert ctx.book is not None
    full_screen(ctx.book)  # JIT warm-up (cached on disk after the first run)
    times = []
    for _ in range(7):
        t0 = time.perf_counter()
        full_screen(ctx.book)
        times.append(time.perf_counter() - t0)
    ms = float(np.median(times) * 1000)
    ctx.rows.append(("full re-screen (median of 7)", f"{ms:.1f} ms"))
    ctx.out["full_rescreen_ms"] = round(ms, 2)


def section_ticks(ctx: Context) -> None:
    assert ctx.engine is not None
    liq0, calls0 = ctx.engine.liquidated, ctx.engine.margin_calls
    run_ticks(ctx.engine, 200, ctx.args.seed + 100)  # warm-up
    lat, cands = run_ticks(ctx.engine, ctx.args.ticks, ctx.args.seed + 1)
    med, p99 = float(np.median(lat)), float(np.percentile(lat, 99))
    ctx.rows += [
        (f"normal tick ({ctx.args.ticks:,} ticks, σ {TICK_SIGMA:.0e}) median / p99", f"{med:.1f} / {p99:.1f} µs"),
        ("  candidates per tick (mean)", f"{cands:.2f}"),
        (
            "  liquidations handed off / margin calls",
            f"{ctx.engine.liquidated - liq0:,} / {ctx.engine.margin_calls - calls0:,}",
        ),
    ]
    ctx.out |= {"tick_median_us": round(med, 2), "tick_p99_us": round(p99, 2)}


def section_small(ctx: Context) -> None:
    n = max(PER_ACCOUNT, ctx.args.positions // 100)
    engine = start_engine(build_book(n, ctx.args.seed + 7))
    run_ticks(engine, 200, ctx.args.seed + 100)
    lat, _ = run_ticks(engine, ctx.args.ticks, ctx.args.seed + 1)
    med, p99 = float(np.median(lat)), float(np.percentile(lat, 99))
    ctx.rows.append((f"book 100× smaller ({n:,} positions) tick median / p99", f"{med:.1f} / {p99:.1f} µs"))
    ctx.out["small_book_tick_median_us"] = round(med, 2)


#: Tables whose rates are finite decimals (a listing carries its tiers as JSON decimal strings).
CRASH_TABLES = [BINANCE_USDM_BTCUSDT_2024, BINANCE_USDM_ETHUSDT_2024, BYBIT_LINEAR_BTCUSDT_2026, DYDX_LARGE_CAP,
                BINANCE_USDM_BTCUSDT_2021, BINANCE_USDM_ETHUSDT_2021]


def build_exact_engine(n_positions: int, n_symbols: int, seed: int):  # type: ignore[no-untyped-def]
    """The real engine (Decimal ledger, exact waterfall) on a synthetic book: n/10 accounts with 10 positions
    each, 70 % cross, leverage 2 … 50 within each tier's limit, against a well-funded market maker per symbol."""
    from decimal import Decimal

    from margincall.risk.engine import RiskEngine

    rng = np.random.default_rng(seed)
    engine = RiskEngine()
    apply = engine.apply
    symbols = [f"S{i:03d}USDT" for i in range(n_symbols)]
    for i, sym in enumerate(symbols):
        t = CRASH_TABLES[i % len(CRASH_TABLES)]
        tiers = [{"floor": str(x.floor), "cap": None if x.cap is None else str(x.cap), "mmr": str(x.mmr),
                  "max_leverage": str(x.max_leverage)} for x in t.tiers]
        apply("market_listed", {"venue": "generic", "symbol": sym, "tiers": tiers, "lot_size": "0.001",
                                "tick_size": "0.01", "liquidation_fee": "0.0125"}, 1)
        apply("mark", {"symbol": sym, "price": "100"}, 1)
    apply("insurance_fund_deposit", {"asset": "USDT", "amount": "1000000"}, 1)
    for sym in symbols:  # one market maker per symbol, as on a venue (one account with every symbol is atypical)
        apply("account_opened", {"account": f"mm-{sym}"}, 1)
        apply("deposit", {"account": f"mm-{sym}", "asset": "USDT", "amount": "1000000000000"}, 1)
        apply("leverage_set", {"account": f"mm-{sym}", "symbol": sym, "leverage": "1"}, 1)
    n_accounts = max(1, n_positions // 10)
    for a in range(n_accounts):
        acct = f"a{a}"
        cross = rng.random() < 0.7
        lev = int(rng.integers(2, 51))
        picks = rng.choice(n_symbols, size=min(10, n_symbols), replace=False)
        notionals = np.exp(rng.uniform(np.log(50), np.log(200_000), len(picks)))
        apply("account_opened", {"account": acct}, 1)
        need = Decimal(0)
        fills = []
        for s, n in zip(picks, notionals, strict=True):
            sym = symbols[int(s)]
            size = Decimal(str(max(0.001, round(float(n) / 100, 3))))
            tier_lev = engine.ledger.markets[sym].tiers.tier_for(size * 100).max_leverage
            use = min(Decimal(lev), tier_lev)
            apply("leverage_set", {"account": acct, "symbol": sym, "leverage": str(use),
                                   "margin_mode": "cross" if cross else "isolated"}, 1)
            need += size * 100 / use * Decimal("1.002") + 1
            fills.append((sym, size, "buy" if rng.random() < 0.75 else "sell"))
        apply("deposit", {"account": acct, "asset": "USDT", "amount": str(need.quantize(Decimal("0.01")) * 2)}, 1)
        for sym, size, side in fills:
            apply("fill", {"account": acct, "symbol": sym, "side": side, "size": str(size), "price": "100"}, 1)
            apply("fill", {"account": f"mm-{sym}", "symbol": sym, "side": "sell" if side == "buy" else "buy",
                           "size": str(size), "price": "100"}, 1)
    return engine, symbols


def crash(engine, symbols: list[str], marks: dict[str, float], ts: int,  # type: ignore[no-untyped-def]
          per_symbol: bool = False):
    """The crash: every symbol −20 % in one tick (one ``marks`` event, as a venue publishes every mark at once;
    ``per_symbol``: one ``mark`` event per symbol, the engine checking the accounts after each), then the work
    carried past the per-call budget. Yields each call's applied events (not kept: a million-position crash is
    millions of events)."""
    if per_symbol:
        for s in symbols:
            yield engine.process("mark", {"symbol": s, "price": f"{marks[s] * 0.8:.2f}"}, ts)
    else:
        yield engine.process("marks", {"marks": [{"symbol": s, "price": f"{marks[s] * 0.8:.2f}"} for s in symbols]}, ts)
    while engine.queued:  # work carried past the per-call budget
        yield engine.process("mark", {"symbol": symbols[0], "price": f"{marks[symbols[0]] * 0.8:.2f}"}, ts)


def section_exact(ctx: Context) -> None:
    """The real engine: exact ticks (every candidate confirmed in Decimal) and the crash waterfall."""
    n = ctx.args.crash_positions
    t0 = time.perf_counter()
    engine, symbols = build_exact_engine(n, ctx.args.crash_symbols, ctx.args.seed)
    t1 = time.perf_counter()
    rng = np.random.default_rng(ctx.args.seed + 3)
    marks = {s: 100.0 for s in symbols}
    lat = []
    ts = 2
    for _ in range(ctx.args.exact_ticks):
        sym = symbols[int(rng.integers(0, len(symbols)))]
        marks[sym] *= float(np.exp(rng.normal(0, TICK_SIGMA)))
        t_ = time.perf_counter_ns()
        engine.process("mark", {"symbol": sym, "price": f"{marks[sym]:.2f}"}, ts)
        lat.append((time.perf_counter_ns() - t_) / 1000.0)
        ts += 1
    med, p99 = float(np.median(lat)), float(np.percentile(lat, 99))
    liq0 = engine.metrics.liquidations
    t2 = time.perf_counter()
    events = sum(len(out) for out in crash(engine, symbols, marks, ts, ctx.args.crash_per_symbol))
    t4 = time.perf_counter()
    liquidations = engine.metrics.liquidations - liq0
    ok = engine.conservation_error() is None
    ctx.rows += [
        (f"exact engine book ({n:,} positions, {len(symbols)} symbols) build", f"{t1 - t0:.1f} s"),
        (f"  exact tick ({ctx.args.exact_ticks:,} ticks, Decimal confirm) median / p99", f"{med:.1f} / {p99:.1f} µs"),
        (f"  crash tick (every symbol −20 %{', one mark event each' if ctx.args.crash_per_symbol else ''}):"
         " liquidations", f"{liquidations:,} "
         f"({engine.metrics.partial_liquidations:,} partial steps, {engine.metrics.adl:,} ADL)"),
        ("  crash waterfall time", f"{t4 - t2:.2f} s ({events:,} events, {(t4 - t2) / max(1, liquidations) * 1e3:.2f}"
         " ms per liquidation)"),
        ("  money conserved", "yes" if ok else "NO"),
    ]
    ctx.out |= {"exact_tick_median_us": round(med, 1), "exact_tick_p99_us": round(p99, 1),
                "crash_positions": n, "crash_liquidations": liquidations, "crash_waterfall_s": round(t4 - t2, 3),
                "conservation_ok": ok}


SECTIONS: list[tuple[str, Callable[[Context], None]]] = [
    ("build", section_build),
    ("screen", section_screen),
    ("ticks", section_ticks),
    ("small book", section_small),
    ("exact engine and crash", section_exact),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--positions", type=int, default=1_000_000)
    ap.add_argument("--ticks", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--crash-positions", type=int, default=20_000,
                    help="positions in the exact (Decimal) engine book for the crash tick")
    ap.add_argument("--crash-symbols", type=int, default=20)
    ap.add_argument("--exact-ticks", type=int, default=2_000)
    ap.add_argument("--crash-per-symbol", action="store_true",
                    help="post the crash as one mark event per symbol instead of one tick of every symbol")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    ctx = Context(args)
    for _, run in SECTIONS:
        run(ctx)
    width = max(len(k) for k, _ in ctx.rows)
    print("margincall risk engine benchmark")
    for k, v in ctx.rows:
        print(f"  {k:<{width}}  {v}")
    if args.json:
        print(json.dumps(ctx.out))


if __name__ == "__main__":
    main()

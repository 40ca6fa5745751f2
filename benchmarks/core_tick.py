"""The core's status pass on a crash tick (issue #14): a −20 % tick of every symbol of a large book.

python benchmarks/core_tick.py [--positions N] [--symbols S] [--sample M] [--seed S] [--json]

Book: N positions in N/10 accounts (10 distinct symbols each), 30 % isolated, S linear symbols cycling through
the built-in tier tables of Binance, Bybit, OKX, Hyperliquid and dYdX, notionals log-uniform 50 … 2,000,000,
leverage 2 … 50, entries within about 1 % of the mark, built straight into the core's arrays. The tick sets every
symbol's mark to 80 % of itself (rounded down to the price scale) and runs the core's pass: the watches that hold
a ticked symbol, then each one's exact equity, MM, liquidatable flag and band (``core.tick.tick``); compilation is
done before the timed run, and the median of ``--repeats`` runs is reported.

The Decimal engine's status (``risk.status.status`` + ``BandConfig.next_band``, per watch) is timed on a sample
of the same book (the first M positions' accounts, as a Ledger) and **extrapolated** linearly to N positions
(``decimal_status_s_extrapolated``); on that sample the core's numbers are compared with the reference's
(``sample_agrees``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from decimal import Decimal
from typing import Any

import numpy as np

from margincall.core.build import assemble_markets, by_market, check_quantities, market_row, watches_of
from margincall.core.cross_takeover import cross_takeovers
from margincall.core.loader import load
from margincall.core.prices import bankruptcy_prices, executor_fills
from margincall.core.state import SYSTEM_BOOKS, SYSTEM_INSURANCE, CoreState, Positions, Settings
from margincall.core.takeover import takeovers
from margincall.core.tick import BANDS, Statuses, statuses, tick
from margincall.ledger import Ledger, PositionKey
from margincall.risk.margin_call import Band, BandConfig
from margincall.risk.status import WatchId, status
from margincall.venues.market import market_from_listing
from margincall.venues.profiles import get_venue

UNIT_DIGITS = 8
PER_ACCOUNT = 10
#: (venue, built-in market) whose instrument and newest tier table the symbols cycle through
TEMPLATES = [("binance-usdm", "BTCUSDT"), ("binance-usdm", "ETHUSDT"), ("bybit-linear", "BTCUSDT"),
             ("okx", "ETH-USDT-SWAP"), ("hyperliquid", "BTC"), ("hyperliquid", "SOL"), ("dydx", "BTC-USD"),
             ("dydx", "ETH-USD")]


def listing(i: int) -> dict[str, Any]:
    venue, builtin = TEMPLATES[i % len(TEMPLATES)]
    v = get_venue(venue)
    inst = v.markets[builtin].instrument
    return {"venue": venue, "symbol": f"SYM{i}", "kind": "linear", "contract_size": str(inst.contract_size),
            "tick_size": str(inst.tick_size), "lot_size": str(inst.lot_size), "settle_asset": "USDT",
            "tiers": [{"floor": str(t.floor), "cap": None if t.cap is None else str(t.cap), "mmr": str(t.mmr),
                       "max_leverage": str(t.max_leverage), "maintenance_amount": str(t.maintenance_amount)}
                      for t in v.tier_table(builtin, None).tiers]}


def build(n_positions: int, n_symbols: int, seed: int) -> tuple[CoreState, list[dict[str, Any]]]:
    """The book as core arrays (vectorised), and the market listings."""
    rng = np.random.default_rng(seed)
    listings = [listing(i) for i in range(n_symbols)]
    specs = [market_from_listing(x) for x in listings]
    rows = [market_row(s, UNIT_DIGITS) for s in specs]
    pd = np.array([r.price_digits for r in rows])
    lot = np.array([float(s.instrument.lot_size * s.instrument.contract_size) for s in specs])
    mark_f = np.exp(rng.uniform(np.log(0.5), np.log(60000), n_symbols))
    marks = np.maximum(np.round(mark_f * 10.0**pd), 1).astype(np.int64)
    markets, tiers = assemble_markets([x["symbol"] for x in listings], [s.venue for s in specs], [0] * n_symbols,
                                      rows, [int(m) for m in marks])
    n_acc = max(1, -(-n_positions // PER_ACCOUNT))
    pos = np.arange(n_positions)
    acc = (pos // PER_ACCOUNT).astype(np.int32)
    sym = ((rng.integers(0, n_symbols, n_acc)[acc] + 17 * (pos % PER_ACCOUNT)) % n_symbols).astype(np.int32)
    # the reference's summing order within an account: by symbol
    order = np.lexsort((sym, acc))
    acc, sym = acc[order], sym[order]
    iso = rng.random(n_positions) < 0.30
    sign = rng.choice([-1, 1], n_positions)
    entry_f = mark_f[sym] * (1 + rng.normal(0, 0.01, n_positions))
    entry = np.maximum(np.round(entry_f * 10.0**pd[sym]), 1).astype(np.int64)
    notional = np.exp(rng.uniform(np.log(50), np.log(2e6), n_positions))
    size = sign * np.maximum(np.round(notional / (entry_f * lot[sym])), 1).astype(np.int64)
    lev = rng.integers(2, 51, n_positions)
    margin_units = np.where(iso, np.round(notional / lev * 10**UNIT_DIGITS), 0).astype(np.int64)
    acct_lev = rng.integers(2, 31, n_acc)
    wallet = (np.bincount(acc[~iso], notional[~iso], n_acc) / acct_lev * 10**UNIT_DIGITS).astype(np.int64)
    watch, watches = watches_of(acc, sym, iso, markets.asset, 1)
    positions = Positions(acc, sym, np.zeros(n_positions, np.int8), size, entry, iso, margin_units,
                          (lev * 10**8).astype(np.int64), watch)
    check_quantities(positions, markets)
    core = CoreState(
        unit_digits=UNIT_DIGITS, assets=["USDT"], markets=markets, tiers=tiers,
        accounts=[f"a{i:07d}" for i in range(n_acc)], hedge=np.zeros(n_acc, np.bool_),
        wallet=wallet.reshape(n_acc, 1), liquidating=np.zeros((n_acc, 1), np.bool_),
        order_margin=np.zeros((n_acc, 1), np.int64), positions=positions, watches=watches,
        by_market=by_market(sym, n_symbols),
        settings=Settings(*(np.zeros(0, t) for t in (np.int32, np.int32, np.int64, np.bool_))),
        system=np.zeros((len(SYSTEM_BOOKS), 1), np.int64),
        deposits=np.zeros(1, np.int64), withdrawals=np.zeros(1, np.int64), events_applied=0, last_ts=0)
    return core, listings


def crash_marks(core: CoreState) -> dict[str, Decimal]:
    """Every symbol at 80 % of its mark, rounded down to its price scale."""
    m = core.markets
    return {s: Decimal(int(m.mark[i]) * 4 // 5).scaleb(-int(m.price_digits[i])) for i, s in enumerate(m.symbols)}


def sample_ledger(core: CoreState, listings: list[dict[str, Any]], n_sample: int) -> Ledger:
    """The accounts of the first ``n_sample`` positions as a Decimal Ledger (its own snapshot form)."""
    m, p = core.markets, core.positions
    n = int(np.searchsorted(p.account, p.account[min(n_sample, len(p.account)) - 1], side="right"))
    accounts = sorted({core.accounts[a] for a in p.account[:n]})
    balances = [[f"wallet:{core.accounts[a]}", "USDT", str(Decimal(int(core.wallet[a, 0])).scaleb(-UNIT_DIGITS))]
                for a in range(len(accounts)) if core.wallet[a, 0]]
    positions = []
    for i in range(n):
        mi, acct = int(p.market[i]), core.accounts[p.account[i]]
        sd, pdi = int(m.size_digits[mi]), int(m.price_digits[mi])
        positions.append([acct, m.symbols[mi], "both", str(Decimal(int(p.size[i])).scaleb(-sd)),
                          str(Decimal(int(p.entry[i])).scaleb(-pdi)), "isolated" if p.isolated[i] else "cross",
                          str(Decimal(int(p.leverage[i])).scaleb(-8))])
        if p.isolated[i]:
            balances.append([f"isolated:{acct}:{m.symbols[mi]}:both", "USDT",
                             str(Decimal(int(p.isolated_margin[i])).scaleb(-UNIT_DIGITS))])
    return Ledger.from_snapshot({
        "unit": "1e-8", "markets": {x["symbol"]: x for x in listings},
        "marks": {s: str(Decimal(int(m.mark[i])).scaleb(-int(m.price_digits[i]))) for i, s in enumerate(m.symbols)},
        "accounts": {a: False for a in accounts}, "balances": balances, "positions": positions, "leverage": [],
        "modes": [], "reserved": [], "liquidating": [], "deposits": {}, "withdrawals": {}, "events_applied": 0,
        "last_ts": 0})


def decimal_pass(led: Ledger, watches: list[WatchId]
                 ) -> tuple[float, float, dict[WatchId, tuple[Decimal, Decimal, str]]]:
    config = BandConfig()
    t0, c0 = time.perf_counter(), time.process_time()
    out = {}
    for w in watches:
        st = status(led, w)
        band = config.next_band(Band.HEALTHY, st.maintenance_margin, st.equity) if st.positions else Band.HEALTHY
        out[w] = (st.equity, st.maintenance_margin, band.label)
    return time.perf_counter() - t0, time.process_time() - c0, out


def takeover_closes(core: CoreState, res: Statuses, repeats: int) -> tuple[float, int, int, int]:
    """The waterfall's compiled part for every liquidatable watch of the tick, in the tick's order: the executor's
    fills (the engine's default: slippage 0.001, impact 0.0005 per million), the bankruptcy prices and the
    takeover close with its settlement against a fund of 1,000,000 USDT — isolated positions (``core.prices``,
    ``core.takeover``), then cross watches (``core.cross_takeover``). What the fund cannot take over is left for
    ADL (not compiled yet). Returns (seconds, watches, legs, taken over)."""
    w = core.watches
    liq = res.liquidatable
    iso = liq & w.isolated[res.watches]
    crs = liq & ~w.isolated[res.watches]
    rows = w.position[res.watches[iso]]
    cross = res.watches[crs].astype(np.int64)
    legs = np.concatenate([w.positions[w.ptr[x]:w.ptr[x + 1]] for x in cross]).astype(np.int64)
    times, taken = [], 0
    for _ in range(repeats + 1):  # the first run compiles (or loads the cache)
        core.system[SYSTEM_INSURANCE, 0] = 10**6 * 10**UNIT_DIGITS
        t0 = time.perf_counter()
        fills = executor_fills(core, rows, Decimal("0.001"), Decimal("0.0005"))
        bankruptcy_prices(core, rows, res.equity[iso])
        got = takeovers(core, rows, fills)
        core.system[SYSTEM_INSURANCE] = got.fund_after
        cross_fills = executor_fills(core, legs, Decimal("0.001"), Decimal("0.0005"))
        got_x = cross_takeovers(core, cross, cross_fills, res.equity[crs])
        times.append(time.perf_counter() - t0)
        taken = int(got.takeover.sum()) + int(got_x.takeover.sum())
    return statistics.median(times[1:]), len(rows) + len(cross), len(rows) + len(legs), taken


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--positions", type=int, default=1_000_000)
    ap.add_argument("--symbols", type=int, default=200)
    ap.add_argument("--sample", type=int, default=20_000, help="positions of the Decimal sample")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()

    t0 = time.perf_counter()
    core, listings = build(a.positions, a.symbols, a.seed)
    build_s = time.perf_counter() - t0
    base = core.markets.mark.copy()
    crash = crash_marks(core)
    tick(core, crash)  # compile (or load numba's cache) before timing
    times, cpu, res = [], [], None
    for _ in range(a.repeats):
        core.markets.mark[:] = base
        t0, c0 = time.perf_counter(), time.process_time()
        res = tick(core, crash)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    assert res is not None
    core_s = statistics.median(times)
    close_s, close_n, close_legs, close_taken = takeover_closes(core, res, a.repeats)

    # the Decimal reference on a sample, at the same crash marks
    led = sample_ledger(core, listings, a.sample)
    for s, price in crash.items():
        led.marks[s] = price
    sample_core = load(led)
    n_sw = len(sample_core.watches.isolated)
    sample = statuses(sample_core, np.arange(n_sw, dtype=np.int64))
    wids = []
    w, p = sample_core.watches, sample_core.positions
    for i in range(n_sw):
        acct = sample_core.accounts[w.account[i]]
        if w.isolated[i]:
            first = int(w.positions[w.ptr[i]])
            wids.append(WatchId.isolated(PositionKey(acct, sample_core.markets.symbols[p.market[first]])))
        else:
            wids.append(WatchId.cross(acct, "USDT"))
    dec_s, dec_cpu, ref = decimal_pass(led, wids)
    agrees = all(ref[wid] == (sample.equity_decimal(i), sample.mm_decimal(i), BANDS[sample.band[i]])
                 for i, wid in enumerate(wids))
    n_sample_pos = len(led.positions)
    extrapolated = dec_s * a.positions / n_sample_pos

    out = {
        "positions": a.positions, "symbols": a.symbols, "watches": len(core.watches.isolated),
        "build_s": round(build_s, 3), "core_tick_s": round(core_s, 4), "core_tick_runs_s": [round(t, 4) for t in times],
        "core_tick_cpu_s": round(statistics.median(cpu), 4),
        "liquidatable": int(res.liquidatable.sum()),
        "bands": {b: int((res.band == i).sum()) for i, b in enumerate(BANDS)},
        "decimal_sample_positions": n_sample_pos, "decimal_sample_s": round(dec_s, 3),
        "decimal_status_s_extrapolated": round(extrapolated, 2), "decimal_sample_cpu_s": round(dec_cpu, 3),
        "decimal_status_cpu_s_extrapolated": round(dec_cpu * a.positions / n_sample_pos, 2),
        "speedup": round(extrapolated / core_s, 1), "sample_agrees": agrees,
        "closes_watches": close_n, "closes_positions": close_legs, "closes_taken_over": close_taken,
        "closes_s": round(close_s, 4),
    }
    rows = [("positions / symbols / watches", f"{a.positions:,} / {a.symbols} / {out['watches']:,}"),
            ("core: −20 % tick of every symbol, status of every watch",
             f"{core_s:.4f} s (median of {a.repeats}; CPU {statistics.median(cpu):.4f} s)"),
            ("  liquidatable / bands", f"{out['liquidatable']:,} / {out['bands']}"),
            (f"Decimal status on {n_sample_pos:,} positions", f"{dec_s:.3f} s (CPU {dec_cpu:.3f} s)"),
            (f"Decimal status extrapolated to {a.positions:,}", f"{extrapolated:.2f} s (linear extrapolation)"),
            ("core equals Decimal on the sample", str(agrees)),
            ("core: every liquidatable watch closed (fills, bankruptcy prices, takeover and settlement)",
             f"{close_n:,} watches ({close_legs:,} positions) in {close_s:.4f} s, {close_taken:,} taken over by the "
             f"fund (median of {a.repeats})")]
    width = max(len(r[0]) for r in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")
    if a.json:
        print(json.dumps(out))


if __name__ == "__main__":
    main()

"""Fills through the core (issue #14): batches of 1,000 fills checked and written into the arrays
(``core.inputs.apply_batch``), against the Decimal ledger applying the same fills (``Ledger.apply``).

python benchmarks/core_inputs.py [--accounts A] [--batches B] [--seed S] [--json]

Book: A one-way accounts on 4 symbols (Binance BTCUSDT and ETHUSDT, generic SOLUSDT and XRPUSDT), each holding one
cross position on 2 of them at 20x and a wallet of 10,000 USDT, every symbol marked. Each batch of 1,000 fills,
drawn at random: 35 % increases at the entry price, 35 % reductions (a third of the position), 10 % closes, 20 %
opens of the account's third symbol at its mark (refused or not by the margin check) — the shapes a venue's flow
has, minus the averaged entries the core refuses by design. Compilation happens before the timed run.
``core_fills_per_s`` is the in-memory pass (no log, no durability); ``ledger_fills_per_s`` the Decimal ledger's
``apply`` on the same inputs (``…_per_cpu_s``: by the process's CPU time, for a loaded machine); ``states_agree``
compares the two after every batch.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import time
from decimal import Decimal
from typing import Any

from margincall.core.inputs import apply_batch
from margincall.core.loader import load, reference_values
from margincall.ledger import Ledger, Rejected

_GENERIC_TIERS = [{"floor": "0", "cap": "50000", "mmr": "0.01", "max_leverage": "50"},
                  {"floor": "50000", "cap": "500000", "mmr": "0.025", "max_leverage": "20"},
                  {"floor": "500000", "cap": None, "mmr": "0.05", "max_leverage": "10"}]
LISTINGS: dict[str, dict[str, Any]] = {
    "BTCUSDT": {"venue": "binance-usdm", "symbol": "BTCUSDT"},
    "ETHUSDT": {"venue": "binance-usdm", "symbol": "ETHUSDT"},
    "SOLUSDT": {"venue": "generic", "symbol": "SOLUSDT", "kind": "linear", "contract_size": "1", "tick_size": "0.01",
                "lot_size": "1", "settle_asset": "USDT", "tiers": _GENERIC_TIERS},
    "XRPUSDT": {"venue": "generic", "symbol": "XRPUSDT", "kind": "linear", "contract_size": "1",
                "tick_size": "0.0001", "lot_size": "0.1", "settle_asset": "USDT", "tiers": _GENERIC_TIERS},
}
SYMBOLS = {"BTCUSDT": ("60000", "0.001"), "ETHUSDT": ("3000", "0.001"), "SOLUSDT": ("150", "1"),
           "XRPUSDT": ("0.5", "0.1")}


def book(n_accounts: int, rng: random.Random) -> Ledger:
    syms = sorted(SYMBOLS)
    positions, balances, accounts = [], [], {}
    for a in range(n_accounts):
        acct = f"u{a:07d}"
        accounts[acct] = False
        balances.append([f"wallet:{acct}", "USDT", "10000"])
        for s in rng.sample(syms, 2):
            price, lot = SYMBOLS[s]
            lots = rng.randint(1, 50) * (1 if rng.random() < 0.5 else -1)
            positions.append([acct, s, "both", str(Decimal(lot) * lots), price, "cross", "20"])
    return Ledger.from_snapshot({
        "unit": "1e-8", "markets": {s: LISTINGS[s] for s in syms},
        "marks": {s: p for s, (p, _l) in SYMBOLS.items()}, "accounts": accounts, "balances": balances,
        "positions": positions, "leverage": [], "modes": [], "reserved": [], "liquidating": [], "deposits": {},
        "withdrawals": {}, "events_applied": 0, "last_ts": 0})


def batch(led: Ledger, rng: random.Random, ts: int, n: int = 1000) -> list[tuple[str, dict[str, Any], int]]:
    accounts = sorted(led.accounts)
    out = []
    for _ in range(n):
        acct = rng.choice(accounts)
        held = sorted(k.symbol for k in led.by_account[acct])
        r = rng.random()
        if not held or r >= 0.8:
            sym = rng.choice([s for s in SYMBOLS if s not in held] or list(SYMBOLS))
            price, lot = SYMBOLS[sym]
            side, size = rng.choice(["buy", "sell"]), Decimal(lot) * rng.randint(1, 20)
        else:
            sym = rng.choice(held)
            pos = led.positions[led.position_key(acct, sym, {})]
            price = str(pos.entry_price)
            lots = abs(pos.size) / Decimal(SYMBOLS[sym][1])
            if r < 0.35:
                side, size = ("buy" if pos.size > 0 else "sell"), Decimal(SYMBOLS[sym][1]) * rng.randint(1, 5)
            else:
                k = lots if r >= 0.7 else max(lots // 3, 1)
                side, size = ("sell" if pos.size > 0 else "buy"), Decimal(SYMBOLS[sym][1]) * k
        out.append(("fill", {"account": acct, "symbol": sym, "side": side, "size": str(size), "price": price}, ts))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--accounts", type=int, default=10_000)
    ap.add_argument("--batches", type=int, default=5)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    rng = random.Random(a.seed)
    led = book(a.accounts, rng)
    core = load(led)
    warm = load(book(3, random.Random(0)))
    apply_batch(warm, batch(book(3, random.Random(0)), random.Random(0), 1, 10))  # compile
    core_s = ledger_s = core_cpu = ledger_cpu = 0.0
    n = applied = 0
    agree = True
    for b in range(a.batches):
        events = batch(led, rng, b + 1)
        t, c = time.perf_counter(), time.process_time()
        core, outcomes = apply_batch(core, events)
        core_s += time.perf_counter() - t
        core_cpu += time.process_time() - c
        t, c = time.perf_counter(), time.process_time()
        for event_type, payload, ts in events:
            with contextlib.suppress(Rejected):
                led.apply(event_type, payload, ts)
        ledger_s += time.perf_counter() - t
        ledger_cpu += time.process_time() - c
        n += len(events)
        applied += sum(o is None for o in outcomes)
        back = reference_values(core)
        agree = agree and back["balances"] == led.balances and len(back["positions"]) == len(led.positions)
    out = {"accounts": a.accounts, "positions": len(led.positions), "fills": n, "applied": applied,
           "core_fills_per_s": round(n / core_s), "ledger_fills_per_s": round(n / ledger_s),
           "core_fills_per_cpu_s": round(n / core_cpu), "ledger_fills_per_cpu_s": round(n / ledger_cpu),
           "states_agree": agree}
    width = max(map(len, out))
    for k, v in out.items():
        print(f"{k:<{width}}  {v}")
    if a.json:
        print(json.dumps(out))


if __name__ == "__main__":
    main()

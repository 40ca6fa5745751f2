"""Float screens against the exact Decimal path, and the band index against the full re-screen.

The key property (issue #4 item 3): after any sequence of marks, the entries flagged by
"index candidates → evaluate → re-band" are exactly those the full re-screen flags.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import numpy as np
from hypothesis import event, given, settings
from hypothesis import strategies as st

from margincall.math.contracts import pnl_of
from margincall.math.margin import maintenance_margin
from margincall.model import ContractKind
from margincall.model.tiers import TierTable
from margincall.risk.screening.band_index import BandIndex
from margincall.risk.screening.book import RiskBook
from margincall.risk.screening.screen import evaluate_accounts, evaluate_isolated, full_screen
from margincall.venues.tables import (
    BINANCE_USDM_BTCUSDT_2021,
    BINANCE_USDM_BTCUSDT_2024,
    BINANCE_USDM_ETHUSDT_2021,
    BYBIT_LINEAR_BTCUSDT_2026,
    DYDX_LARGE_CAP,
    HYPERLIQUID_BTC,
    HYPERLIQUID_SOL,
)

TABLES = [
    BINANCE_USDM_BTCUSDT_2024,
    BINANCE_USDM_BTCUSDT_2021,
    BINANCE_USDM_ETHUSDT_2021,
    BYBIT_LINEAR_BTCUSDT_2026,
    HYPERLIQUID_BTC,
    HYPERLIQUID_SOL,
    DYDX_LARGE_CAP,
]

places = st.decimals
symbol_st = st.tuples(
    st.integers(0, len(TABLES) - 1), st.booleans(), places(Decimal("1"), Decimal("100000"), places=2)
)
account_st = st.tuples(places(Decimal("-1000"), Decimal("2000000"), places=2), st.sampled_from([1.0, 1.25]))
position_st = st.tuples(
    st.integers(0, 5),  # account
    st.integers(0, 3),  # symbol
    st.sampled_from([1, -1]),
    places(Decimal("0.001"), Decimal("3000"), places=3),  # base quantity (inverse: × mark → USD face value)
    places(Decimal("-0.3"), Decimal("0.3"), places=3),  # entry = mark × (1 + this)
    st.booleans(),  # isolated
    places(Decimal("1"), Decimal("100"), places=1),  # leverage (isolated margin = entry notional / leverage)
    st.sampled_from([0, 0, 1]),  # 1: hedge-mode leg (leg = sign)
)


@dataclass
class Spec:
    kinds: list[ContractKind]
    tables: list[TierTable]
    marks: list[Decimal]
    wallets: list[Decimal]
    # slot -> (account, symbol, sign, qty, entry, isolated, margin)
    positions: dict[int, tuple[int, int, int, Decimal, Decimal, bool, Decimal]]


def build(symbols, accounts, positions) -> tuple[RiskBook, Spec]:
    book = RiskBook(capacity=16)
    spec = Spec([], [], [], [], {})
    for j, (t, inv, mark) in enumerate(symbols):
        book.add_symbol(f"S{j}", TABLES[t], inverse=inv)
        book.set_mark(j, float(mark))
        spec.kinds.append(ContractKind.INVERSE if inv else ContractKind.LINEAR)
        spec.tables.append(TABLES[t])
        spec.marks.append(mark)
    for j, (wallet, k_down) in enumerate(accounts):
        book.add_account(f"A{j}")
        book.set_wallet(j, float(wallet))
        book.set_thresholds(j, k_down, 1.5 if j % 2 else 0.0)
        spec.wallets.append(wallet)
    for a, s, sign, base, shift, iso, lev, hedge in positions:
        a, s = a % len(accounts), s % len(symbols)
        mark = spec.marks[s]
        entry = (mark * (1 + shift)).quantize(Decimal("0.01")) or Decimal("0.01")
        qty = base * mark if spec.kinds[s] is ContractKind.INVERSE else base
        notional = qty / entry if spec.kinds[s] is ContractKind.INVERSE else qty * entry
        margin = notional / lev if iso else Decimal(0)
        slot = book.upsert_position(a, s, sign, float(qty), float(entry), iso, float(margin), sign if hedge else 0)
        if iso:
            book.set_position_thresholds(slot, 1.25 if slot % 3 == 0 else 1.0, 1.5 if slot % 2 else 0.0)
        spec.positions[slot] = (a, s, sign, qty, entry, iso, margin)
    return book, spec


def exact_entry(spec: Spec, slots: list[int], base: Decimal) -> tuple[Decimal, Decimal, Decimal]:
    """Decimal equity, MM and the sum of the terms' magnitudes (the scale of the relative error)."""
    equity, mm, scale = base, Decimal(0), abs(base)
    for i in slots:
        _, s, sign, qty, entry, _, _ = spec.positions[i]
        pnl = pnl_of(spec.kinds[s], sign, qty, entry, spec.marks[s])
        m = maintenance_margin(spec.tables[s], spec.kinds[s], qty, spec.marks[s])
        equity += pnl
        mm += m
        scale += abs(pnl) + m
    return equity, mm, scale


@settings(max_examples=150, deadline=None)
@given(
    st.lists(symbol_st, min_size=1, max_size=4),
    st.lists(account_st, min_size=1, max_size=6),
    st.lists(position_st, min_size=1, max_size=25),
)
def test_screen_equals_decimal_and_subsets_are_bit_identical(symbols, accounts, positions):
    book, spec = build(symbols, accounts, positions)
    res = full_screen(book)
    for a in range(len(accounts)):
        cross = [i for i, p in spec.positions.items() if p[0] == a and not p[5]]
        eq, mm, scale = exact_entry(spec, cross, spec.wallets[a])
        # Relative error < 1e-9 of the magnitudes summed (equity may cancel to ~0; MM is a sum of positives).
        assert abs(res.account_equity[a] - float(eq)) <= 1e-9 * float(max(scale, Decimal(1)))
        assert abs(res.account_mm[a] - float(mm)) <= 1e-9 * float(max(mm, Decimal(1)))
    for i, (_, _, _, _, _, iso, margin) in spec.positions.items():
        eq, mm, scale = exact_entry(spec, [i], margin)
        assert abs(res.position_mm[i] - float(mm)) <= 1e-9 * float(max(mm, Decimal(1)))
        if iso:
            assert abs(res.position_equity[i] - float(eq)) <= 1e-9 * float(max(scale, Decimal(1)))
    # The subset kernels give the very same floats (same per-position kernel, same summation order).
    ev = evaluate_accounts(book, np.arange(len(accounts)))
    assert np.array_equal(ev.equity, res.account_equity) and np.array_equal(ev.mm, res.account_mm)
    watched = book.n_cross[: len(accounts)] > 0
    assert set(np.flatnonzero(ev.flagged & watched)) == set(res.flagged_accounts)
    assert set(np.flatnonzero(ev.recovered & watched)) == set(res.recovered_accounts)
    iso_slots = book.isolated_slots()
    ei = evaluate_isolated(book, iso_slots)
    assert np.array_equal(ei.equity, res.position_equity[iso_slots])
    assert np.array_equal(ei.mm, res.position_mm[iso_slots])
    assert set(iso_slots[ei.flagged]) == set(res.flagged_slots)
    assert set(iso_slots[ei.recovered]) == set(res.recovered_slots)


# ------------------------------------------------------------------------------- incremental vs full
class Tracker:
    """The incremental path as the engine runs it: candidates → evaluate → (state machine) → re-band."""

    def __init__(self, book: RiskBook, pending: int = 2) -> None:
        self.book = book
        self.index = BandIndex(book, pending=pending)
        self.index.rebuild_all()
        self.state: dict[tuple[str, int], tuple[bool, bool]] = {}
        self.ticks_with_candidates = 0
        self.flag_changes = 0
        self.last_flagged: set[tuple[str, int]] = set()
        res = full_screen(book)
        for a in book.cross_accounts():
            self.state["a", int(a)] = (int(a) in set(res.flagged_accounts), int(a) in set(res.recovered_accounts))
        for i in book.isolated_slots():
            self.state["s", int(i)] = (int(i) in set(res.flagged_slots), int(i) in set(res.recovered_slots))

    def brute_candidates(self, s: int, p: float) -> set[tuple[str, int]]:
        out = set()
        for kind, ident in self.state:
            bands = self.index.bands(account=ident) if kind == "a" else self.index.bands(slot=ident)
            if s in bands and not bands[s][0] < p < bands[s][1]:
                out.add((kind, ident))
        return out

    def evaluate(self, accounts, slots) -> None:
        ea = evaluate_accounts(self.book, accounts)
        es = evaluate_isolated(self.book, slots)
        for a, down, up in zip(ea.ids, ea.flagged, ea.recovered, strict=True):
            self.state["a", int(a)] = (bool(down), bool(up))
        for i, down, up in zip(es.ids, es.flagged, es.recovered, strict=True):
            self.state["s", int(i)] = (bool(down), bool(up))

    def step_machine(self) -> None:
        """A two-state margin-call machine: healthy (k_down 1.25) ⇄ warned (k_down 1, k_up 1.25)."""
        moved_a, moved_s = [], []
        for (kind, ident), (down, up) in list(self.state.items()):
            kd = self.book.k_down[ident] if kind == "a" else self.book.pos_k_down[ident]
            if down and kd == 1.25:
                new = (1.0, 1.25)
            elif up and kd == 1.0:
                new = (1.25, 0.0)
            else:
                continue
            if kind == "a":
                self.book.set_thresholds(ident, *new)
                moved_a.append(ident)
            else:
                self.book.set_position_thresholds(ident, *new)
                moved_s.append(ident)
        self.evaluate(moved_a, moved_s)
        self.index.rebuild(moved_a, moved_s)

    def tick(self, s: int, p: float, fused: bool = False) -> None:
        expected = self.brute_candidates(s, p)
        if fused:  # BandIndex.tick: query, evaluate and re-band in one kernel call
            r = self.index.tick(s, p)
            accounts, slots = r.accounts.ids, r.slots.ids
            for a, down, up in zip(accounts, r.accounts.flagged, r.accounts.recovered, strict=True):
                self.state["a", int(a)] = (bool(down), bool(up))
            for i, down, up in zip(slots, r.slots.flagged, r.slots.recovered, strict=True):
                self.state["s", int(i)] = (bool(down), bool(up))
        else:
            self.book.set_mark(s, p)
            c = self.index.on_tick(s, p)
            accounts, slots = c.accounts, c.slots
            self.evaluate(accounts, slots)
            self.index.rebuild(accounts, slots)
        self.ticks_with_candidates += bool(len(accounts) or len(slots))
        got = {("a", int(a)) for a in accounts} | {("s", int(i)) for i in slots}
        assert len(got) == len(accounts) + len(slots)  # no duplicates
        assert got == expected  # exactly the entries whose band on s the price left
        self.check()
        self.step_machine()
        self.check()

    def check(self) -> None:
        flagged = {key for key, (d, _) in self.state.items() if d}
        self.flag_changes += len(flagged ^ self.last_flagged)
        self.last_flagged = flagged
        res = full_screen(self.book)
        assert {i for (k, i), (d, _) in self.state.items() if k == "a" and d} == set(res.flagged_accounts.tolist())
        assert {i for (k, i), (_, u) in self.state.items() if k == "a" and u} == set(res.recovered_accounts.tolist())
        assert {i for (k, i), (d, _) in self.state.items() if k == "s" and d} == set(res.flagged_slots.tolist())
        assert {i for (k, i), (_, u) in self.state.items() if k == "s" and u} == set(res.recovered_slots.tolist())


move_st = st.tuples(
    st.integers(0, 3),
    st.sampled_from(["walk", "walk", "jump", "edge", "wallet", "remove"]),
    st.floats(-1.0, 1.0),
    st.integers(0, 1000),
)


@settings(max_examples=120, deadline=None)
@given(
    st.lists(symbol_st, min_size=1, max_size=4),
    st.lists(account_st, min_size=1, max_size=6),
    st.lists(position_st, min_size=1, max_size=25),
    st.lists(move_st, min_size=1, max_size=40),
)
def test_incremental_flags_equal_full_rescreen(symbols, accounts, positions, moves):
    book, _ = build(symbols, accounts, positions)
    tr = Tracker(book)
    tr.check()
    for sym, kind, x, pick in moves:
        s = sym % book.n_symbols
        p = float(book.mark[s])
        if kind == "walk":
            p *= 1 + 0.02 * x
        elif kind == "jump":
            p *= 1 + 0.5 * x
        elif kind == "edge":  # exactly onto some entry's band edge: p <= lo / p >= hi are candidates
            edges = []
            for k, ident in sorted(tr.state):
                edges += tr.index.bands(account=ident).get(s, ()) if k == "a" else tr.index.bands(slot=ident).get(s, ())
            finite = [e for e in edges if 0 < e < 1e12]
            if finite:
                p = finite[pick % len(finite)]
        elif kind == "wallet":
            a = pick % book.n_accounts
            book.set_wallet(a, float(book.wallet[a]) * (1 + x))
            tr.evaluate([a], [])
            if book.n_cross[a] == 0:
                tr.state.pop(("a", a), None)
            tr.index.rebuild([a], [])
            tr.check()
            continue
        elif kind == "remove":
            live = np.flatnonzero(book.active[: book.n_slots])
            if len(live) > 1:
                i = int(live[pick % len(live)])
                a, iso = int(book.account[i]), bool(book.isolated[i])
                book.remove_position(i)
                if iso:
                    tr.index.remove([], [i])
                    del tr.state["s", i]
                else:
                    tr.index.rebuild([a], [])
                    if book.n_cross[a] == 0:
                        del tr.state["a", a]
                    else:
                        tr.evaluate([a], [])
                tr.check()
            continue
        tr.tick(s, max(p, 1e-6), fused=pick % 2 == 1)
    event(f"flag changes (capped at 3): {min(tr.flag_changes, 3)}")


def test_incremental_equals_full_on_a_larger_random_book():
    rng = np.random.default_rng(11)
    book = RiskBook()
    n_sym, n_acc, n = 12, 300, 3000
    for s in range(n_sym):
        book.add_symbol(f"S{s}", TABLES[s % len(TABLES)], inverse=s % 4 == 3)
        book.set_mark(s, float(rng.uniform(10, 50000)))
    book.add_accounts([f"A{a}" for a in range(n_acc)])
    acc = np.repeat(np.arange(n_acc), n // n_acc)
    sym = (rng.integers(0, n_sym, n_acc)[acc] + np.tile(np.arange(n // n_acc), n_acc)) % n_sym
    iso = rng.random(n) < 0.3
    legs = np.zeros(n, dtype=np.int64)
    sign = rng.choice([-1.0, 1.0], n)
    mark = book.mark[sym]
    entry = mark * rng.uniform(0.97, 1.03, n)
    notional = rng.uniform(100, 2e6, n)
    inv = book.inverse[sym]
    qty = np.where(inv, notional, notional / entry)  # inverse: USD face value (coin notional ≈ notional / entry)
    lev = rng.uniform(2, 60, n)
    margin = np.where(iso, np.where(inv, qty / entry, qty * entry) / lev, 0.0)
    book.add_positions(acc, sym, sign, qty, entry, iso, margin, legs)
    cross_notional = np.bincount(acc[~iso], (np.where(inv, qty / entry, qty * entry) / lev)[~iso], n_acc)
    book.set_wallets(np.arange(n_acc), cross_notional)
    for a in range(0, n_acc, 3):
        book.set_thresholds(a, 1.25)
    tr = Tracker(book, pending=16)
    for _ in range(300):
        s = int(rng.integers(n_sym))
        step = rng.normal(0, 0.004) if rng.random() < 0.9 else rng.normal(0, 0.08)
        tr.tick(s, float(book.mark[s] * np.exp(step)), fused=bool(rng.random() < 0.5))
    assert tr.flag_changes > 20  # the walk did take entries through thresholds, both ways


def test_seed_example_bands_and_transitions():
    # 1 BTC long at 10,000, cross, wallet 1,000, MMR 2 % flat (the README's seed example):
    # f(p) = equity − k·MM = 1,000 + (p − 10,000) − k·0.02·p.
    # k = 1.25 (margin call): 0.975·p = 9,000 → p = 9,230.769…;
    # k = 1 (liquidation):   0.98·p = 9,000 → p = 9,000/0.98 = 9,183.673469…
    # At 10,000 the slack is f = 1,000 − 250 = 750 (k 1.25), slope |1 − 0.025| = 0.975, so the band's low edge is
    # 10,000 − 750/0.975 = 9,230.769… — the threshold itself, plus the float allowance.
    margin_call, liquidation = 9000 / 0.975, 9000 / 0.98
    book = RiskBook()
    s = book.add_symbol("BTCUSDT", TierTable.single("0.02"))
    book.set_mark(s, 10000.0)
    a = book.add_account("seed")
    book.set_wallet(a, 1000.0)
    book.set_thresholds(a, 1.25)
    book.upsert_position(a, s, 1, 1.0, 10000.0)
    index = BandIndex(book)
    index.rebuild_all()
    lo, hi = index.bands(account=a)[s]
    assert margin_call < lo < margin_call + 1e-4  # the band stops just short of the threshold
    assert abs(hi - (10000 + 750 / 0.975)) < 1e-4  # f rises by 0.975 per dollar: recovery is not a state here
    assert not index.tick(s, 9300.0).accounts.ids.size  # inside the band: not looked at
    assert not index.tick(s, 9230.78).accounts.ids.size  # f = 0.975·9,230.78 − 9,000 = +0.0105
    t = index.tick(s, 9230.76)  # f = −0.0090: the margin call
    assert t.accounts.ids.tolist() == [a] and t.accounts.flagged.tolist() == [True]
    assert full_screen(book).flagged_accounts.tolist() == [a]
    # The engine moves the account to "warned": liquidation at k = 1, back to healthy above k = 1.25. At 9,230.76
    # f(1) = 1,000 − 769.24 − 184.6152 = 46.14 and f(1.25) = −0.009: the band is the smaller slack, 0.009 over
    # the steeper slope max(|1 − 0.02|, |1 − 0.025|) = 0.98, so it ends just short of the margin-call price.
    book.set_thresholds(a, 1.0, 1.25)
    index.rebuild([a])
    lo, hi = index.bands(account=a)[s]
    assert abs(lo - (9230.76 - 0.009 / 0.98)) < 1e-5 and margin_call - 1e-4 < hi < margin_call
    t = index.tick(s, 9200.0)  # f(1) = 1,000 − 800 − 184 = 16 > 0, f(1.25) = −30: still warned
    assert t.accounts.ids.tolist() == [a] and not t.accounts.flagged[0] and not t.accounts.recovered[0]
    # Now the slack is 16 over 0.98: the low edge is 9,200 − 16/0.98 = 9,183.673…, the liquidation price.
    lo, hi = index.bands(account=a)[s]
    assert liquidation < lo < liquidation + 1e-4 and abs(hi - (9200 + 16 / 0.98)) < 1e-4
    assert not index.tick(s, 9183.68).accounts.ids.size  # f = 1,000 − 816.32 − 183.6736 = +0.0064
    t = index.tick(s, 9183.67)  # f = 1,000 − 816.33 − 183.6734 = −0.0034: liquidation
    assert t.accounts.flagged.tolist() == [True]
    assert full_screen(book).flagged_accounts.tolist() == [a]
    t = index.tick(s, 9240.0)  # f(1.25) = 0.975·9,240 − 9,000 = +9: recovered
    assert t.accounts.recovered.tolist() == [True] and full_screen(book).recovered_accounts.tolist() == [a]


def test_isolated_and_inverse_bands_sit_on_the_thresholds():
    # Isolated 1 BTC long at 10,000 with 1,000 margin, MMR 2 %: the same f as the cross seed, liquidation at
    # 9,000/0.98 = 9,183.67…; the band's high edge is 10,000 + 800/0.98.
    # Inverse: 10,000 USD face long at 10,000 (1 BTC), wallet 0.1 BTC, MMR 2 %: in u = 1/p,
    # f = 0.1 + 10,000·(1/10,000 − u) − 0.02·10,000·u = 1.1 − 10,200·u = 0 at p = 10,200/1.1 = 9,272.727…
    book = RiskBook()
    lin = book.add_symbol("BTCUSDT", TierTable.single("0.02"))
    inv = book.add_symbol("BTCUSD", TierTable.single("0.02"), inverse=True)
    book.set_mark(lin, 10000.0)
    book.set_mark(inv, 10000.0)
    a, b = book.add_accounts(["iso", "coin"])
    iso = book.upsert_position(int(a), lin, 1, 1.0, 10000.0, isolated=True, margin=1000.0)
    book.set_wallet(int(b), 0.1)
    book.upsert_position(int(b), inv, 1, 10000.0, 10000.0)
    index = BandIndex(book)
    index.rebuild_all()
    lo, hi = index.bands(slot=iso)[lin]
    assert 9000 / 0.98 < lo < 9000 / 0.98 + 1e-4 and abs(hi - (10000 + 800 / 0.98)) < 1e-4
    lo, hi = index.bands(account=int(b))[inv]
    # slack 1.1 − 1.02 = 0.08 at u = 1e-4; r = 0.08/(10,200·1e-4); high edge p/(1 − r) = 10,200/0.94.
    assert 10200 / 1.1 < lo < 10200 / 1.1 + 1e-3 and abs(hi - 10200 / 0.94) < 1e-3
    t = index.tick(inv, 9272.8)  # f = 1.1 − 10,200/9,272.8 = +0.0000086
    assert not t.accounts.ids.size
    t = index.tick(inv, 9272.7)
    assert t.accounts.flagged.tolist() == [True]
    t = index.tick(lin, 9183.6)
    assert t.slots.ids.tolist() == [iso] and t.slots.flagged.tolist() == [True]
    res = full_screen(book)
    assert res.flagged_accounts.tolist() == [int(b)] and res.flagged_slots.tolist() == [iso]
    index.remove(slots=[iso])
    assert index.bands(slot=iso) == {} and not index.on_tick(lin, 1.0).slots.size

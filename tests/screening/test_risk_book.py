"""RiskBook: symbols, accounts, positions in slots with a free list, sorted per-account lists, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from margincall.model.errors import InvalidNumber, MarginCallError, TierTableError, UnknownSymbol
from margincall.model.tiers import TierTable
from margincall.risk.screening.book import DuplicateId, RiskBook, UnknownAccount, UnknownPosition
from margincall.venues.tables import BINANCE_USDM_BTCUSDT_2024, HYPERLIQUID_BTC, OKX_ETH_USDT_SWAP_2021


def small_book() -> RiskBook:
    book = RiskBook("USDT", capacity=16)
    book.add_symbol("BTCUSDT", BINANCE_USDM_BTCUSDT_2024)
    book.add_symbol("BTC", HYPERLIQUID_BTC)
    book.add_account("alice")
    book.add_account("bob")
    return book


def test_symbols_and_tier_rows():
    book = small_book()
    eth = book.add_symbol("ETHUSDT", BINANCE_USDM_BTCUSDT_2024, inverse=False)
    assert book.symbol_id("ETHUSDT") == eth == 2
    # The same table object shares one row of the padded tier arrays.
    assert book.sym_table[eth] == book.sym_table[0] == 0 and book.sym_table[1] == 1
    # BTCUSDT 2024 rates run from 0.4 % (tier 1) to 50 % (tier 12); Hyperliquid BTC 1/80 and 1/40.
    assert book.min_mmr[0] == 0.004 and book.max_mmr[0] == 0.5
    assert book.min_mmr[1] == 0.0125 and book.max_mmr[1] == 0.025
    assert book.max_jump[0] < 1e-6  # derived amounts: continuous up to float rounding
    assert np.isnan(book.mark[eth])
    with pytest.raises(DuplicateId):
        book.add_symbol("ETHUSDT", BINANCE_USDM_BTCUSDT_2024)
    with pytest.raises(TierTableError):  # OKX tiers are whole-position, keyed on contracts
        book.add_symbol("ETH-USDT-SWAP", OKX_ETH_USDT_SWAP_2021)
    with pytest.raises(UnknownSymbol) as err:
        book.symbol_id("DOGE")
    assert err.value.code == "unknown_symbol"


def test_marks_reject_bad_prices():
    book = small_book()
    book.set_mark(0, 30000)
    assert book.mark[0] == 30000.0
    for bad in (float("nan"), float("inf"), 0.0, -1.0):
        with pytest.raises(InvalidNumber) as err:
            book.set_mark(0, bad)
        assert err.value.field == "mark"
    with pytest.raises(UnknownSymbol):
        book.set_mark(7, 100.0)
    book.upsert_position(0, 1, 1, 1.0, 100.0)
    with pytest.raises(MarginCallError) as err2:
        book.check_marks()  # BTC has a position but no mark
    assert err2.value.code == "no_mark"


def test_accounts():
    book = small_book()
    assert book.account_id("bob") == 1
    with pytest.raises(DuplicateId):
        book.add_account("alice")
    with pytest.raises(UnknownAccount) as err:
        book.account_id("carol")
    assert err.value.code == "unknown_account"
    book.set_wallet(1, -5.5)
    assert book.wallet[1] == -5.5
    with pytest.raises(InvalidNumber):
        book.set_wallet(1, float("nan"))
    with pytest.raises(UnknownAccount):
        book.set_wallet(2, 1.0)
    book.set_thresholds(0, 1.25, 0.0)
    assert (book.k_down[0], book.k_up[0]) == (1.25, 0.0)
    with pytest.raises(InvalidNumber):
        book.set_thresholds(0, 1.25, 1.1)  # the better state's threshold cannot be below the worse one's
    ids = book.add_accounts([f"u{i}" for i in range(100)])  # grows past the initial capacity
    assert ids[0] == 2 and ids[-1] == 101 and book.k_down[101] == 1.0 and book.head[101] == -1


def test_upsert_update_hedge_and_modes():
    book = small_book()
    a = book.upsert_position(0, 0, 1, 2.0, 30000.0)
    assert book.upsert_position(0, 0, -1, 3.0, 31000.0) == a  # one-way: same slot, the side flips
    assert (book.sign[a], book.qty[a], book.entry[a]) == (-1.0, 3.0, 31000.0)
    iso = book.upsert_position(0, 0, 1, 1.0, 30000.0, isolated=True, margin=300.0)
    long_leg = book.upsert_position(0, 0, 1, 1.0, 30000.0, leg=1)
    short_leg = book.upsert_position(0, 0, -1, 1.0, 30500.0, leg=-1)
    assert len({a, iso, long_leg, short_leg}) == 4
    assert book.slot_of(0, 0, isolated=True) == iso and book.slot_of(0, 0, leg=-1) == short_leg
    assert book.n_cross[0] == 3 and book.sym_count[0] == 4
    assert book.slots_of(0) == sorted([a, iso, long_leg, short_leg])
    with pytest.raises(MarginCallError):
        book.upsert_position(0, 0, -1, 1.0, 30000.0, leg=1)  # a long leg cannot be short
    with pytest.raises(InvalidNumber):
        book.upsert_position(0, 0, 1, 1.0, 30000.0, margin=10.0)  # cross carries no isolated margin
    for field, kwargs in (
        ("qty", {"qty": 0.0}),
        ("qty", {"qty": float("nan")}),
        ("entry", {"entry": -1.0}),
        ("margin", {"isolated": True, "margin": -1.0}),
    ):
        args = {"qty": 1.0, "entry": 100.0, "isolated": False, "margin": 0.0} | kwargs
        with pytest.raises(InvalidNumber) as err:
            book.upsert_position(1, 0, 1, args["qty"], args["entry"], args["isolated"], args["margin"])
        assert err.value.field == field
    with pytest.raises(MarginCallError):
        book.upsert_position(1, 0, 0, 1.0, 100.0)
    with pytest.raises(UnknownSymbol):
        book.upsert_position(1, 5, 1, 1.0, 100.0)
    with pytest.raises(UnknownAccount):
        book.upsert_position(9, 0, 1, 1.0, 100.0)


def test_remove_reuses_slots_and_keeps_lists_sorted():
    book = small_book()
    slots = [book.upsert_position(i % 2, i % 2, 1, 1.0 + i, 100.0, isolated=i >= 2, margin=10.0 * (i >= 2))
             for i in range(4)]  # fmt: skip
    assert slots == [0, 1, 2, 3]
    assert book.slots_of(0) == [0, 2] and book.slots_of(1) == [1, 3]
    book.remove_position(0)
    assert book.slots_of(0) == [2] and not book.active[0] and book.n_cross[0] == 0 and book.sym_count[0] == 1
    with pytest.raises(UnknownPosition):
        book.remove_position(0)
    # Slot 0 is reused by bob's new position and must come first in bob's list.
    s = book.upsert_position(1, 0, -1, 5.0, 100.0)
    assert s == 0 and book.slots_of(1) == [0, 1, 3]
    assert book.head[1] == 0 and book.tail[1] == 3 and book.prv[1] == 0 and book.nxt[0] == 1
    book.remove_position(3)
    book.remove_position(0)
    assert book.slots_of(1) == [1] and book.head[1] == book.tail[1] == 1
    assert book.n_active == 2


def test_bulk_load_equals_upserts_and_rejects_duplicates():
    rng = np.random.default_rng(3)
    n = 300
    acc = rng.integers(0, 20, n)
    sym = rng.integers(0, 2, n)
    iso = rng.random(n) < 0.3
    legs = rng.choice([0, 1, -1], n)
    keys = set()
    keep = []
    for j in range(n):  # drop repeats of (account, symbol, mode, leg)
        k = (acc[j], sym[j], iso[j], legs[j])
        if k not in keys:
            keys.add(k)
            keep.append(j)
    keep_a = np.array(keep)
    acc, sym, iso, legs = acc[keep_a], sym[keep_a], iso[keep_a], legs[keep_a]
    m = len(keep_a)
    signs = np.where(legs != 0, legs, rng.choice([1, -1], m)).astype(float)
    qty = rng.uniform(0.1, 5, m)
    entry = rng.uniform(100, 200, m)
    margin = np.where(iso, 50.0, 0.0)

    bulk = RiskBook(capacity=16)
    seq = RiskBook(capacity=16)
    for b in (bulk, seq):
        b.add_symbol("X", HYPERLIQUID_BTC)
        b.add_symbol("Y", BINANCE_USDM_BTCUSDT_2024)
        b.add_accounts([f"a{i}" for i in range(20)])
    first = bulk.upsert_position(3, 0, 1, 1.0, 150.0, leg=1)
    first_seq = seq.upsert_position(3, 0, 1, 1.0, 150.0, leg=1)
    clash = (acc == 3) & (sym == 0) & ~iso & (legs == 1)
    with pytest.raises(DuplicateId):  # (alice-3, X, cross, long leg) exists already
        bulk.add_positions(
            np.array([3]), np.array([0]), np.array([1.0]), np.array([1.0]), np.array([1.0]), np.array([False]),
            np.array([0.0]), np.array([1]),
        )  # fmt: skip
    ok = ~clash
    slots = bulk.add_positions(acc[ok], sym[ok], signs[ok], qty[ok], entry[ok], iso[ok], margin[ok], legs[ok])
    seq_slots = [
        seq.upsert_position(int(acc[j]), int(sym[j]), int(signs[j]), qty[j], entry[j], bool(iso[j]), margin[j],
                            int(legs[j]))
        for j in np.flatnonzero(ok)
    ]  # fmt: skip
    assert slots.tolist() == seq_slots and first == first_seq
    for name in ("account", "symbol", "sign", "qty", "entry", "isolated", "margin", "leg", "active", "nxt", "prv"):
        np.testing.assert_array_equal(getattr(bulk, name)[: bulk.n_slots], getattr(seq, name)[: seq.n_slots])
    for name in ("head", "tail", "n_cross"):
        np.testing.assert_array_equal(getattr(bulk, name)[:20], getattr(seq, name)[:20])
    np.testing.assert_array_equal(bulk.sym_count[:2], seq.sym_count[:2])
    for a in range(20):
        assert bulk.slots_of(a) == sorted(bulk.slots_of(a))
    with pytest.raises(DuplicateId):  # the same batch twice
        bulk.add_positions(acc[ok], sym[ok], signs[ok], qty[ok], entry[ok], iso[ok], margin[ok], legs[ok])
    with pytest.raises(InvalidNumber):
        bulk.add_positions(
            np.array([0]), np.array([1]), np.array([1.0]), np.array([np.nan]), np.array([1.0]),
            np.array([False]), np.array([0.0]),
        )  # fmt: skip


def test_single_tier_table_has_no_jump():
    book = RiskBook()
    s = book.add_symbol("S", TierTable.single("0.02", "16300"))
    assert book.max_jump[s] == 0.0 and book.min_mmr[s] == book.max_mmr[s] == 0.02

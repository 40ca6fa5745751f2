"""Per-tick index of safe price bands, so a mark tick touches only the entries that may change state (issue #4 item 3).

An *entry* is a cross account (its cross positions) or one isolated position. Its state is the sign of
``f_k = equity − k·MM`` for ``k = k_down`` (flagged when ``f ≤ 0``) and, when set, ``k = k_up`` (recovered when
``f > 0``); see :mod:`margincall.risk.screening.book`. For every symbol ``s`` it holds, the entry gets a band
``(lo_s, hi_s)`` around the mark such that while every mark stays strictly inside its band, no ``f_k`` can change
sign — so the state cannot change and the entry need not be looked at.

The slack method. At the marks ``P`` when the band is built, ``slack = min_k |f_k(P)|``. For linear contracts
``∂f/∂P_s = A_s − k·M_s`` with ``A_s = Σ s·Q`` (uPnL is linear in ``P``) and ``M_s = Σ Q·mmr_tier`` (tiered MM
is continuous and piecewise linear in the notional, slope ``mmr_k``, docs/venues.md §2.1), so with
``M_s ∈ [Σ Q·min_mmr_s, Σ Q·max_mmr_s]`` the slope is bounded by ``L_s = max |A_s − k·M_s|`` over the two ends
and both ``k`` (never more than the cruder ``|A_s| + k·Σ Q·max_mmr_s``). For inverse contracts the same holds in
``u = 1/P`` with ``A_s = −Σ s·Q`` (uPnL ``s·Q·(1/EP − u)``, notional ``Q·u``). So ``|Δf| ≤ Σ_s L_s·|Δx_s|``
(``x = P`` or ``1/P``). Splitting the slack in proportion to ``L_s·x_s`` gives every symbol the same relative
half-width ``r = slack' / Σ_s L_s·x_s``: the band is ``P·(1 ± r)`` (linear) or ``P/(1 ± r)`` (inverse); for one
position in one tier it ends exactly at the threshold price. ``slack'`` is the slack less a float allowance
(``1e-10`` of the magnitude of the terms, plus the tables' float discontinuities at tier floors) and ``r`` is
shrunk by ``1e-9``, so the float screen of :mod:`margincall.risk.screening.screen` cannot see a state change
inside a band.
Zero slack gives an empty band (the entry is a candidate on every tick of its symbols).

Storage: a record per (entry, symbol) band; per symbol the records sorted by ``lo`` and by ``hi`` (numpy arrays),
plus a small unsorted pending buffer merged in when full. Re-banding an entry bumps its stamp, so its old records
are dropped lazily (skipped by queries, removed at the next merge). A tick on ``s`` at price ``p`` binary-searches
``lo ≥ p`` and ``hi ≤ p`` and scans the pending buffer: exactly the entries whose band on ``s`` the price left.

The caller keeps the index in step with the book: after :meth:`RiskBook.set_mark` call :meth:`BandIndex.on_tick`,
evaluate the candidates (:func:`~margincall.risk.screening.screen.evaluate_accounts`/``evaluate_isolated``) and
:meth:`BandIndex.rebuild` them (:meth:`BandIndex.tick` does all of it in one kernel call); after any change to an
account's wallet, positions or thresholds, :meth:`BandIndex.rebuild` it; after :meth:`RiskBook.remove_position`
of an isolated position, :meth:`BandIndex.remove` its slot (the slot may be reused by another position).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from numba import types
from numba.typed import List

from margincall.risk.screening.band_kernels import _band_commit, _bands, _commit, _compact, _query, _tick
from margincall.risk.screening.book import RiskBook
from margincall.risk.screening.screen import Evaluation

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


# -------------------------------------------------------------------------------------------- the index
@dataclass(frozen=True)
class Candidates:
    """Entries a tick may have changed: cross account ids and isolated position slots."""

    accounts: I64
    slots: I64


@dataclass(frozen=True)
class TickResult:
    """The evaluated candidates of one tick (already re-banded)."""

    accounts: Evaluation
    slots: Evaluation


class BandIndex:
    """Safe price bands of every watched entry of a :class:`RiskBook` (see the module docstring)."""

    def __init__(self, book: RiskBook, pending: int = 128) -> None:
        self.book = book
        self._pcap = int(pending)
        self._n_sym = 0
        # Per symbol a (4, n) array: records sorted by lo (row 0: lo, row 1: record id as a float), and sorted by
        # hi (rows 2, 3). One typed list: each typed-list argument costs ~1 µs per kernel call.
        self._sorted = List.empty_list(types.Array(types.float64, 2, "C"))
        self._pend = np.zeros((0, self._pcap), dtype=np.int64)
        self._pend_n = np.zeros(0, dtype=np.int64)
        self._stale_n = np.zeros(0, dtype=np.int64)
        self._meta = np.zeros(1, dtype=np.int64)  # [number of records]
        self._rec_lo = np.zeros(1024)
        self._rec_hi = np.zeros(1024)
        self._rec_key = np.zeros(1024, dtype=np.int64)
        self._rec_sym = np.zeros(1024, dtype=np.int64)
        self._rec_stamp = np.zeros(1024, dtype=np.int64)
        self._entry_stamp = np.zeros(0, dtype=np.int64)
        self._entry_first = np.zeros(0, dtype=np.int64)
        self._entry_n = np.zeros(0, dtype=np.int64)
        self._sync()

    # ---------------------------------------------------------------------------------------- storage
    def _sync(self) -> None:
        """Follow the book's growth: new symbols, more accounts or slots."""
        n_sym = self.book.n_symbols
        if n_sym > self._n_sym:
            for _ in range(self._n_sym, n_sym):
                self._sorted.append(np.zeros((4, 0)))
            extra = n_sym - self._n_sym
            self._pend = np.vstack([self._pend, np.zeros((extra, self._pcap), dtype=np.int64)])
            self._pend_n = np.concatenate([self._pend_n, np.zeros(extra, dtype=np.int64)])
            self._stale_n = np.concatenate([self._stale_n, np.zeros(extra, dtype=np.int64)])
            self._n_sym = n_sym
        need = 2 * max(self.book.n_accounts, self.book.n_slots) + 2
        if need > len(self._entry_stamp):
            cap = max(need, 2 * len(self._entry_stamp))
            for name in ("_entry_stamp", "_entry_first", "_entry_n"):
                old = getattr(self, name)
                new = np.zeros(cap, dtype=np.int64)
                new[: len(old)] = old
                setattr(self, name, new)

    def _reserve_records(self, extra: int) -> None:
        n = int(self._meta[0])
        if n + extra <= len(self._rec_lo):
            return
        live = _compact(
            len(self._entry_first),
            self._rec_lo,
            self._rec_hi,
            self._rec_key,
            self._rec_sym,
            self._rec_stamp,
            self._entry_first,
            self._entry_n,
        )
        cap = len(self._rec_lo)
        while live + extra > cap // 2:
            cap *= 2
        if cap > len(self._rec_lo):
            for name in ("_rec_lo", "_rec_hi", "_rec_key", "_rec_sym", "_rec_stamp"):
                old = getattr(self, name)
                new = np.zeros(cap, dtype=old.dtype)
                new[:live] = old[:live]
                setattr(self, name, new)
        self._meta[0] = live
        self._build_structures()

    def _build_structures(self) -> None:
        """Per-symbol sorted arrays from scratch, from the records ``[0, n)`` (all live)."""
        n = int(self._meta[0])
        sym, lo, hi = self._rec_sym[:n], self._rec_lo[:n], self._rec_hi[:n]
        bounds = np.concatenate([[0], np.cumsum(np.bincount(sym, minlength=self._n_sym))])
        by_lo = np.lexsort((lo, sym))
        by_hi = np.lexsort((hi, sym))
        for s in range(self._n_sym):
            a, b = bounds[s], bounds[s + 1]
            rl, rh = by_lo[a:b], by_hi[a:b]
            self._sorted[s] = np.ascontiguousarray(np.vstack([lo[rl], rl, hi[rh], rh]), dtype=np.float64)
        self._pend_n[:] = 0
        self._stale_n[:] = 0

    def _bk(self) -> tuple[Any, ...]:
        """The book's arrays as the kernels take them (re-read each call: the book may have grown)."""
        b, t = self.book, self.book.tiers
        return (b.head, b.nxt, b.active, b.isolated, b.symbol, b.sign, b.qty, b.entry, b.margin, b.pos_k_down,
                b.pos_k_up, b.wallet, b.k_down, b.k_up, b.n_cross, b.mark, b.inverse, b.sym_table, t.floors, t.mmr,
                t.amounts, b.min_mmr, b.max_mmr, b.max_jump, b.n_symbols)  # fmt: skip

    def _ix(self) -> tuple[Any, ...]:
        return (self._rec_lo, self._rec_hi, self._rec_key, self._rec_sym, self._rec_stamp, self._entry_stamp,
                self._entry_first, self._entry_n, self._pend, self._pend_n, self._stale_n, self._meta)  # fmt: skip

    @staticmethod
    def _keys(accounts: Sequence[int] | I64, slots: Sequence[int] | I64) -> I64:
        a = np.asarray(accounts, dtype=np.int64).reshape(-1)
        s = np.asarray(slots, dtype=np.int64).reshape(-1)
        return np.concatenate([2 * a, 2 * s + 1])  # a repeated key is only banded twice: harmless

    def _check(self, accounts: Sequence[int] | I64, slots: Sequence[int] | I64) -> None:
        a = np.asarray(accounts, dtype=np.int64)
        s = np.asarray(slots, dtype=np.int64)
        if a.size and (a.min() < 0 or a.max() >= self.book.n_accounts):
            raise ValueError("account id out of range")
        if s.size and (s.min() < 0 or s.max() >= self.book.n_slots):
            raise ValueError("slot out of range")

    # -------------------------------------------------------------------------------------------- API
    def rebuild_all(self) -> None:
        """Drop every band and band every watched entry of the book (accounts with cross positions, isolated
        positions) at the current marks. Vectorised; use after loading a book."""
        self.book.check_marks()
        self._sync()
        self._entry_stamp += 1
        self._entry_first[:] = 0
        self._entry_n[:] = 0
        keys = np.concatenate([2 * self.book.cross_accounts(), 2 * self.book.isolated_slots() + 1])
        cnt, sym, lo, hi = _bands(keys, self._bk())
        n = len(sym)
        if n > len(self._rec_lo):
            cap = max(1024, 2 * n)
            self._rec_lo, self._rec_hi = np.zeros(cap), np.zeros(cap)
            self._rec_key, self._rec_sym, self._rec_stamp = (np.zeros(cap, dtype=np.int64) for _ in range(3))
        self._rec_lo[:n], self._rec_hi[:n], self._rec_sym[:n] = lo, hi, sym
        self._rec_key[:n] = np.repeat(keys, cnt)
        self._rec_stamp[:n] = self._entry_stamp[self._rec_key[:n]]
        self._entry_first[keys] = np.cumsum(cnt) - cnt
        self._entry_n[keys] = cnt
        self._meta[0] = n
        self._build_structures()

    def rebuild(self, accounts: Sequence[int] | I64 = (), slots: Sequence[int] | I64 = ()) -> None:
        """Recompute the bands of these cross accounts and isolated slots from the book at the current marks.

        An account without cross positions, or a slot that is not an active isolated position, ends up with
        no band (unwatched).
        """
        self._sync()
        self._check(accounts, slots)
        self._commit(self._keys(accounts, slots), band=True)

    def remove(self, accounts: Sequence[int] | I64 = (), slots: Sequence[int] | I64 = ()) -> None:
        """Stop watching these entries (e.g. handed to the liquidation queue, or a removed isolated slot)."""
        self._sync()
        self._check(accounts, slots)
        self._commit(self._keys(accounts, slots), band=False)

    def _commit(self, keys: I64, band: bool) -> None:
        if not band:
            self._reserve_records(0)
            empty = np.zeros(0, dtype=np.int64)
            none = np.zeros(len(keys), dtype=np.int64)
            _commit(keys, none, empty, np.zeros(0), np.zeros(0), self._ix(), self._sorted)
            return
        need = _band_commit(keys, self._bk(), self._ix(), self._sorted)
        if need:
            self._reserve_records(need)
            _band_commit(keys, self._bk(), self._ix(), self._sorted)

    def on_tick(self, s: int, price: float) -> Candidates:
        """The entries whose band on symbol ``s`` does not strictly contain ``price`` (query only: set the mark
        in the book, evaluate and :meth:`rebuild` the candidates — or use :meth:`tick`)."""
        if not 0 <= s < self._n_sym:
            return Candidates(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))
        accounts, slots = _query(
            s,
            float(price),
            self._sorted,
            self._pend,
            self._pend_n,
            self._rec_lo,
            self._rec_hi,
            self._rec_key,
            self._rec_stamp,
            self._entry_stamp,
        )
        return Candidates(accounts, slots)

    def tick(self, s: int, price: float) -> TickResult:
        """The whole per-tick path in one kernel call: set the mark, find the candidates, evaluate them
        (the same kernels and numbers as
        :func:`~margincall.risk.screening.screen.evaluate_accounts`/``evaluate_isolated``) and re-band them at their
        current thresholds.
        An engine that then changes a candidate's thresholds re-evaluates it and calls :meth:`rebuild`."""
        self.book.set_mark(s, price)
        if not 0 <= s < self._n_sym:
            e = np.zeros(0, dtype=np.int64)
            empty = Evaluation(e, np.zeros(0), np.zeros(0), np.zeros(0, dtype=np.bool_), np.zeros(0, dtype=np.bool_))
            return TickResult(empty, empty)
        accounts, slots, ea, es, keys, need = _tick(s, float(price), self._bk(), self._ix(), self._sorted)
        if need:
            self._reserve_records(need)
            _band_commit(keys, self._bk(), self._ix(), self._sorted)
        return TickResult(Evaluation(accounts, *ea), Evaluation(slots, *es))

    def bands(self, account: int | None = None, slot: int | None = None) -> dict[int, tuple[float, float]]:
        """The current bands of one entry, ``{symbol: (lo, hi)}`` (empty when not watched)."""
        if (account is None) == (slot is None):
            raise ValueError("give exactly one of account, slot")
        key = 2 * account if account is not None else 2 * int(slot) + 1  # type: ignore[arg-type]
        if key >= len(self._entry_n):
            return {}
        f0, n0 = int(self._entry_first[key]), int(self._entry_n[key])
        return {
            int(self._rec_sym[r]): (float(self._rec_lo[r]), float(self._rec_hi[r])) for r in range(f0, f0 + n0)
        }

    @property
    def n_records(self) -> int:
        """Records stored, live and stale."""
        return int(self._meta[0])


# ------------------------------------------------------------------------------------------------ warm-up
_warm = False


def warm_up() -> None:
    """Compile (or load from numba's disk cache) every kernel of the index and the screen, once per process.

    The engine calls this when its screener is made, so no kernel is compiled inside a tick: a fresh install
    otherwise compiled them on first use, and a crash tick was the first to reach some of them (measured: 17 s
    of compilation inside the first crash waterfall of a 200k-position book). The tiny book below takes every
    path the screener uses with the argument types it uses: rebuild, remove, a tick query and a fused tick,
    the record store's compaction and regrowth, and the full re-screen.
    """
    global _warm
    if _warm:
        return
    from margincall.risk.screening.screen import evaluate_accounts, evaluate_isolated, full_screen
    from margincall.venues.tables import BINANCE_USDM_BTCUSDT_2024 as tiers

    book = RiskBook(capacity=4)
    for inverse in (False, True):
        s = book.add_symbol(f"warm-{int(inverse)}", tiers, inverse=inverse)
        book.set_mark(s, 100.0)
    a = book.add_account("warm")
    book.set_wallet(a, 100.0)
    book.set_thresholds(a, 1.0, 1.5)
    book.upsert_position(a, 0, 1, 1.0, 100.0)
    book.upsert_position(a, 1, -1, 100.0, 100.0)
    iso = book.upsert_position(a, 0, -1, 1.0, 100.0, True, 10.0)
    book.set_position_thresholds(iso, 1.0, 0.0)
    index = BandIndex(book)
    index.rebuild_all()
    index.on_tick(0, 90.0)
    index.tick(1, 95.0)
    index.rebuild(accounts=[a], slots=[iso])
    index.rebuild(accounts=np.array([a], dtype=np.int64), slots=np.zeros(0, dtype=np.int64))
    index._reserve_records(2 * len(index._rec_lo))  # compaction, regrowth and the sorted structures
    index.remove(slots=[iso])
    full_screen(book)
    evaluate_accounts(book, [a])
    evaluate_isolated(book, [iso])
    _warm = True

"""Fused numba screens of a :class:`~margincall.risk.screening.book.RiskBook`: equity and maintenance margin in float64.

Per position (docs/venues.md §0, §2.1, §3.2, §3.4), at the symbol's mark ``P``:

* linear: notional ``N = Q·P``, uPnL ``s·Q·(P − EP)``; inverse: ``N = Q/P``, uPnL ``s·Q·(1/EP − 1/P)``
  (:func:`margincall.math.contracts.pnl_of`);
* ``MM = N·mmr_k − cum_k`` with the tier ``k`` re-selected at ``N`` (last floor ≤ N; the last tier is
  extrapolated), as :func:`margincall.math.margin.maintenance_margin`, with the batch path's kernels
  :func:`margincall.math.batch_kernels.tier_index` and :func:`~margincall.math.batch_kernels.mm_in_tier`.

A cross account's equity is ``wallet + Σ cross uPnL`` and its MM ``Σ cross MM``; an isolated position's equity is
``margin + uPnL`` against its own MM. An entry is *flagged* when ``equity − k_down·MM ≤ 0`` and *recovered* when
``k_up > 0`` and ``equity − k_up·MM > 0`` (thresholds: :mod:`margincall.risk.screening.book`). An account without cross
positions is not a cross entry: never flagged.

:func:`full_screen` and :func:`evaluate_accounts` / :func:`evaluate_isolated` call the same per-position kernel
and add an account's terms in the same (ascending slot) order, so their numbers are bit-identical. Floats only
screen: the engine confirms every action with the Decimal path.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from numba import njit

from margincall.math.batch_kernels import mm_in_tier, pnl, tier_index
from margincall.model.errors import MarginCallError
from margincall.risk.screening.book import RiskBook

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
B = npt.NDArray[np.bool_]


@njit(cache=True)
def position_terms(
    i: int,
    symbol: I64,
    sign: F64,
    qty: F64,
    entry: F64,
    mark: F64,
    inverse: B,
    sym_table: I64,
    floors: F64,
    mmr: F64,
    amounts: F64,
) -> tuple[float, float, float, float, float]:
    """``(uPnL, MM, N, mmr_k, cum_k)`` of slot ``i`` at its symbol's mark (the one per-position formula)."""
    s = symbol[i]
    p = mark[s]
    q = qty[i]
    n = q / p if inverse[s] else q * p
    upnl = pnl(inverse[s], sign[i], q, entry[i], p)
    row = sym_table[s]
    k = tier_index(floors, row, n, False)
    rate = mmr[row, k]
    cum = amounts[row, k]
    return upnl, mm_in_tier(n, rate, 0.0, cum), n, rate, cum


@njit(cache=True)
def entry_state(equity: float, mm: float, k_down: float, k_up: float) -> tuple[bool, bool]:
    """``(flagged, recovered)``: ``equity − k_down·MM ≤ 0``; ``k_up > 0`` and ``equity − k_up·MM > 0``."""
    return equity - k_down * mm <= 0.0, k_up > 0.0 and equity - k_up * mm > 0.0


@njit(cache=True)
def _full(
    n_slots: int,
    n_accounts: int,
    active: B,
    isolated: B,
    account: I64,
    symbol: I64,
    sign: F64,
    qty: F64,
    entry: F64,
    margin: F64,
    pos_k_down: F64,
    pos_k_up: F64,
    wallet: F64,
    k_down: F64,
    k_up: F64,
    n_cross: I64,
    mark: F64,
    inverse: B,
    sym_table: I64,
    floors: F64,
    mmr: F64,
    amounts: F64,
) -> tuple[F64, F64, F64, F64, F64, B, B, B, B]:
    upnl = np.zeros(n_slots)
    pmm = np.zeros(n_slots)
    peq = np.full(n_slots, np.nan)
    pdown = np.zeros(n_slots, dtype=np.bool_)
    pup = np.zeros(n_slots, dtype=np.bool_)
    acc_u = np.zeros(n_accounts)
    acc_m = np.zeros(n_accounts)
    for i in range(n_slots):
        if not active[i]:
            continue
        u, m, _, _, _ = position_terms(i, symbol, sign, qty, entry, mark, inverse, sym_table, floors, mmr, amounts)
        upnl[i] = u
        pmm[i] = m
        if isolated[i]:
            eq = margin[i] + u
            peq[i] = eq
            pdown[i], pup[i] = entry_state(eq, m, pos_k_down[i], pos_k_up[i])
        else:
            a = account[i]
            acc_u[a] += u
            acc_m[a] += m
    aeq = np.empty(n_accounts)
    adown = np.zeros(n_accounts, dtype=np.bool_)
    aup = np.zeros(n_accounts, dtype=np.bool_)
    for a in range(n_accounts):
        eq = wallet[a] + acc_u[a]
        aeq[a] = eq
        if n_cross[a] > 0:
            adown[a], aup[a] = entry_state(eq, acc_m[a], k_down[a], k_up[a])
    return aeq, acc_m, upnl, pmm, peq, adown, aup, pdown, pup


@njit(cache=True)
def account_kernel(
    ids: I64,
    head: I64,
    nxt: I64,
    active: B,
    isolated: B,
    symbol: I64,
    sign: F64,
    qty: F64,
    entry: F64,
    wallet: F64,
    k_down: F64,
    k_up: F64,
    n_cross: I64,
    mark: F64,
    inverse: B,
    sym_table: I64,
    floors: F64,
    mmr: F64,
    amounts: F64,
) -> tuple[F64, F64, B, B]:
    n = len(ids)
    eqs = np.empty(n)
    mms = np.empty(n)
    down = np.zeros(n, dtype=np.bool_)
    up = np.zeros(n, dtype=np.bool_)
    for j in range(n):
        a = ids[j]
        su = 0.0
        sm = 0.0
        i = head[a]
        while i >= 0:
            if active[i] and not isolated[i]:
                u, m, _, _, _ = position_terms(
                    i, symbol, sign, qty, entry, mark, inverse, sym_table, floors, mmr, amounts
                )
                su += u
                sm += m
            i = nxt[i]
        eq = wallet[a] + su
        eqs[j] = eq
        mms[j] = sm
        if n_cross[a] > 0:
            down[j], up[j] = entry_state(eq, sm, k_down[a], k_up[a])
    return eqs, mms, down, up


@njit(cache=True)
def isolated_kernel(
    ids: I64,
    active: B,
    isolated: B,
    symbol: I64,
    sign: F64,
    qty: F64,
    entry: F64,
    margin: F64,
    pos_k_down: F64,
    pos_k_up: F64,
    mark: F64,
    inverse: B,
    sym_table: I64,
    floors: F64,
    mmr: F64,
    amounts: F64,
) -> tuple[F64, F64, B, B]:
    n = len(ids)
    eqs = np.full(n, np.nan)
    mms = np.full(n, np.nan)
    down = np.zeros(n, dtype=np.bool_)
    up = np.zeros(n, dtype=np.bool_)
    for j in range(n):
        i = ids[j]
        if not (active[i] and isolated[i]):
            continue
        u, m, _, _, _ = position_terms(i, symbol, sign, qty, entry, mark, inverse, sym_table, floors, mmr, amounts)
        eq = margin[i] + u
        eqs[j] = eq
        mms[j] = m
        down[j], up[j] = entry_state(eq, m, pos_k_down[i], pos_k_up[i])
    return eqs, mms, down, up


@dataclass(frozen=True)
class ScreenResult:
    """A whole-book screen. Account arrays are indexed by account id, position arrays by slot.

    ``position_equity`` is ``margin + uPnL`` for isolated slots and NaN elsewhere; ``position_upnl`` and
    ``position_mm`` are 0 for inactive slots. ``account_equity`` is ``wallet + Σ cross uPnL``.
    """

    account_equity: F64
    account_mm: F64
    position_upnl: F64
    position_mm: F64
    position_equity: F64
    flagged_accounts: I64
    recovered_accounts: I64
    flagged_slots: I64
    recovered_slots: I64


@dataclass(frozen=True)
class Evaluation:
    """Equity, MM and state of the entries ``ids`` (accounts or isolated slots), aligned with ``ids``.

    An account without cross positions, or a slot that is not an active isolated position, is never flagged
    (its isolated equity/MM are NaN).
    """

    ids: I64
    equity: F64
    mm: F64
    flagged: B
    recovered: B


def _ids(ids: Sequence[int] | I64, limit: int, what: str) -> I64:
    arr = np.asarray(ids, dtype=np.int64).reshape(-1)
    if len(arr) and (arr.min() < 0 or arr.max() >= limit):
        raise MarginCallError(f"{what}: id out of range", field=what)
    return arr


def full_screen(book: RiskBook) -> ScreenResult:
    """Screen every position and cross account at the current marks (one fused pass)."""
    book.check_marks()
    t = book.tiers
    aeq, amm, upnl, pmm, peq, adown, aup, pdown, pup = _full(
        book.n_slots,
        book.n_accounts,
        book.active,
        book.isolated,
        book.account,
        book.symbol,
        book.sign,
        book.qty,
        book.entry,
        book.margin,
        book.pos_k_down,
        book.pos_k_up,
        book.wallet,
        book.k_down,
        book.k_up,
        book.n_cross,
        book.mark,
        book.inverse,
        book.sym_table,
        t.floors,
        t.mmr,
        t.amounts,
    )
    return ScreenResult(
        aeq,
        amm,
        upnl,
        pmm,
        peq,
        np.flatnonzero(adown),
        np.flatnonzero(aup),
        np.flatnonzero(pdown),
        np.flatnonzero(pup),
    )


def evaluate_accounts(book: RiskBook, account_ids: Sequence[int] | I64) -> Evaluation:
    """The cross accounts ``account_ids``, with the same float numbers :func:`full_screen` gives them.

    Does not check for missing marks (the per-tick path); call ``book.check_marks()`` once after loading.
    """
    ids = _ids(account_ids, book.n_accounts, "account")
    t = book.tiers
    eq, mm, down, up = account_kernel(
        ids,
        book.head,
        book.nxt,
        book.active,
        book.isolated,
        book.symbol,
        book.sign,
        book.qty,
        book.entry,
        book.wallet,
        book.k_down,
        book.k_up,
        book.n_cross,
        book.mark,
        book.inverse,
        book.sym_table,
        t.floors,
        t.mmr,
        t.amounts,
    )
    return Evaluation(ids, eq, mm, down, up)


def evaluate_isolated(book: RiskBook, slots: Sequence[int] | I64) -> Evaluation:
    """The isolated positions ``slots``, with the same float numbers :func:`full_screen` gives them."""
    ids = _ids(slots, book.n_slots, "slot")
    t = book.tiers
    eq, mm, down, up = isolated_kernel(
        ids,
        book.active,
        book.isolated,
        book.symbol,
        book.sign,
        book.qty,
        book.entry,
        book.margin,
        book.pos_k_down,
        book.pos_k_up,
        book.mark,
        book.inverse,
        book.sym_table,
        t.floors,
        t.mmr,
        t.amounts,
    )
    return Evaluation(ids, eq, mm, down, up)

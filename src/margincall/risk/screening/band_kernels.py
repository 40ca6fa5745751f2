"""The band index's numba kernels: band building, the sorted record store, queries and the fused tick.

The rule they implement (the slack method and the record storage) is described in
:mod:`margincall.risk.screening.band_index`; its
:class:`~margincall.risk.screening.band_index.BandIndex` is their only caller.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from numba import njit

from margincall.risk.screening.screen import account_kernel, isolated_kernel, position_terms

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
B = npt.NDArray[np.bool_]

#: Float allowance on ``f``, relative to the sum of the magnitudes of its terms (float error is ~1e-15 of it).
REL_EPS = 1e-10
#: Relative shrink of every band's half-width.
SHRINK = 1e-9


@njit(cache=True)
def _bands(keys: I64, bk: Any) -> tuple[I64, I64, F64, F64]:
    """Bands of the entries ``keys`` (``2a`` for account ``a``, ``2i + 1`` for isolated slot ``i``).

    ``bk`` is :func:`_book_args`. Returns per key its number of records, then each record's symbol, lo, hi.
    """
    (head, nxt, active, isolated, symbol, sign, qty, entry, margin, pos_k_down, pos_k_up, wallet, k_down, k_up,
     n_cross, mark, inverse, sym_table, floors, mmr, amounts, min_mmr, max_mmr, max_jump, n_symbols) = bk  # fmt: skip
    total = 0
    for key in keys:
        total += 1 if key & 1 else n_cross[key >> 1]
    cnt = np.zeros(len(keys), dtype=np.int64)
    out_sym = np.empty(total, dtype=np.int64)
    out_lo = np.empty(total)
    out_hi = np.empty(total)
    local = np.full(n_symbols, -1, dtype=np.int64)
    syms = np.empty(n_symbols, dtype=np.int64)
    net = np.zeros(n_symbols)
    gmin = np.zeros(n_symbols)
    gmax = np.zeros(n_symbols)
    w = 0
    for j in range(len(keys)):
        key = keys[j]
        idx = key >> 1
        if key & 1:
            if not (active[idx] and isolated[idx]):
                continue
            kd, ku, base = pos_k_down[idx], pos_k_up[idx], margin[idx]
            i = idx
        else:
            if n_cross[idx] == 0:
                continue
            kd, ku, base = k_down[idx], k_up[idx], wallet[idx]
            i = head[idx]
        kmax = max(kd, ku)
        su = 0.0
        sm = 0.0
        mag = abs(base)
        jumps = 0.0
        nloc = 0
        while i >= 0:
            if active[i] and isolated[i] == bool(key & 1):
                u, m, n, rate, cum = position_terms(
                    i, symbol, sign, qty, entry, mark, inverse, sym_table, floors, mmr, amounts
                )
                su += u
                sm += m
                s = symbol[i]
                q = qty[i]
                p = mark[s]
                if inverse[s]:
                    mag += q * (1.0 / p + 1.0 / entry[i])
                else:
                    mag += q * (p + entry[i])
                mag += abs(u) + kmax * (n * rate + cum)
                jumps += max_jump[s]
                if local[s] < 0:
                    local[s] = nloc
                    syms[nloc] = s
                    net[nloc] = 0.0
                    gmin[nloc] = 0.0
                    gmax[nloc] = 0.0
                    nloc += 1
                t = local[s]
                net[t] += sign[i] * q
                gmin[t] += q * min_mmr[s]
                gmax[t] += q * max_mmr[s]
            i = -1 if key & 1 else nxt[i]
        eq = base + su
        slack = abs(eq - kd * sm)
        if ku > 0.0:
            slack = min(slack, abs(eq - ku * sm))
        eps = REL_EPS * mag + kmax * jumps
        k2 = ku if ku > 0.0 else kd
        denom = 0.0
        for t in range(nloc):
            s = syms[t]
            # ∂f/∂x = a − k·M with M ∈ [gmin, gmax]: linear in M, so |∂f/∂x| peaks at an end.
            a = -net[t] if inverse[s] else net[t]
            lip = max(
                max(abs(a - kd * gmin[t]), abs(a - kd * gmax[t])),
                max(abs(a - k2 * gmin[t]), abs(a - k2 * gmax[t])),
            )
            x = 1.0 / mark[s] if inverse[s] else mark[s]
            denom += lip * x
        if denom <= 0.0:
            r = np.inf  # f does not depend on the marks at all
        elif slack > eps:
            r = (slack - eps) / denom * (1.0 - SHRINK)
        else:
            r = 0.0
        for t in range(nloc):
            s = syms[t]
            p = mark[s]
            if inverse[s]:
                lo = p / (1.0 + r)
                hi = p / (1.0 - r) if r < 1.0 else np.inf
            else:
                lo = p * (1.0 - r)
                hi = p * (1.0 + r)
            out_sym[w] = s
            out_lo[w] = lo
            out_hi[w] = hi
            w += 1
            local[s] = -1
        cnt[j] = nloc
    return cnt, out_sym[:w], out_lo[:w], out_hi[:w]


@njit(cache=True)
def _merge_one(
    vals: F64, recs: F64, pend: I64, rec_v: F64, rec_key: I64, rec_stamp: I64, entry_stamp: I64
) -> tuple[F64, F64]:
    """Sorted (vals, recs) without stale records, merged with the valid pending records ``pend``."""
    pv = rec_v[pend]
    order = np.argsort(pv, kind="mergesort")
    pend = pend[order]
    pv = pv[order]
    keep = 0
    for j in range(len(recs)):
        r = int(recs[j])
        if rec_stamp[r] == entry_stamp[rec_key[r]]:
            keep += 1
    out_v = np.empty(keep + len(pend))
    out_r = np.empty(keep + len(pend))
    a = 0
    b = 0
    c = 0
    n = len(recs)
    while True:
        while a < n and rec_stamp[int(recs[a])] != entry_stamp[rec_key[int(recs[a])]]:
            a += 1
        if a < n and (b >= len(pend) or vals[a] <= pv[b]):
            out_v[c] = vals[a]
            out_r[c] = recs[a]
            a += 1
        elif b < len(pend):
            out_v[c] = pv[b]
            out_r[c] = pend[b]
            b += 1
        else:
            break
        c += 1
    return out_v, out_r


@njit(cache=True)
def _merge(
    s: int,
    rec_lo: F64,
    rec_hi: F64,
    rec_key: I64,
    rec_stamp: I64,
    entry_stamp: I64,
    sorted_: Any,
    pend: I64,
    pend_n: I64,
    stale_n: I64,
) -> None:
    m = pend_n[s]
    pv = np.empty(m, dtype=np.int64)
    c = 0
    for t in range(m):
        r = pend[s, t]
        if rec_stamp[r] == entry_stamp[rec_key[r]]:
            pv[c] = r
            c += 1
    pv = pv[:c]
    old = sorted_[s]
    lv, lr = _merge_one(old[0], old[1], pv, rec_lo, rec_key, rec_stamp, entry_stamp)
    hv, hr = _merge_one(old[2], old[3], pv, rec_hi, rec_key, rec_stamp, entry_stamp)
    new = np.empty((4, len(lv)))
    new[0] = lv
    new[1] = lr
    new[2] = hv
    new[3] = hr
    sorted_[s] = new
    pend_n[s] = 0
    stale_n[s] = 0


@njit(cache=True)
def _commit(keys: I64, cnt: I64, out_sym: I64, out_lo: F64, out_hi: F64, ix: Any, sorted_: Any) -> None:
    """Replace the records of ``keys`` by the new bands (``cnt[j]`` records each, in order); ``ix``: the index."""
    (rec_lo, rec_hi, rec_key, rec_sym, rec_stamp, entry_stamp, entry_first, entry_n, pend, pend_n, stale_n,
     meta) = ix  # fmt: skip
    n_rec = meta[0]
    cap = pend.shape[1]
    w = 0
    for j in range(len(keys)):
        key = keys[j]
        f0 = entry_first[key]
        n0 = entry_n[key]
        entry_stamp[key] += 1
        stamp = entry_stamp[key]
        entry_first[key] = n_rec
        entry_n[key] = cnt[j]
        for r in range(f0, f0 + n0):
            s = rec_sym[r]
            stale_n[s] += 1
            if stale_n[s] > 4 * cap:
                _merge(s, rec_lo, rec_hi, rec_key, rec_stamp, entry_stamp, sorted_, pend, pend_n, stale_n)
        for _ in range(cnt[j]):
            r = n_rec
            n_rec += 1
            s = out_sym[w]
            rec_lo[r] = out_lo[w]
            rec_hi[r] = out_hi[w]
            rec_key[r] = key
            rec_sym[r] = s
            rec_stamp[r] = stamp
            w += 1
            if pend_n[s] == cap:
                _merge(s, rec_lo, rec_hi, rec_key, rec_stamp, entry_stamp, sorted_, pend, pend_n, stale_n)
            pend[s, pend_n[s]] = r
            pend_n[s] += 1
    meta[0] = n_rec


@njit(cache=True)
def _query(
    s: int,
    p: float,
    sorted_: Any,
    pend: I64,
    pend_n: I64,
    rec_lo: F64,
    rec_hi: F64,
    rec_key: I64,
    rec_stamp: I64,
    entry_stamp: I64,
) -> tuple[I64, I64]:
    """Accounts and slots whose band on ``s`` does not strictly contain ``p`` (``p ≤ lo`` or ``p ≥ hi``)."""
    st = sorted_[s]
    lv = st[0]
    lr = st[1]
    hv = st[2]
    hr = st[3]
    m = pend_n[s]
    a0 = np.searchsorted(lv, p, side="left")
    b0 = np.searchsorted(hv, p, side="right")
    out = np.empty(len(lv) - a0 + b0 + m, dtype=np.int64)
    c = 0
    for j in range(a0, len(lv)):
        r = int(lr[j])
        if rec_stamp[r] == entry_stamp[rec_key[r]]:
            out[c] = rec_key[r]
            c += 1
    for j in range(b0):
        r = int(hr[j])
        if rec_stamp[r] == entry_stamp[rec_key[r]] and rec_lo[r] < p:
            out[c] = rec_key[r]
            c += 1
    for t in range(m):
        r = pend[s, t]
        if rec_stamp[r] == entry_stamp[rec_key[r]] and (p <= rec_lo[r] or p >= rec_hi[r]):
            out[c] = rec_key[r]
            c += 1
    na = 0
    for j in range(c):
        if out[j] & 1 == 0:
            na += 1
    accounts = np.empty(na, dtype=np.int64)
    slots = np.empty(c - na, dtype=np.int64)
    ia = 0
    ib = 0
    for j in range(c):
        k = out[j]
        if k & 1:
            slots[ib] = k >> 1
            ib += 1
        else:
            accounts[ia] = k >> 1
            ia += 1
    return accounts, slots


@njit(cache=True)
def _band_commit(keys: I64, bk: Any, ix: Any, sorted_: Any) -> int:
    """Band ``keys`` and commit; returns 0, or the number of records needed when the store is too small."""
    cnt, sym, lo, hi = _bands(keys, bk)
    rec_lo, meta = ix[0], ix[11]
    if meta[0] + len(sym) > len(rec_lo):
        return len(sym)
    _commit(keys, cnt, sym, lo, hi, ix, sorted_)
    return 0


@njit(cache=True)
def _tick(s: int, p: float, bk: Any, ix: Any, sorted_: Any) -> Any:
    """Query, evaluate (the screen kernels) and re-band the candidates of one tick, in one call."""
    (head, nxt, active, isolated, symbol, sign, qty, entry, margin, pos_k_down, pos_k_up, wallet, k_down, k_up,
     n_cross, mark, inverse, sym_table, floors, mmr, amounts) = bk[:21]  # fmt: skip
    rec_lo, rec_hi, rec_key, rec_stamp, entry_stamp, pend, pend_n = ix[0], ix[1], ix[2], ix[4], ix[5], ix[8], ix[9]
    accounts, slots = _query(s, p, sorted_, pend, pend_n, rec_lo, rec_hi, rec_key, rec_stamp, entry_stamp)
    ea = account_kernel(accounts, head, nxt, active, isolated, symbol, sign, qty, entry, wallet, k_down, k_up,
                        n_cross, mark, inverse, sym_table, floors, mmr, amounts)  # fmt: skip
    es = isolated_kernel(slots, active, isolated, symbol, sign, qty, entry, margin, pos_k_down, pos_k_up, mark,
                         inverse, sym_table, floors, mmr, amounts)  # fmt: skip
    keys = np.empty(len(accounts) + len(slots), dtype=np.int64)
    keys[: len(accounts)] = 2 * accounts
    keys[len(accounts) :] = 2 * slots + 1
    status = _band_commit(keys, bk, ix, sorted_) if len(keys) else 0
    return accounts, slots, ea, es, keys, status


@njit(cache=True)
def _compact(
    n_entries: int,
    rec_lo: F64,
    rec_hi: F64,
    rec_key: I64,
    rec_sym: I64,
    rec_stamp: I64,
    entry_first: I64,
    entry_n: I64,
) -> int:
    """Move the live records (each entry's current ones) to the front, in entry order; returns their count."""
    keys = np.argsort(entry_first[:n_entries], kind="mergesort")  # live records keep their relative order
    w = 0
    for key in keys:
        f0 = entry_first[key]
        n0 = entry_n[key]
        entry_first[key] = w
        for r in range(f0, f0 + n0):
            rec_lo[w] = rec_lo[r]
            rec_hi[w] = rec_hi[r]
            rec_key[w] = rec_key[r]
            rec_sym[w] = rec_sym[r]
            rec_stamp[w] = rec_stamp[r]
            w += 1
    return w

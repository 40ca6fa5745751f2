"""The compiled whole-book loop: every row's liquidation and bankruptcy price, IM, MM and margin ratio.

The twin of :func:`margincall.calculator` 's evaluation of one account scenario, row by row, with the formulas
of :mod:`margincall.math.batch_kernels` (each a twin of its Decimal formula in this package):

* IM ``= N(mark) / leverage`` (docs/venues.md §2.1); an isolated margin is given, or ``IM(entry) + extra``.
* the requirement (MM) at the mark, by the instrument's ``FORM_*`` code: ``N·(MMR_k + fee) − cum_k`` with the
  tier at the mark, plus Bybit UTA's estimated fee to close ``N(entry)·(1 ∓ 1/L)·taker`` (§4.2–4.3; ``±`` for
  inverse); Bitunix ``N(entry)·MMR_k`` plus the estimated liquidation fee ``N(entry)·taker`` (§6).
* the margin ratio by the instrument's convention (§0): an isolated row's ``margin + PnL`` against its MM, a
  cross row's account equity ``wallet + Σ cross PnL`` against ``Σ cross MM``; an equity that cancels to a 16th
  of its terms is recomputed from the inputs' decimals in double-double (:mod:`margincall.math.batch_numerics`).
* the liquidation price: isolated by the form; cross by the equity = requirement solver of the symbol, others
  fixed (§3.3, §12.2), Bitunix's MM-weighted allocation (§6), Bybit's classic inverse cross form (§4.4).
* the bankruptcy price: equity = 0 (§3.5), or Bybit's classic form.

Rows of one account are contiguous. A row the Decimal path refuses gets an error code (``ERR_*``) and NaN.

One pass over the rows (:func:`_block`): each account's rows, then at once its cross rows (the data still in
cache). A first pass (:func:`account_blocks`) refuses reused account ids and cuts the book at account boundaries
into blocks that :func:`evaluate_rows_parallel` hands to numba's threads; no kernel the loop calls allocates or
counts references (:func:`margincall.math.batch_numerics.kernel`). Figures: docs/benchmarks.md.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from numba import njit, prange

from margincall.math.batch_cross import cross_account
from margincall.math.batch_forms import bitunix_price, bybit_isolated
from margincall.math.batch_kernels import (
    FORM_BITUNIX,
    FORM_BYBIT_2026,
    FORM_GENERIC,
    bankruptcy_one_leg,
    mm_in_tier,
    pnl,
    pnl2,
    ratio_of,
    solve_one_leg,
    tier_index,
)
from margincall.math.batch_numerics import CANCELS, dd_add, dd_div, dd_mul, decimal_of, kernel

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
I8 = npt.NDArray[np.int8]

ERR_INSTRUMENT, ERR_SIDE, ERR_SIZE, ERR_ENTRY, ERR_MARK, ERR_LEVERAGE = 1, 2, 3, 4, 5, 6
ERR_ISOLATED_MARGIN, ERR_ACCOUNT, ERR_LEVERAGE_ABOVE_TIER, ERR_TOO_LARGE, ERR_MIXED_ACCOUNT = 7, 8, 9, 10, 11
ERR_MARGIN_ON_CROSS, ERR_MARGIN_TWICE, ERR_WALLET = 12, 14, 15

#: (field, message) of each error code; index = code.
ERRORS: tuple[tuple[str, str], ...] = (
    ("", ""),
    ("instrument", "not an index into the instruments"),
    ("side", "must be +1 (long) or -1 (short)"),
    ("size", "must be positive"),
    ("entry_price", "must be positive"),
    ("mark_price", "must be positive"),
    ("leverage", "must be positive"),
    ("isolated_margin", "must not be negative"),
    ("account", "the rows of an account must be contiguous, with indices ≥ 0"),
    ("leverage", "above the max leverage of the tier the position opens in"),
    ("size", "beyond the largest tier's cap"),
    ("instrument", "the cross rows of an account use one venue, formula, taker fee and settle asset"),
    ("isolated_margin", "isolated_margin or extra_margin given on a cross position"),
    ("margin_mode", "formula legacy: Bybit's classic inverse cross form prices one position in its coin wallet"),
    ("extra_margin", "give isolated_margin or extra_margin, not both"),
    ("wallet_balance", "differs between rows of one account"),
)


@kernel
def _isolated_equity(
    inv: bool, s: float, size: float, cs: float, entry: float, mark: float, lev: float, iso: float, extra: float
) -> float:
    """An isolated row's ``margin + PnL`` (margin: ``iso``, else ``N(entry)/L + extra``) from its inputs'
    decimals in double-double, rounded once."""
    sh, sl = decimal_of(size)
    ch, cl = decimal_of(cs)
    qh, ql = dd_mul(sh, sl, ch, cl)
    eh, el = decimal_of(entry)
    ph, pl = decimal_of(mark)
    uh, ul = pnl2(inv, s, qh, ql, eh, el, ph, pl)
    if np.isnan(iso):
        mh, ml = dd_div(qh, ql, eh, el) if inv else dd_mul(qh, ql, eh, el)
        lh, ll = decimal_of(lev)
        mh, ml = dd_div(mh, ml, lh, ll)
        if not np.isnan(extra):
            xh, xl = decimal_of(extra)
            mh, ml = dd_add(mh, ml, xh, xl)
    else:
        mh, ml = decimal_of(iso)
    th, tl = dd_add(mh, ml, uh, ul)
    return th + tl


@kernel
def _check_row(
    j: int,
    sign: float,
    size: float,
    entry: float,
    mark: float,
    lev: float,
    iso: float,
    extra: float,
    cross: bool,
    n_inst: int,
) -> int:
    """The row's error code, 0 if fine."""
    # A good row answers in one branch (each test as a bit, not a jump); a bad one takes the tests in order.
    no_iso = np.isnan(iso)
    no_extra = np.isnan(extra) | (extra == 0.0)
    good = ((j >= 0) & (j < n_inst) & (abs(sign) == 1.0) & (size > 0.0) & (size < np.inf) & (entry > 0.0)
            & (entry < np.inf) & (mark > 0.0) & (mark < np.inf) & (lev > 0.0) & (lev < np.inf))
    margin_ok = (no_iso & no_extra) | (~cross & ((no_iso & ~no_extra) | (~no_iso & (iso >= 0.0) & (iso < np.inf)
                                                                          & no_extra)))
    if good & margin_ok:
        return 0
    if j < 0 or j >= n_inst:
        return ERR_INSTRUMENT
    if sign != 1.0 and sign != -1.0:
        return ERR_SIDE
    if not size > 0.0 or not np.isfinite(size):
        return ERR_SIZE
    if not entry > 0.0 or not np.isfinite(entry):
        return ERR_ENTRY
    if not mark > 0.0 or not np.isfinite(mark):
        return ERR_MARK
    if not lev > 0.0 or not np.isfinite(lev):
        return ERR_LEVERAGE
    if iso < 0.0 or iso == np.inf:
        return ERR_ISOLATED_MARGIN
    has_extra = not np.isnan(extra) and extra != 0.0
    if cross and (has_extra or not np.isnan(iso)):
        return ERR_MARGIN_ON_CROSS
    if has_extra and not np.isnan(iso):
        return ERR_MARGIN_TWICE
    return 0


@njit(cache=True)
def account_blocks(acc: I64, err: I8, n_blocks: int) -> tuple[I64, int]:
    """The first pass: an account id that is negative or comes back after another's rows refuses its rows
    (``ERR_ACCOUNT``); returns ``n_blocks + 1`` block bounds, each at an account's first row, and the longest
    account's row count (the cross pass's scratch width)."""
    n = len(acc)
    max_acc = 0
    for i in range(n):
        if acc[i] > max_acc:
            max_acc = acc[i]
    seen = np.zeros(max_acc + 1, dtype=np.bool_)
    longest = 1
    i0 = 0
    while i0 < n:
        a = acc[i0]
        i1 = i0 + 1
        while i1 < n and acc[i1] == a:
            i1 += 1
        if a < 0 or seen[a]:
            for i in range(i0, i1):
                err[i] = ERR_ACCOUNT
        else:
            seen[a] = True
        longest = max(longest, i1 - i0)
        i0 = i1
    bounds = np.empty(n_blocks + 1, dtype=np.int64)
    for b in range(n_blocks + 1):
        x = b * n // n_blocks
        while 0 < x < n and acc[x] == acc[x - 1]:
            x += 1
        bounds[b] = x
    return bounds, longest


@njit(cache=True)
def evaluate_rows(
    acc: I64,
    inst: I64,
    sign: F64,
    size: F64,
    entry: F64,
    mark: F64,
    cross: Any,
    lev: F64,
    iso: F64,
    extra: F64,
    wallet: F64,
    ins: Any,
    tiers: Any,
    liq: F64,
    bank: F64,
    im: F64,
    mm: F64,
    ratio: F64,
    err: I8,
) -> None:
    """Fill ``liq, bank, im, mm, ratio, err`` (one value per row), in one thread. ``ins``: per-instrument arrays
    ``(inverse, contract_size, table, form, fee_rate, taker, ratio_convention, venue, settle)``."""
    longest = account_blocks(acc, err, 1)[1]
    inverse_a, cs_a, table_a, form_a, feer_a, taker_a, conv_a, venue_a, settle_a = ins
    floors, mmr_t, amounts, inclusive_t, contracts_t, whole_t, last_cap_t, maxlev_t = tiers
    scratch = np.empty((4, longest))
    _block(0, len(acc), acc, inst, sign, size, entry, mark, cross, lev, iso, extra, wallet, inverse_a, cs_a,
           table_a, form_a, feer_a, taker_a, conv_a, venue_a, settle_a, floors, mmr_t, amounts, inclusive_t,
           contracts_t, whole_t, last_cap_t, maxlev_t, liq, bank, im, mm, ratio, err, scratch)


@njit(cache=True, parallel=True)
def evaluate_rows_parallel(
    acc: I64,
    inst: I64,
    sign: F64,
    size: F64,
    entry: F64,
    mark: F64,
    cross: Any,
    lev: F64,
    iso: F64,
    extra: F64,
    wallet: F64,
    ins: Any,
    tiers: Any,
    liq: F64,
    bank: F64,
    im: F64,
    mm: F64,
    ratio: F64,
    err: I8,
    n_blocks: int,
) -> None:
    """:func:`evaluate_rows` over ``n_blocks`` blocks of whole accounts, in numba's threads (an account is
    independent of the others: the same numbers as one block)."""
    bounds, longest = account_blocks(acc, err, n_blocks)
    inverse_a, cs_a, table_a, form_a, feer_a, taker_a, conv_a, venue_a, settle_a = ins
    floors, mmr_t, amounts, inclusive_t, contracts_t, whole_t, last_cap_t, maxlev_t = tiers
    for b in prange(n_blocks):
        b0, b1 = bounds[b], bounds[b + 1]
        scratch = np.empty((4, min(longest, max(b1 - b0, 1))))
        _block(b0, b1, acc, inst, sign, size, entry, mark, cross, lev, iso, extra, wallet, inverse_a, cs_a,
               table_a, form_a, feer_a, taker_a, conv_a, venue_a, settle_a, floors, mmr_t, amounts, inclusive_t,
               contracts_t, whole_t, last_cap_t, maxlev_t, liq, bank, im, mm, ratio, err, scratch)


@kernel
def _block(
    b0: int,
    b1: int,
    acc: I64,
    inst: I64,
    sign: F64,
    size: F64,
    entry: F64,
    mark: F64,
    cross: Any,
    lev: F64,
    iso: F64,
    extra: F64,
    wallet: F64,
    inverse_a: Any,
    cs_a: F64,
    table_a: I64,
    form_a: I64,
    feer_a: F64,
    taker_a: F64,
    conv_a: I64,
    venue_a: I64,
    settle_a: I64,
    floors: F64,
    mmr_t: F64,
    amounts: F64,
    inclusive_t: Any,
    contracts_t: Any,
    whole_t: Any,
    last_cap_t: F64,
    maxlev_t: F64,
    liq: F64,
    bank: F64,
    im: F64,
    mm: F64,
    ratio: F64,
    err: Any,
    scratch: F64,
) -> None:
    """The accounts of rows ``b0:b1``: every row, then an account's cross rows together (``scratch``: per cross
    row its contract quantity, PnL, MM and constant requirement, indexed from the account's first row)."""
    n_inst = len(inverse_a)
    i0 = b0
    while i0 < b1:
        a = acc[i0]
        i1 = i0 + 1
        while i1 < b1 and acc[i1] == a:
            i1 += 1
        if err[i0] == ERR_ACCOUNT:
            for i in range(i0, i1):
                liq[i] = bank[i] = im[i] = mm[i] = ratio[i] = np.nan
            i0 = i1
            continue
        w = np.nan
        n_cross = 0
        cross_venue = -1
        cross_settle = -1
        bad_account = 0
        refused = False
        for i in range(i0, i1):
            code = _check_row(inst[i], sign[i], size[i], entry[i], mark[i], lev[i], iso[i], extra[i], cross[i], n_inst)
            if code == 0 and not np.isnan(wallet[i]):
                if np.isnan(w):
                    w = wallet[i]
                elif wallet[i] != w:
                    code = ERR_WALLET
            err[i] = code
            if code != 0:
                refused = True
                bad_account = code if cross[i] or code == ERR_WALLET else bad_account
                continue
            j = inst[i]
            row = table_a[j]
            inv = inverse_a[j]
            s, ep, p, lv = sign[i], entry[i], mark[i], lev[i]
            qi = size[i] * cs_a[j]
            n_entry = qi / ep if inv else qi * ep
            n_mark = qi / p if inv else qi * p
            # The tier the position opens in bounds its size and leverage (as the calculator refuses).
            key = size[i] if contracts_t[row] else n_entry
            cap = last_cap_t[row]
            if key > cap or (key == cap and not inclusive_t[row]):
                err[i] = ERR_TOO_LARGE
            elif lv > maxlev_t[row, tier_index(floors, row, key, inclusive_t[row])]:
                err[i] = ERR_LEVERAGE_ABOVE_TIER
            if err[i] != 0:
                bad_account = err[i] if cross[i] else bad_account
                refused = True
                continue
            pnl_i = pnl(inv, s, qi, ep, p)
            im[i] = n_mark / lv
            form = form_a[j]
            taker = taker_a[j]
            if form == FORM_BITUNIX:
                k = tier_index(floors, row, n_entry, inclusive_t[row])
                mmfee_i = n_entry * mmr_t[row, k]
                creq_i = n_entry * taker
            else:
                k = tier_index(floors, row, size[i] if contracts_t[row] else n_mark, inclusive_t[row])
                mmfee_i = mm_in_tier(n_mark, mmr_t[row, k], feer_a[j], amounts[row, k])
                creq_i = 0.0
                if form == FORM_BYBIT_2026 and taker != 0.0:
                    creq_i = n_entry * (1.0 + s / lv if inv else 1.0 - s / lv) * taker
            mm[i] = mmfee_i + creq_i
            if cross[i]:
                o = i - i0
                scratch[0, o], scratch[1, o], scratch[2, o], scratch[3, o] = qi, pnl_i, mmfee_i, creq_i
                n_cross += 1
                if cross_venue == -1:
                    cross_venue, cross_settle = venue_a[j], settle_a[j]
                elif venue_a[j] != cross_venue or settle_a[j] != cross_settle:
                    bad_account = ERR_MIXED_ACCOUNT
                continue
            margin = iso[i] if not np.isnan(iso[i]) else n_entry / lv + (0.0 if np.isnan(extra[i]) else extra[i])
            equity = margin + pnl_i
            if abs(equity) * CANCELS < abs(margin) + abs(pnl_i):
                equity = _isolated_equity(inv, s, size[i], cs_a[j], ep, p, lv, iso[i], extra[i])
            ratio[i] = ratio_of(conv_a[j], equity, mm[i])
            bank[i] = bankruptcy_one_leg(inv, s, qi, ep, margin)
            if form == FORM_GENERIC:
                liq[i] = solve_one_leg(inv, s, qi, ep, p, margin, feer_a[j], size[i], row, floors, mmr_t, amounts,
                                       inclusive_t, contracts_t, whole_t, True)
            elif form == FORM_BITUNIX:
                liq[i] = bitunix_price(inv, s, qi, ep, margin, mmfee_i, creq_i)
            else:
                k = tier_index(floors, row, size[i] if contracts_t[row] else n_entry, inclusive_t[row])
                extra_b = (0.0 if np.isnan(extra[i]) else extra[i]) if np.isnan(iso[i]) else margin - n_entry / lv
                liq[i] = bybit_isolated(form, inv, s, qi, ep, lv, mmr_t[row, k], amounts[row, k], extra_b, taker)
        if bad_account != 0:
            refused = True
            for i in range(i0, i1):
                if cross[i] or bad_account == ERR_WALLET:
                    err[i] = bad_account if err[i] == 0 else err[i]
        elif n_cross > 0:
            refused |= cross_account(i0, i1, 0.0 if np.isnan(w) else w, inst, sign, size, entry, mark, cross,
                                     inverse_a, cs_a, table_a, form_a, feer_a, taker_a, conv_a, floors, mmr_t,
                                     amounts, inclusive_t, contracts_t, whole_t, scratch, liq, bank, mm, ratio, err)
        for i in range(i0, i1 if refused else i0):
            if err[i] != 0:
                liq[i] = bank[i] = im[i] = mm[i] = ratio[i] = np.nan
        i0 = i1

"""The cross accounts' pass of :mod:`margincall.math.batch_book`: margin ratios, liquidation and bankruptcy prices.

For each account with cross rows (docs/venues.md §3.3, §12.2): equity ``wallet + Σ cross PnL`` against
``Σ cross requirement``; per symbol the liquidation price where equity = requirement, the other symbols fixed
(the solver of :mod:`margincall.math.batch_kernels`), Bitunix's allocation of the cross margin by MM (§6), or
Bybit's classic inverse cross form (§4.4); the bankruptcy price where equity = 0 (§3.5).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from margincall.math.batch_forms import bitunix_price, bybit_inverse_cross_classic
from margincall.math.batch_kernels import (
    FORM_BITUNIX,
    FORM_BYBIT_LEGACY,
    bankruptcy_one_leg,
    pnl2,
    ratio_of,
    solve_legs,
    solve_one_leg,
    tier_index,
)
from margincall.math.batch_numerics import CANCELS, allocating, dd_add, dd_mul, decimal_of, kernel, kernel_inline

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

#: Bybit's classic inverse cross form prices one position alone in its coin wallet (docs/venues.md §4.4).
ERR_CLASSIC_CROSS = 13


@kernel_inline
def cross_account(
    i0: int,
    i1: int,
    w: float,
    inst: I64,
    sign: F64,
    size: F64,
    entry: F64,
    mark: F64,
    cross: Any,
    inverse_a: Any,
    cs_a: F64,
    table_a: I64,
    form_a: I64,
    feer_a: F64,
    taker_a: F64,
    conv_a: I64,
    floors: F64,
    mmr_t: F64,
    amounts: F64,
    inclusive_t: Any,
    contracts_t: Any,
    whole_t: Any,
    scratch: F64,
    liq: F64,
    bank: F64,
    mm: F64,
    ratio: F64,
    err: Any,
) -> bool:
    """The cross rows of the account of rows ``i0:i1`` with wallet ``w``; ``scratch[:, i - i0]``: row ``i``'s
    contract quantity, PnL, MM (fee term included) and constant requirement (Bybit's fee to close, Bitunix's
    liquidation fee). True if it refuses the account's cross rows."""
    q, pnl_a, mmfee, creq = scratch[0], scratch[1], scratch[2], scratch[3]
    n_cross = 0
    for i in range(i0, i1):
        n_cross += 1 if cross[i] else 0
    equity = w
    magnitude = abs(w)
    total_mm = 0.0
    for i in range(i0, i1):
        if cross[i]:
            equity += pnl_a[i - i0]
            magnitude += abs(pnl_a[i - i0])
            total_mm += mm[i]
    if abs(equity) * CANCELS < magnitude:
        equity = _cross_equity(i0, i1, w, inst, sign, size, entry, mark, cross, inverse_a, cs_a)
    for i in range(i0, i1):
        if not cross[i]:
            continue
        j = inst[i]
        ratio[i] = ratio_of(conv_a[j], equity, total_mm)
        first = True
        for h in range(i0, i):
            if cross[h] and inst[h] == j:
                first = False
                liq[i], bank[i] = liq[h], bank[h]
                break
        if not first:
            continue
        inv = inverse_a[j]
        form = form_a[j]
        row = table_a[j]
        if form == FORM_BYBIT_LEGACY and inv:
            if n_cross != 1:
                for h in range(i0, i1):
                    if cross[h]:
                        err[h] = ERR_CLASSIC_CROSS
                return True
            k = tier_index(floors, row, size[i] if contracts_t[row] else q[i - i0] / entry[i], inclusive_t[row])
            liq[i], bank[i] = bybit_inverse_cross_classic(
                sign[i], q[i - i0], entry[i], w, mmr_t[row, k], amounts[row, k], taker_a[j]
            )
            continue
        # Legs of this symbol, and the others' PnL and requirement summed in row order (the Decimal order).
        legs = 0
        others_pnl = 0.0
        others_mm = 0.0
        total_fee = 0.0
        for h in range(i0, i1):
            if not cross[h]:
                continue
            total_fee += creq[h - i0]
            if inst[h] == j:
                legs += 1
            else:
                others_pnl += pnl_a[h - i0]
                others_mm += mmfee[h - i0]
        if form == FORM_BITUNIX:
            total = w
            sum_mm = 0.0
            for h in range(i0, i1):
                if cross[h]:
                    total += pnl_a[h - i0] - creq[h - i0]
                    sum_mm += mmfee[h - i0]
            share = total * mmfee[i - i0] / sum_mm if sum_mm > 0.0 else 0.0
            margin = share - pnl_a[i - i0] + creq[i - i0]
            liq[i] = bitunix_price(inv, sign[i], q[i - i0], entry[i], margin, mmfee[i - i0], creq[i - i0])
        if legs == 1:
            if form != FORM_BITUNIX:
                constant = w - total_fee + others_pnl - others_mm
                liq[i] = solve_one_leg(inv, sign[i], q[i - i0], entry[i], mark[i], constant, feer_a[j], size[i], row,
                                       floors, mmr_t, amounts, inclusive_t, contracts_t, whole_t, True)
            bank[i] = bankruptcy_one_leg(inv, sign[i], q[i - i0], entry[i], w + others_pnl)
            continue
        lq, bq = _hedged(i, i0, i1, inst, sign, size, entry, mark, cross, inv, row, feer_a[j], form != FORM_BITUNIX,
                         w - total_fee + others_pnl - others_mm, w + others_pnl, floors, mmr_t, amounts, inclusive_t,
                         contracts_t, whole_t, q)
        if form != FORM_BITUNIX:
            liq[i] = lq
        bank[i] = bq
    return False


@kernel
def _cross_equity(
    i0: int,
    i1: int,
    w: float,
    inst: I64,
    sign: F64,
    size: F64,
    entry: F64,
    mark: F64,
    cross: Any,
    inverse_a: Any,
    cs_a: F64,
) -> float:
    """``wallet + Σ cross PnL`` from the inputs' decimals in double-double, rounded once."""
    th, tl = decimal_of(w)
    for i in range(i0, i1):
        if cross[i]:
            j = inst[i]
            sh, sl = decimal_of(size[i])
            ch, cl = decimal_of(cs_a[j])
            qh, ql = dd_mul(sh, sl, ch, cl)
            eh, el = decimal_of(entry[i])
            ph, pl = decimal_of(mark[i])
            uh, ul = pnl2(inverse_a[j], sign[i], qh, ql, eh, el, ph, pl)
            th, tl = dd_add(th, tl, uh, ul)
    return th + tl


@allocating
def _hedged(
    i: int,
    i0: int,
    i1: int,
    inst: I64,
    sign: F64,
    size: F64,
    entry: F64,
    mark: F64,
    cross: Any,
    inv: bool,
    row: int,
    fee: float,
    solve_liq: bool,
    constant: float,
    bank_constant: float,
    floors: F64,
    mmr_t: F64,
    amounts: F64,
    inclusive_t: Any,
    contracts_t: Any,
    whole_t: Any,
    q: F64,
) -> tuple[float, float]:
    """Several cross legs of row ``i``'s symbol (hedge mode): ``(LP, BP)`` by :func:`solve_legs` (NaN LP when not
    ``solve_liq``); apart from :func:`cross_account` as it allocates the leg arrays."""
    j = inst[i]
    legs = 0
    for h in range(i0, i1):
        if cross[h] and inst[h] == j:
            legs += 1
    ls = np.empty(legs)
    lq = np.empty(legs)
    lep = np.empty(legs)
    lfee = np.full(legs, fee)
    lsize = np.empty(legs)
    lrow = np.full(legs, row, dtype=np.int64)
    m = 0
    for h in range(i0, i1):
        if cross[h] and inst[h] == j:
            ls[m], lq[m], lep[m], lsize[m] = sign[h], q[h - i0], entry[h], size[h]
            m += 1
    liq = np.nan
    if solve_liq:
        liq = solve_legs(inv, ls, lq, lep, lfee, lsize, lrow, mark[i], constant, floors, mmr_t, amounts,
                         inclusive_t, contracts_t, whole_t, True)
    bank = solve_legs(inv, ls, lq, lep, lfee, lsize, lrow, mark[i], bank_constant, floors, mmr_t, amounts,
                      inclusive_t, contracts_t, whole_t, False)
    return liq, bank

"""The compiled (numba) status pass: for each watch, its exact equity and tiered maintenance margin in integers,
whether it is liquidatable, and its next margin-call band.

The arithmetic is the reference's (``ledger.valuation`` via ``math.contracts.pnl_of``, ``math.margin
.maintenance_margin``; ``risk.status.status``; ``risk.margin_call.BandConfig.next_band``), in integers:

* a position's price is its market's mark, or its entry price before the first mark (``Valuation.price_for``);
* ``q = |size| × contract_size``; uPnL ``= sign × q × (price − entry)`` and notional ``n = q × price`` are whole
  money units (the price scale is chosen so, :mod:`.ranges`);
* the tier is the last whose floor is below the amount (or equal to it, unless caps are inclusive), the amount
  being ``n`` or, for contract-keyed tables, ``|size|`` (``TierTable.index_for``);
* ``MM = n × rate − amount`` (bracket) or ``n × rate`` (whole position), kept exactly as whole units plus a
  fraction at 10^-(u+8): with ``n = nh·1e8 + nl``, ``n × rate / 1e8 = nh × rate + nl × rate / 1e8``;
* equity ``E`` (whole units) ≤ ``MM`` iff ``E ≤ floor(MM)``; ``MM ≥ th × E`` with ``th = t / 10^4`` iff
  ``floor(MM) × 10^4 + floor(frac × 10^4 / 1e8) ≥ t × E``, both sides formed in two 31-bit limbs so no product
  leaves int64.

No float decides anything: float64 only bounds a watch's gross notional, so that a book outside the core's range
is flagged (``overflow``) and refused by the caller instead of wrapping.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from margincall.core.ranges import BAND_DIGITS, MAX_MONEY, RATE_ONE
from margincall.core.state import I8, I64, B

_BAND_ONE = 10**BAND_DIGITS
_LIMB = 31
_MASK = (1 << _LIMB) - 1
#: A watch whose float64 gross notional is above this is refused (half of MAX_MONEY: float error is far below).
_GROSS_LIMIT = float(MAX_MONEY) / 2


@nb.njit(cache=True, inline="always")
def _mul_limbs(a: int, m: int) -> tuple[int, int]:
    """``a × m`` as ``(hi, lo)`` with value ``hi·2^31 + lo``, ``0 ≤ lo < 2^31`` (|a| < 2^63, 0 ≤ m < 2^31)."""
    a1 = a >> _LIMB
    lo = (a & _MASK) * m
    return a1 * m + (lo >> _LIMB), lo & _MASK


@nb.njit(cache=True, inline="always")
def _mm_at_least(mm_w: int, mm_f: int, equity: int, t: int) -> bool:
    """``MM ≥ (t / 10^4) × equity`` exactly, for ``MM = mm_w + mm_f / 1e8``."""
    xh, xl = _mul_limbs(mm_w, _BAND_ONE)
    xl += (mm_f * _BAND_ONE) // RATE_ONE
    xh += xl >> _LIMB
    xl &= _MASK
    yh, yl = _mul_limbs(equity, t)
    return bool(xh > yh or (xh == yh and xl >= yl))


@nb.njit(cache=True, inline="always")
def _at_least(mm_w: int, mm_f: int, equity: int, t: int) -> bool:
    """``BandConfig.next_band``'s ``at_least``: MM > 0 and (equity ≤ 0 or MM ≥ th × equity)."""
    positive = mm_w > 0 or (mm_w == 0 and mm_f > 0)
    return positive and (equity <= 0 or _mm_at_least(mm_w, mm_f, equity, t))


@nb.njit(cache=True)
def next_band(current: int, mm_w: int, mm_f: int, equity: int, thresholds: I64) -> int:
    """``BandConfig.next_band`` in integers. ``thresholds`` at 10^-4: [warning, reduce_only, warning −
    hysteresis, reduce_only − hysteresis]. Bands: 0 healthy, 1 warning, 2 reduce-only, 3 liquidation."""
    positive = mm_w > 0 or (mm_w == 0 and mm_f > 0)
    if positive and equity <= mm_w:
        return 3
    raw = 0
    if _at_least(mm_w, mm_f, equity, thresholds[1]):
        raw = 2
    elif _at_least(mm_w, mm_f, equity, thresholds[0]):
        raw = 1
    if raw >= current:
        return raw
    band = min(current, 2)
    while band > raw and not _at_least(mm_w, mm_f, equity, thresholds[band + 1]):
        band -= 1
    return band


@nb.njit(cache=True, inline="always")
def tier_of(amount: int, floor: I64, t0: int, t1: int, inclusive: bool) -> int:
    """The row of the tier holding ``amount`` among rows ``t0:t1``: the last whose floor is below it (or equal to
    it, unless caps are inclusive) — ``TierTable.index_for``."""
    k = t0
    for t in range(t0 + 1, t1):
        f = floor[t]
        if f < amount or (f == amount and not inclusive):
            k = t
        else:
            break
    return k


@nb.njit(cache=True)
def watch_status(cands: I64, w_ptr: I64, w_positions: I64, w_isolated: B, w_account: I64, w_asset: I64,
                 wallet: I64, size: I64, entry: I64, iso_margin: I64, p_market: I64,
                 contract_size: I64, basis_contracts: B, cap_inclusive: B, tier_ptr: I64, has_mark: B, mark: I64,
                 floor: I64, rate: I64, amount_w: I64, amount_f: I64,
                 current: I8, thresholds: I64,
                 equity_out: I64, mm_w_out: I64, mm_f_out: I64, liq_out: B, band_out: I8, overflow_out: B) -> None:
    """The status of each watch in ``cands`` (row ``i`` of the outputs is watch ``cands[i]``); ``current`` is
    each candidate's band before this observation."""
    for i in range(len(cands)):
        w = cands[i]
        lo, hi = w_ptr[w], w_ptr[w + 1]
        # an isolated watch holds exactly its one position (build.watches_of)
        base = iso_margin[w_positions[lo]] if w_isolated[w] else wallet[w_account[w], w_asset[w]]
        gross = abs(float(base))
        eq = base
        mw = 0
        mf = 0
        over = False
        for j in range(lo, hi):
            p = w_positions[j]
            m = p_market[p]
            e = entry[p]
            price = mark[m] if has_mark[m] else e
            s = size[p]
            q = abs(s) * contract_size[m]
            gross += float(q) * float(max(price, e))
            if gross > _GROSS_LIMIT:
                over = True
                break
            n = q * price
            eq += q * (price - e) if s > 0 else q * (e - price)
            k = tier_of(abs(s) if basis_contracts[m] else n, floor, tier_ptr[m], tier_ptr[m + 1], cap_inclusive[m])
            gross += abs(float(amount_w[k]))  # a deduction (a one-tier table's may be any size) bounds MM too
            if gross > _GROSS_LIMIT:
                over = True
                break
            nh = n // RATE_ONE
            nl = n - nh * RATE_ONE
            r = rate[k]
            mw += nh * r - amount_w[k]
            mf += nl * r - amount_f[k]
            carry = mf // RATE_ONE
            mw += carry
            mf -= carry * RATE_ONE
        overflow_out[i] = over
        if over:
            equity_out[i] = 0
            mm_w_out[i] = 0
            mm_f_out[i] = 0
            liq_out[i] = False
            band_out[i] = current[i]
            continue
        equity_out[i] = eq
        mm_w_out[i] = mw
        mm_f_out[i] = mf
        liq_out[i] = hi > lo and eq <= mw
        band_out[i] = next_band(current[i], mw, mf, eq, thresholds) if hi > lo else 0


@nb.njit(cache=True)
def candidate_watches(markets: I64, m_ptr: I64, m_positions: I64, p_watch: I64, n_watches: int) -> I64:
    """The watches holding a position in any of ``markets`` (ascending): what a tick of those marks can move."""
    seen = np.zeros(n_watches, np.bool_)
    for i in range(len(markets)):
        m = markets[i]
        for j in range(m_ptr[m], m_ptr[m + 1]):
            seen[p_watch[m_positions[j]]] = True
    return np.flatnonzero(seen).astype(np.int64)

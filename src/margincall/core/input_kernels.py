"""The compiled passes of the inputs that move money: a run of fills, deposits and withdrawals checked and
written into the arrays one after the other (:func:`run_inputs`), and a funding payment (:func:`funding_pass`).

Each input is the reference's (``ledger.trading.Trading.trade``, ``ledger.handlers.money``,
``ledger.handlers.marks.funding``), its checks in the reference's order, so a refused input is refused for the
same rule:

1. ``out_of_order``: ``ts`` earlier than the last applied event's;
2. a fill on a hedge-mode leg that would reduce the leg by more than it holds: ``reduce_exceeds_position``;
3. a reduce-only fill that would open: ``reduce_only_violation``;
4. a fill that opens: the position after beyond the last tier's cap (``position_too_large``), or its leverage
   above its tier's maximum (``leverage_too_high``, ``check_leverage``), then the available balance after the
   fill (wallet + Σ cross uPnL − Σ cross IM − order margin) below zero: ``insufficient_margin``;
5. a wallet (not liquidating) below zero after the input: ``insufficient_balance``;
6. a withdrawal or a transfer above the withdrawable ``max(0, min(wallet − Σ IM − order margin + min(Σ uPnL, 0),
   wallet))`` of its account: ``insufficient_balance``.

The fill's money is :func:`margincall.core.fills.fill_amounts`. Every term is an integer but the initial margin
``notional / leverage``, which the reference sums as 28-digit Decimals: the pass bounds ``Σ IM`` between the sums
of its floors and ceilings in money units and decides when the bounds do; within a unit of the limit it stops
(``UNDECIDED``) and the caller decides with the reference's own Decimal expression, then runs on with that
decision (``force``).

Positions are found by binary search in the position table (sorted by account, market, leg) or in the run's
``tail`` (the positions it opened, in a small array with room for one per input); a position closed by the run
keeps its row with size 0 until the caller compacts the table (one rebuild of the watch table per run). Writes
are in place: the caller hands in the state and takes it back.
"""

from __future__ import annotations

from typing import Any

import numba as nb
import numpy as np

from margincall.core.fills import MAX_PRO_RATA_SIZE, fill_amounts
from margincall.core.kernels import tier_of
from margincall.core.ranges import MAX_MONEY, RATE_ONE
from margincall.core.state import SYSTEM_CLEARING, SYSTEM_EXTERNAL, SYSTEM_FEES, SYSTEM_FUNDING, SYSTEM_INSURANCE
from margincall.ledger.state import DEFAULT_LEVERAGE

FILL, DEPOSIT, WITHDRAWAL, TRANSFER, INSURANCE_DEPOSIT = 0, 1, 2, 3, 4
#: an input refused before the pass (its payload), decided after the ``ts`` check; or before it (not an object,
#: a bad ``ts``)
PRE_REFUSED, STATIC_REFUSED = -1, -4
#: codes of an input's outcome; refusals carry the ledger's rule name (:data:`REFUSALS`)
APPLIED = 0
REFUSALS = ("", "reduce_exceeds_position", "reduce_only_violation", "position_too_large", "leverage_too_high",
            "insufficient_margin", "insufficient_balance", "out_of_order", "payload")
OUT_OF_ORDER, PAYLOAD = 7, 8
#: the input is outside the core's range or averages an entry (refused by design, not by a rule)
AVERAGED, OUT_OF_RANGE = -1, -3
#: the pass stopped: Σ IM is within a unit of the limit, the caller decides (Decimal) and runs on
UNDECIDED = -2
#: ``force`` values
DECIDE, FORCE_EXCEEDS, FORCE_FITS = 0, 1, 2
_DEFAULT_LEVERAGE = int(DEFAULT_LEVERAGE * RATE_ONE)  # the ledger's default (state.default_leverage)
_HALF = float(MAX_MONEY) / 2
_MAX_LEVERAGE_INT = 18 * 10**10  # b × 1e8 < 2^64 for b < leverage at 1e-8


@nb.njit(cache=True, inline="always")
def _lower_bound(acc: Any, mkt: Any, side: Any, a: Any, m: Any, s: Any) -> Any:
    """The first row not below (a, m, s) in rows sorted by (account, market, side)."""
    lo, hi = 0, len(acc)
    while lo < hi:
        mid = (lo + hi) // 2
        ka, km, ks = acc[mid], mkt[mid], side[mid]
        if ka < a or (ka == a and (km < m or (km == m and ks < s))):
            lo = mid + 1
        else:
            hi = mid
    return lo


@nb.njit(cache=True)
def _find(acc: Any, mkt: Any, side: Any, a: Any, m: Any, s: Any) -> Any:
    """The row of (a, m, s) in rows sorted by (account, market, side), or −1."""
    lo = _lower_bound(acc, mkt, side, a, m, s)
    if lo < len(acc) and acc[lo] == a and mkt[lo] == m and side[lo] == s:
        return lo
    return -1


@nb.njit(cache=True)
def _account_range(acc: Any, a: Any) -> Any:
    lo, hi = 0, len(acc)
    while lo < hi:
        mid = (lo + hi) // 2
        if acc[mid] < a:
            lo = mid + 1
        else:
            hi = mid
    start = lo
    hi = len(acc)
    while lo < hi:
        mid = (lo + hi) // 2
        if acc[mid] <= a:
            lo = mid + 1
        else:
            hi = mid
    return start, lo


@nb.njit(cache=True)
def _setting(s_acc: Any, s_mkt: Any, s_lev: Any, s_iso: Any, a: Any, m: Any, default_lev: Any) -> Any:
    """(leverage at 1e-8, isolated) the account set for the market (``Ledger.settings``)."""
    lo, hi = 0, len(s_acc)
    while lo < hi:
        mid = (lo + hi) // 2
        if s_acc[mid] < a or (s_acc[mid] == a and s_mkt[mid] < m):
            lo = mid + 1
        else:
            hi = mid
    if lo < len(s_acc) and s_acc[lo] == a and s_mkt[lo] == m:
        return (s_lev[lo] if s_lev[lo] else default_lev), s_iso[lo]
    return default_lev, False


@nb.njit(cache=True)
def _im_bounds(n: Any, lev: Any) -> Any:
    """(floor, ceil) of ``n × 1e8 / lev`` (an initial margin in money units; ``lev`` at 1e-8)."""
    a = n // lev
    b = n - a * lev
    num = np.uint64(b) * np.uint64(RATE_ONE)
    q = num // np.uint64(lev)
    lo = a * RATE_ONE + np.int64(q)
    return lo, lo + (1 if num != q * np.uint64(lev) else 0)


@nb.njit(cache=True)
def _cross_terms(acc: Any, mkt: Any, size: Any, entry: Any, iso: Any, lev: Any, t_acc: Any, t_mkt: Any,
        t_size: Any, t_entry: Any, t_iso: Any, t_lev: Any, n_tail: Any, m_asset: Any, cs: Any, has_mark: Any,
        mark: Any, a: Any, asset: Any) -> Any:
    """(Σ uPnL, Σ IM floor, Σ IM ceil, in range) of the account's cross positions settled in ``asset``, at the
    marks (the entry before the first mark): ``Valuation.cross_totals`` without the MM."""
    upnl = 0
    lo_sum = 0
    hi_sum = 0
    gross = 0.0
    start, end = _account_range(acc, a)
    for k in range(start, end + n_tail):
        if k < end:
            s, m, e, i, lv = size[k], mkt[k], entry[k], iso[k], lev[k]
        else:
            j = k - end
            if t_acc[j] != a:
                continue
            s, m, e, i, lv = t_size[j], t_mkt[j], t_entry[j], t_iso[j], t_lev[j]
        if s == 0 or i or m_asset[m] != asset:
            continue
        price = mark[m] if has_mark[m] else e
        q = abs(s) * cs[m]
        gross += float(q) * float(max(price, e)) * (1.0 + float(RATE_ONE) / float(lv))
        if gross > _HALF or lv > _MAX_LEVERAGE_INT:
            return 0, 0, 0, False
        upnl += q * (price - e) if s > 0 else q * (e - price)
        flo, fhi = _im_bounds(q * price, lv)
        lo_sum += flo
        hi_sum += fhi
    return upnl, lo_sum, hi_sum, True


@nb.njit(cache=True)
def _tier_refusal(m: Any, size_after: Any, price: Any, lev: Any, cs: Any, basis_contracts: Any,
        cap_inclusive: Any, tier_ptr: Any, floor: Any, max_lev: Any, last_cap: Any) -> Any:
    """``check_leverage``: 3 (beyond the last cap), 4 (leverage above its tier's maximum) or 0."""
    amount = size_after if basis_contracts[m] else size_after * cs[m] * price
    incl = cap_inclusive[m]
    cap = last_cap[m]
    if cap >= 0 and (amount > cap if incl else amount >= cap):
        return 3
    k = tier_of(amount, floor, tier_ptr[m], tier_ptr[m + 1], incl)
    return 4 if lev > max_lev[k] else 0


@nb.njit(cache=True)
def run_inputs(start: Any, kind: Any, acct: Any, mkt: Any, leg: Any, signed: Any, price: Any, fee_rate: Any,
        reduce_only: Any, asset: Any, amount: Any, ts: Any, force: Any, code: Any, scratch: Any, counters: Any,
        acc: Any, mkt_p: Any, side: Any, size: Any, entry: Any, iso: Any, margin: Any, lev: Any, t_acc: Any,
        t_mkt: Any, t_side: Any, t_size: Any, t_entry: Any, t_iso: Any, t_margin: Any, t_lev: Any, s_acc: Any,
        s_mkt: Any, s_lev: Any, s_iso: Any, m_asset: Any, cs: Any, basis_contracts: Any, cap_inclusive: Any,
        tier_ptr: Any, floor: Any, max_lev: Any, last_cap: Any, has_mark: Any, mark: Any, wallet: Any,
        liquidating: Any, order_margin: Any, system: Any, deposits: Any, withdrawals: Any) -> Any:
    """Inputs ``start…`` in order; ``code[i]`` their outcome. ``counters`` = [n_tail, last_ts, applied, positions
    opened, closed or moved between cross and isolated]. Returns the index it stopped at: ``len(kind)``, or an
    input whose ``code`` is :data:`UNDECIDED` (then ``scratch`` holds [K, position row (−1 none, ≥ len: tail),
    size, entry, leverage, isolated] for the caller's Decimal decision; nothing of that input is written)."""
    n_main = len(acc)
    for i in range(start, len(kind)):
        if kind[i] == STATIC_REFUSED:
            code[i] = PAYLOAD
            continue
        if ts[i] < counters[1]:
            code[i] = OUT_OF_ORDER
            continue
        if kind[i] == PRE_REFUSED:
            code[i] = PAYLOAD
            continue
        a = acct[i]
        x = asset[i]
        if kind[i] == DEPOSIT or kind[i] == INSURANCE_DEPOSIT:
            held = wallet[a, x] if kind[i] == DEPOSIT else system[SYSTEM_INSURANCE, x]
            if float(held) + float(amount[i]) > _HALF or float(deposits[x]) + float(amount[i]) > _HALF:
                code[i] = OUT_OF_RANGE
                continue
            if kind[i] == DEPOSIT:
                wallet[a, x] += amount[i]
            else:
                system[SYSTEM_INSURANCE, x] += amount[i]
            system[SYSTEM_EXTERNAL, x] -= amount[i]
            deposits[x] += amount[i]
        elif kind[i] == WITHDRAWAL or kind[i] == TRANSFER:
            w = wallet[a, x]
            if amount[i] > w:
                code[i] = 6
                continue
            upnl, lo_im, hi_im, ok = _cross_terms(acc, mkt_p, size, entry, iso, lev, t_acc, t_mkt, t_size, t_entry,
                                                  t_iso, t_lev, counters[0], m_asset, cs, has_mark, mark, a, x)
            if not ok:
                code[i] = OUT_OF_RANGE
                continue
            # refused iff Σ IM > wallet − order margin + min(uPnL, 0) − amount
            lim = w - order_margin[a, x] + min(upnl, 0) - amount[i]
            verdict = force[i]
            if verdict == DECIDE:
                verdict = FORCE_EXCEEDS if lo_im >= lim + 1 else (FORCE_FITS if hi_im <= lim - 1 else DECIDE)
            if verdict == DECIDE:
                code[i] = UNDECIDED
                scratch[0] = lim
                scratch[1] = -1
                return i
            if verdict == FORCE_EXCEEDS:
                code[i] = 6
                continue
            if kind[i] == TRANSFER:  # to the wallet of account ``mkt[i]``
                if float(wallet[mkt[i], x]) + float(amount[i]) > _HALF:
                    code[i] = OUT_OF_RANGE
                    continue
                wallet[a, x] -= amount[i]
                wallet[mkt[i], x] += amount[i]
            else:
                wallet[a, x] -= amount[i]
                system[SYSTEM_EXTERNAL, x] += amount[i]
                withdrawals[x] += amount[i]
        else:
            m = mkt[i]
            s_leg = leg[i]
            q = signed[i]
            p = price[i]
            n_tail = counters[0]
            r = _find(acc, mkt_p, side, a, m, s_leg)
            if r < 0:
                for j in range(n_tail):
                    if t_acc[j] == a and t_mkt[j] == m and t_side[j] == s_leg:
                        r = n_main + j
                        break
            if r >= n_main:
                j = r - n_main
                cur, e0, held, iso0, lev0 = t_size[j], t_entry[j], t_margin[j], t_iso[j], t_lev[j]
            elif r >= 0:
                cur, e0, held, iso0, lev0 = size[r], entry[r], margin[r], iso[r], lev[r]
            else:
                cur, e0, held, iso0, lev0 = 0, 0, 0, False, 0
            size_abs = abs(q)
            buy = q > 0
            if s_leg != 0 and buy != (s_leg == 1) and size_abs > abs(cur):
                code[i] = 1
                continue
            closing = min(size_abs, abs(cur)) if cur != 0 and (cur > 0) != buy else 0
            opening = size_abs - closing
            if reduce_only[i] and opening > 0:
                code[i] = 2
                continue
            if abs(cur) > MAX_PRO_RATA_SIZE or float(size_abs) * float(cs[m]) * float(p) > _HALF:
                code[i] = OUT_OF_RANGE
                continue
            lev1, iso1 = lev0, iso0
            if cur == 0 or (closing > 0 and closing == abs(cur)):  # what opens takes the account's settings
                lev1, iso1 = _setting(s_acc, s_mkt, s_lev, s_iso, a, m,
                                      min(_DEFAULT_LEVERAGE, max_lev[tier_ptr[m]]))
            fee, realized, released, locked, after, e1 = fill_amounts(cur, e0, held, q, p, cs[m], fee_rate[i],
                                                                      lev1 if iso1 else 0)
            if opening > 0:
                refusal = _tier_refusal(m, abs(cur) - closing + opening, p, lev1, cs, basis_contracts, cap_inclusive,
                                        tier_ptr, floor, max_lev, last_cap)
                if refusal:
                    code[i] = refusal
                    continue
            if e1 < 0:
                code[i] = AVERAGED
                continue
            if float(abs(after)) * float(cs[m]) > 9e17:
                code[i] = OUT_OF_RANGE
                continue
            x = m_asset[m]
            w1 = wallet[a, x] + realized + released - locked - fee
            if after == 0:
                e1, lev1, iso1 = 0, 0, False
            m1 = held - released + locked
            # the position as the fill leaves it, staged in its row for the margin check
            if r < 0:
                r = n_main + n_tail
                j = n_tail
                t_acc[j], t_mkt[j], t_side[j] = a, m, s_leg
                t_size[j], t_entry[j], t_iso[j], t_lev[j], t_margin[j] = 0, 0, False, 0, 0
            if r >= n_main:
                j = r - n_main
                t_size[j], t_entry[j], t_iso[j], t_lev[j] = after, e1, iso1, lev1
                n_seen = max(n_tail, j + 1)
            else:
                size[r], entry[r], iso[r], lev[r] = after, e1, iso1, lev1
                n_seen = n_tail
            refused = 0
            if opening > 0:
                upnl, lo_im, hi_im, ok = _cross_terms(acc, mkt_p, size, entry, iso, lev, t_acc, t_mkt, t_size,
                                                      t_entry, t_iso, t_lev, n_seen, m_asset, cs, has_mark, mark, a,
                                                      x)
                lim = w1 + upnl - order_margin[a, x]  # refused iff Σ IM > lim
                verdict = force[i]
                if not ok:
                    refused = OUT_OF_RANGE
                elif verdict == DECIDE:
                    verdict = FORCE_EXCEEDS if lo_im >= lim + 1 else (FORCE_FITS if hi_im <= lim - 1 else DECIDE)
                    if verdict == DECIDE:
                        refused = UNDECIDED
                        scratch[0] = lim
                        scratch[1] = r
                        scratch[2] = after
                        scratch[3] = e1
                        scratch[4] = lev1
                        scratch[5] = 1 if iso1 else 0
                if verdict == FORCE_EXCEEDS and refused == 0:
                    refused = 5
            if refused == 0 and w1 < 0 and not liquidating[a, x]:
                refused = 6
            if refused != 0:  # unstage
                if r >= n_main:
                    j = r - n_main
                    t_size[j], t_entry[j], t_iso[j], t_lev[j] = cur, e0, iso0, lev0
                else:
                    size[r], entry[r], iso[r], lev[r] = cur, e0, iso0, lev0
                code[i] = refused
                if refused == UNDECIDED:
                    return i
                continue
            if r >= n_main:
                t_margin[r - n_main] = m1
                counters[0] = n_seen
            else:
                margin[r] = m1
            if (after == 0) != (cur == 0) or iso1 != iso0:  # the watch table changes: rebuilt after the run
                counters[3] += 1
            wallet[a, x] = w1
            system[SYSTEM_FEES, x] += fee
            system[SYSTEM_CLEARING, x] -= realized
        code[i] = APPLIED
        counters[1] = ts[i]
        counters[2] += 1
    return len(kind)


@nb.njit(cache=True)
def funding_pass(rows: Any, size: Any, iso: Any, margin: Any, acc: Any, m_cs: Any, at: Any, rate: Any, x: Any,
        wallet: Any, system: Any) -> Any:
    """One funding payment over ``rows`` (the market's positions, by account then leg), the reference's
    ``funding``: each receives ``floor(−sign × q × at × rate / 1e8)`` (``rate`` at 1e-8), a payer paying at most
    what its book holds (not below zero), from its wallet or its isolated margin; the pool's rest to the clearing
    book. Returns False (nothing written) when a payment is outside the core's range."""
    for k in range(len(rows)):
        p = rows[k]
        if float(abs(size[p])) * float(m_cs) * float(at) > _HALF:
            return False
    for k in range(len(rows)):
        p = rows[k]
        s = size[p]
        n = abs(s) * m_cs * at
        nh = n // RATE_ONE
        nl = n - nh * RATE_ONE
        sign = 1 if s > 0 else -1
        # −sign × n × rate / 1e8, floored: −sign·nh·rate + floor(−sign·nl·rate / 1e8)
        amt = -sign * nh * rate + (-sign * nl * rate) // RATE_ONE
        if amt < 0:
            have = margin[p] if iso[p] else wallet[acc[p], x]
            take = min(-amt, max(have, 0))
            if iso[p]:
                margin[p] -= take
            else:
                wallet[acc[p], x] -= take
            system[SYSTEM_FUNDING, x] += take
        elif amt > 0:
            if iso[p]:
                margin[p] += amt
            else:
                wallet[acc[p], x] += amt
            system[SYSTEM_FUNDING, x] -= amt
    system[SYSTEM_CLEARING, x] += system[SYSTEM_FUNDING, x]
    system[SYSTEM_FUNDING, x] = 0
    return True


@nb.njit(cache=True)
def insertion_points(acc: Any, mkt: Any, side: Any, t_acc: Any, t_mkt: Any, t_side: Any, order: Any) -> Any:
    """For each new row ``order[j]`` (sorted), the row of the table (sorted by account, market, leg, closed rows
    included) before which it goes."""
    at = np.empty(len(order), np.int64)
    for j in range(len(order)):
        r = order[j]
        at[j] = _lower_bound(acc, mkt, side, t_acc[r], t_mkt[r], t_side[r])
    return at


@nb.njit(cache=True)
def merged(main: Any, size: Any, new: Any, order: Any, at: Any, n_out: int) -> Any:
    """``main`` without its closed rows (``size`` 0), with ``new[order[j]]`` before row ``at[j]``: one pass."""
    out = np.empty(n_out, main.dtype)
    j = 0
    k = 0
    for i in range(len(main)):
        while j < len(order) and at[j] == i:
            out[k] = new[order[j]]
            k += 1
            j += 1
        if size[i] != 0:
            out[k] = main[i]
            k += 1
    while j < len(order):
        out[k] = new[order[j]]
        k += 1
        j += 1
    return out

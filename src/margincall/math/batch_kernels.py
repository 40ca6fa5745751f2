"""Compiled (numba, float64) twins of the per-position formulas of this package, for whole books.

Each kernel is the twin of one Decimal formula, which is its executable specification; the differential test
``tests/venues/test_batch.py`` pins them to it (relative error ≤ 1e-12, "no price" in exactly the same cases):

* :func:`tier_index` — :meth:`margincall.model.tiers.TierTable.index_for` on a padded
  :class:`~margincall.math.vector.TierArrays` row (also the engine screen's tier lookup).
* :func:`mm_in_tier` — :func:`margincall.math.margin.mm_for_notional` (docs/venues.md §2.1, §2.2, §5).
* :func:`pnl` / :func:`pnl2` — :func:`margincall.math.contracts.pnl_of` (float64, double-double).
* :func:`solve_one_leg` / :func:`solve_legs` — :func:`margincall.math.solver.solve_price` (docs/venues.md §3.3,
  §12.2): ``f(u) = constant + Σ legs [PnL(u) − MM(u)]`` with ``u = P`` (linear) or ``1/P`` (inverse), linear
  within a tier. One leg of a continuous (bracket, or contracts-keyed) table makes ``f`` monotone, so the root
  is found by walking from the mark's tier towards it: the line of tier ``k`` has its root below (above) the
  tier exactly when ``f`` does. Anything else takes every segment, as the Decimal solver does.
* the venues' closed forms (Bybit §4.2–4.4, Bitunix §6): :mod:`margincall.math.batch_forms`.

A venue's formula is chosen by the integer ``FORM_*`` code its rule carries (:mod:`margincall.venues.rules`).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from margincall.math.batch_numerics import allocating, dd_add, dd_div, dd_mul, kernel, kernel_inline

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
B = npt.NDArray[np.bool_]

#: equity = requirement through :func:`solve_one_leg` (Binance, OKX, Hyperliquid, dYdX, generic: their
#: published closed forms are this equation solved in one tier; docs/venues.md §3.3, §5, §7, §8)
FORM_GENERIC = 0
#: Bitunix: MM at the open price, estimated liquidation fee deducted (§6)
FORM_BITUNIX = 1
#: Bybit's isolated forms (§4.2–4.3), the classic inverse cross form under legacy (§4.4)
FORM_BYBIT_LEGACY = 2
FORM_BYBIT_2024 = 3
FORM_BYBIT_2026 = 4
#: docs/venues.md §0: ``MM / equity`` (0) or ``equity / MM`` (1)
RATIO_MM_OVER_EQUITY = 0
RATIO_EQUITY_OVER_MM = 1


class KernelTiers(NamedTuple):
    """The arrays of a :class:`~margincall.math.vector.TierArrays` as one numba-passable value."""

    floors: F64
    mmr: F64
    amounts: F64
    inclusive: B
    by_contracts: B
    whole: B
    last_cap: F64
    max_leverage: F64


@kernel_inline
def tier_index(floors: F64, row: int, amount: float, inclusive: bool) -> int:
    """The last tier whose floor is ≤ ``amount`` (< with inclusive caps); past the last cap, the last tier.

    The floors ascend, so that is the number of floors above the first that are ≤ (<) ``amount``: counted over
    the whole padded row (padding floors are +inf) without a data-dependent branch, as a tier drawn at random
    would mispredict a search's exit every time."""
    k = 0
    width = floors.shape[1]
    if inclusive:
        for t in range(1, width):
            k += floors[row, t] < amount
    else:
        for t in range(1, width):
            k += floors[row, t] <= amount
    return k


@kernel
def mm_in_tier(notional: float, mmr: float, fee_rate: float, amount: float) -> float:
    """``N·(MMR_k + fee) − cum_k`` (whole-position tables carry ``cum = 0``)."""
    return notional * (mmr + fee_rate) - amount


@kernel
def pnl(inverse: bool, s: float, q: float, entry: float, price: float) -> float:
    """Linear ``s·Q·(P − EP)``; inverse ``s·Q·(1/EP − 1/P)``, computed as ``s·Q·(P − EP)/(EP·P)`` (the same
    number; ``P − EP`` is exact in float when the prices are within a factor 2, ``1/EP − 1/P`` cancels)."""
    if inverse:
        return s * q * (price - entry) / (entry * price)
    return s * q * (price - entry)


@kernel_inline
def pnl2(
    inverse: bool, s: float, q: float, q_lo: float, entry: float, entry_lo: float, price: float, price_lo: float
) -> tuple[float, float]:
    """:func:`pnl`'s expression with each operation in double-double (each input ``x + x_lo``), for an equity
    that cancels (:mod:`margincall.math.batch_numerics`); :func:`pnl` stays plain float64, as the row loop and
    the engine's screen run it on every position and only a cancelling equity needs the extra digits."""
    dh, dl = dd_add(price, price_lo, -entry, -entry_lo)
    nh, nl = dd_mul(q, q_lo, dh, dl)
    if inverse:
        eh, el = dd_mul(entry, entry_lo, price, price_lo)
        nh, nl = dd_div(nh, nl, eh, el)
    return s * nh, s * nl


@kernel
def ratio_of(convention: int, equity: float, maintenance: float) -> float:
    """:class:`~margincall.venues.profiles.RatioConvention`: NaN where the Decimal ratio is ``None``."""
    if convention == RATIO_MM_OVER_EQUITY:
        return maintenance / equity if equity > 0.0 else np.nan
    return equity / maintenance if maintenance > 0.0 else np.nan


@kernel
def _leg_ab(inverse: bool, s: float, q: float, entry: float) -> tuple[float, float]:
    if inverse:
        return s * q / entry, -s * q
    return -s * q * entry, s * q


@kernel_inline
def solve_one_leg(
    inverse: bool,
    s: float,
    q: float,
    entry: float,
    mark: float,
    constant: float,
    fee: float,
    size: float,
    row: int,
    floors: F64,
    mmr: F64,
    amounts: F64,
    inclusive: B,
    by_contracts: B,
    whole: B,
    maintenance: bool,
) -> float:
    """Price of one leg at which ``constant + PnL − MM = 0`` (NaN: none); ``maintenance=False`` is bankruptcy.

    The arrays are those of :class:`KernelTiers`, given apart: a tuple of arrays handed to a call costs a
    reference count per array, which the hot loop cannot afford."""
    a0, b0 = _leg_ab(inverse, s, q, entry)
    a0 += constant
    if not maintenance:
        return _root_price(inverse, a0, b0)
    incl = inclusive[row]
    if by_contracts[row]:
        k = tier_index(floors, row, size, incl)
        return _root_price(inverse, a0 + amounts[row, k], b0 - q * (mmr[row, k] + fee))
    if whole[row]:
        return _one_leg_segments(inverse, a0, b0, q, mark, fee, row, floors, mmr, amounts, incl)
    width = floors.shape[1]
    k = tier_index(floors, row, q / mark if inverse else q * mark, incl)
    direction = 0.0
    for _ in range(width + 1):
        a = a0 + amounts[row, k]
        b = b0 - q * (mmr[row, k] + fee)
        if b == 0.0 or (direction != 0.0 and (b > 0.0) != (direction > 0.0)):
            break  # not monotone: every segment
        direction = b
        u = -a / b
        n = q * u
        lo = floors[row, k]
        if (n < lo or (n == lo and not incl) or u <= 0.0) and k > 0:
            k -= 1
            continue
        if k + 1 < width and (n > floors[row, k + 1] or (n == floors[row, k + 1] and incl)):
            k += 1
            continue
        if u <= 0.0:
            return np.nan
        return float(1.0 / u if inverse else u)
    # Not monotone: every segment, as the Decimal solver (:func:`_solve_general`'s segments for one leg keyed on
    # notional are its tiers).
    return _one_leg_segments(inverse, a0, b0, q, mark, fee, row, floors, mmr, amounts, incl)


@kernel
def _one_leg_f(
    a0: float,
    b0: float,
    q: float,
    fee: float,
    row: int,
    floors: F64,
    mmr: F64,
    amounts: F64,
    incl: bool,
    u: float,
    sample: float,
) -> float:
    k = tier_index(floors, row, q * sample, incl)
    return float(a0 + amounts[row, k] + (b0 - q * (mmr[row, k] + fee)) * u)


@kernel
def _one_leg_segments(
    inverse: bool,
    a0: float,
    b0: float,
    q: float,
    mark: float,
    fee: float,
    row: int,
    floors: F64,
    mmr: F64,
    amounts: F64,
    incl: bool,
) -> float:
    """:func:`_solve_general` for one notional-keyed leg, without allocating: the segments are the tiers."""
    width = floors.shape[1]
    n_seg = 1
    while n_seg < width and np.isfinite(floors[row, n_seg]):
        n_seg += 1
    lower = np.nan
    upper = np.nan
    prev_right = np.nan
    for i in range(n_seg):
        lo = 0.0 if i == 0 else floors[row, i] / q
        last = i + 1 >= n_seg
        hi = np.inf if last else floors[row, i + 1] / q
        sample = (lo + hi) / 2.0 if not last else (lo * 2.0 if lo > 0.0 else 1.0)
        k = tier_index(floors, row, q * sample, incl)
        a = a0 + amounts[row, k]
        b = b0 - q * (mmr[row, k] + fee)
        f_lo = a + b * lo
        root = np.nan
        if not np.isnan(prev_right) and lo > 0.0 and (prev_right > 0.0) != (f_lo > 0.0) and f_lo != 0.0:
            root = lo
        for pass_ in range(2):
            if pass_ == 1:
                root = np.nan
                if b != 0.0:
                    u = -a / b
                    if u > lo and (last or u <= hi) and u > 0.0:
                        root = u
                elif a == 0.0:
                    root = lo if lo > 0.0 else (1.0 if last else hi)
            if not np.isnan(root):
                p = 1.0 / root if inverse else root
                if p <= mark and (np.isnan(lower) or p > lower):
                    lower = p
                if p >= mark and (np.isnan(upper) or p < upper):
                    upper = p
        if not last:
            prev_right = a + b * hi
    u_mark = 1.0 / mark if inverse else mark
    value = _one_leg_f(a0, b0, q, fee, row, floors, mmr, amounts, incl, u_mark, u_mark)
    triggered = value <= 0.0
    up = mark + mark / 1e9
    u_up = 1.0 / up if inverse else up
    slope = _one_leg_f(a0, b0, q, fee, row, floors, mmr, amounts, incl, u_up, u_up) - value
    return _choose(lower, upper, mark, slope, triggered)


@kernel
def _choose(lower: float, upper: float, mark: float, slope: float, triggered: bool) -> float:
    """:func:`margincall.math.solver.solve_price`'s choice between the roots below and above the mark."""
    if slope > 0.0:
        price = upper if triggered else lower
    elif slope < 0.0:
        price = lower if triggered else upper
    elif np.isnan(lower):
        price = upper
    elif np.isnan(upper):
        price = lower
    else:
        price = lower if mark - lower <= upper - mark else upper
    if np.isnan(price) and triggered:
        price = upper if np.isnan(lower) else lower
    return float(price)


@kernel
def bankruptcy_one_leg(inverse: bool, s: float, q: float, entry: float, constant: float) -> float:
    """Price at which ``constant + PnL = 0`` (docs/venues.md §3.5; the solver with no maintenance); NaN: none."""
    a, b = _leg_ab(inverse, s, q, entry)
    return _root_price(inverse, a + constant, b)


@kernel
def _root_price(inverse: bool, a: float, b: float) -> float:
    """The price of ``a + b·u = 0`` on one segment ``u > 0`` (the Decimal solver's ``a = b = 0`` gives ``u = 1``)."""
    if b == 0.0:
        return 1.0 if a == 0.0 else np.nan
    u = -a / b
    if u <= 0.0:
        return np.nan
    return -b / a if inverse else u


@kernel
def _f(
    inverse: bool,
    s: F64,
    q: F64,
    ep: F64,
    fee: F64,
    size: F64,
    row: I64,
    constant: float,
    floors: F64,
    mmr: F64,
    amounts: F64,
    inclusive: B,
    by_contracts: B,
    whole: B,
    maintenance: bool,
    u: float,
    sample: float,
) -> tuple[float, float]:
    """``(a, b)`` of ``f = a + b·u`` in the tiers holding ``sample``."""
    a = constant
    b = 0.0
    for j in range(len(s)):
        la, lb = _leg_ab(inverse, s[j], q[j], ep[j])
        if maintenance:
            r = row[j]
            key = size[j] if by_contracts[r] else q[j] * sample
            k = tier_index(floors, r, key, inclusive[r])
            la += amounts[r, k]
            lb -= q[j] * (mmr[r, k] + fee[j])
        a += la
        b += lb
    return a, b


@allocating
def solve_legs(
    inverse: bool,
    s: F64,
    q: F64,
    ep: F64,
    fee: F64,
    size: F64,
    row: I64,
    mark: float,
    constant: float,
    floors: F64,
    mmr: F64,
    amounts: F64,
    inclusive: B,
    by_contracts: B,
    whole: B,
    maintenance: bool,
) -> float:
    """Several legs of one symbol (hedge mode): every segment, as :func:`margincall.math.solver.solve_price`."""
    if len(s) == 1:
        return solve_one_leg(
            inverse,
            s[0],
            q[0],
            ep[0],
            mark,
            constant,
            fee[0],
            size[0],
            row[0],
            floors,
            mmr,
            amounts,
            inclusive,
            by_contracts,
            whole,
            maintenance,
        )
    return _solve_general(
        inverse,
        s,
        q,
        ep,
        fee,
        size,
        row,
        mark,
        constant,
        floors,
        mmr,
        amounts,
        inclusive,
        by_contracts,
        whole,
        maintenance,
    )


@allocating
def _solve_general(
    inverse: bool,
    s: F64,
    q: F64,
    ep: F64,
    fee: F64,
    size: F64,
    row: I64,
    mark: float,
    constant: float,
    floors: F64,
    mmr: F64,
    amounts: F64,
    inclusive: B,
    by_contracts: B,
    whole: B,
    maintenance: bool,
) -> float:
    points = [0.0]
    if maintenance:
        for j in range(len(s)):
            r = row[j]
            if by_contracts[r]:
                continue
            for k in range(1, floors.shape[1]):
                fl = floors[r, k]
                if np.isfinite(fl) and fl / q[j] > 0.0:
                    points.append(fl / q[j])
    bounds = np.unique(np.array(points))
    roots = []
    prev_right = np.nan
    nb = len(bounds)
    for i in range(nb):
        lo = bounds[i]
        last = i + 1 >= nb
        hi = np.inf if last else bounds[i + 1]
        sample = (lo + hi) / 2.0 if not last else (lo * 2.0 if lo > 0.0 else 1.0)
        a, b = _f(
            inverse,
            s,
            q,
            ep,
            fee,
            size,
            row,
            constant,
            floors,
            mmr,
            amounts,
            inclusive,
            by_contracts,
            whole,
            maintenance,
            0.0,
            sample,
        )
        f_lo = a + b * lo
        if not np.isnan(prev_right) and lo > 0.0 and (prev_right > 0.0) != (f_lo > 0.0) and f_lo != 0.0:
            roots.append(lo)
        if b != 0.0:
            u = -a / b
            if u > lo and (last or u <= hi) and u > 0.0:
                roots.append(u)
        elif a == 0.0:
            roots.append(lo if lo > 0.0 else (1.0 if last else hi))
        if not last:
            prev_right = a + b * hi
    lower = np.nan
    upper = np.nan
    for u in roots:
        p = 1.0 / u if inverse else u
        if p <= mark and (np.isnan(lower) or p > lower):
            lower = p
        if p >= mark and (np.isnan(upper) or p < upper):
            upper = p
    u_mark = 1.0 / mark if inverse else mark
    a, b = _f(
        inverse,
        s,
        q,
        ep,
        fee,
        size,
        row,
        constant,
        floors,
        mmr,
        amounts,
        inclusive,
        by_contracts,
        whole,
        maintenance,
        0.0,
        u_mark,
    )
    value = a + b * u_mark
    triggered = value <= 0.0
    up = mark + mark / 1e9
    u_up = 1.0 / up if inverse else up
    a, b = _f(
        inverse,
        s,
        q,
        ep,
        fee,
        size,
        row,
        constant,
        floors,
        mmr,
        amounts,
        inclusive,
        by_contracts,
        whole,
        maintenance,
        0.0,
        u_up,
    )
    slope = a + b * u_up - value
    return _choose(lower, upper, mark, slope, triggered)

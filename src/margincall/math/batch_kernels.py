"""Compiled (numba, float64) twins of the per-position formulas of this package, for whole books.

Each kernel is the twin of one Decimal formula, which is its executable specification; the differential test
``tests/venues/test_batch.py`` pins them to it (relative error ≤ 1e-12, "no price" in exactly the same cases):

* :func:`tier_index` — :meth:`margincall.model.tiers.TierTable.index_for` on a padded
  :class:`~margincall.math.vector.TierArrays` row (also the engine screen's tier lookup).
* :func:`mm_in_tier` — :func:`margincall.math.margin.mm_for_notional` (docs/venues.md §2.1, §2.2, §5).
* :func:`pnl` — :func:`margincall.math.contracts.pnl_of`.
* :func:`solve_one_leg` / :func:`solve_legs` — :func:`margincall.math.solver.solve_price` (docs/venues.md §3.3,
  §12.2): ``f(u) = constant + Σ legs [PnL(u) − MM(u)]`` with ``u = P`` (linear) or ``1/P`` (inverse), linear
  within a tier. One leg of a continuous (bracket, or contracts-keyed) table makes ``f`` monotone, so the root
  is found by walking from the mark's tier towards it: the line of tier ``k`` has its root below (above) the
  tier exactly when ``f`` does. Anything else takes every segment, as the Decimal solver does.
* :func:`bybit_isolated` / :func:`bybit_inverse_cross_classic` — :mod:`margincall.math.bybit` (§4.2–4.4).
* :func:`bitunix_price` — :func:`margincall.math.bitunix.bitunix_liquidation_price` (§6).

A venue's formula is chosen by the integer ``FORM_*`` code its rule carries (:mod:`margincall.venues.rules`).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from numba import njit

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


@njit(cache=True, inline="always")
def tier_index(floors: F64, row: int, amount: float, inclusive: bool) -> int:
    """The last tier whose floor is ≤ ``amount`` (< with inclusive caps); past the last cap, the last tier."""
    k = 0
    width = floors.shape[1]
    if inclusive:
        while k + 1 < width and floors[row, k + 1] < amount:
            k += 1
    else:
        while k + 1 < width and floors[row, k + 1] <= amount:
            k += 1
    return k


@njit(cache=True)
def mm_in_tier(notional: float, mmr: float, fee_rate: float, amount: float) -> float:
    """``N·(MMR_k + fee) − cum_k`` (whole-position tables carry ``cum = 0``)."""
    return notional * (mmr + fee_rate) - amount


@njit(cache=True)
def pnl(inverse: bool, s: float, q: float, entry: float, price: float) -> float:
    """Linear ``s·Q·(P − EP)``; inverse ``s·Q·(1/EP − 1/P)``."""
    if inverse:
        return s * q * (1.0 / entry - 1.0 / price)
    return s * q * (price - entry)


@njit(cache=True)
def ratio_of(convention: int, equity: float, maintenance: float) -> float:
    """:class:`~margincall.venues.profiles.RatioConvention`: NaN where the Decimal ratio is ``None``."""
    if convention == RATIO_MM_OVER_EQUITY:
        return maintenance / equity if equity > 0.0 else np.nan
    return equity / maintenance if maintenance > 0.0 else np.nan


@njit(cache=True)
def _leg_ab(inverse: bool, s: float, q: float, entry: float) -> tuple[float, float]:
    if inverse:
        return s * q / entry, -s * q
    return -s * q * entry, s * q


@njit(cache=True, inline="always")
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
        return _solve_general(
            inverse,
            np.array([s]),
            np.array([q]),
            np.array([entry]),
            np.array([fee]),
            np.array([size]),
            np.array([row]),
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
    return _solve_general(
        inverse,
        np.array([s]),
        np.array([q]),
        np.array([entry]),
        np.array([fee]),
        np.array([size]),
        np.array([row]),
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


@njit(cache=True)
def bankruptcy_one_leg(inverse: bool, s: float, q: float, entry: float, constant: float) -> float:
    """Price at which ``constant + PnL = 0`` (docs/venues.md §3.5; the solver with no maintenance); NaN: none."""
    a, b = _leg_ab(inverse, s, q, entry)
    return _root_price(inverse, a + constant, b)


@njit(cache=True)
def _root_price(inverse: bool, a: float, b: float) -> float:
    """The price of ``a + b·u = 0`` on one segment ``u > 0`` (the Decimal solver's ``a = b = 0`` gives ``u = 1``)."""
    if b == 0.0:
        return 1.0 if a == 0.0 else np.nan
    u = -a / b
    if u <= 0.0:
        return np.nan
    return -b / a if inverse else u


@njit(cache=True)
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


@njit(cache=True)
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


@njit(cache=True)
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


@njit(cache=True)
def bybit_isolated(
    form: int,
    inverse: bool,
    s: float,
    q: float,
    entry: float,
    leverage: float,
    mmr: float,
    mmd: float,
    extra: float,
    fee: float,
) -> float:
    """:func:`margincall.math.bybit.bybit_isolated_liquidation_price` (docs/venues.md §4.2–4.3); NaN for ``None``."""
    imr = 1.0 / leverage
    if not inverse:
        if form == FORM_BYBIT_LEGACY:
            lp = entry * (1.0 - imr + mmr) - extra / q if s > 0 else entry * (1.0 + imr - mmr) + extra / q
        elif form == FORM_BYBIT_2024:
            step = (q * entry * imr - (q * entry * mmr - mmd)) / q + extra / q
            lp = entry - step if s > 0 else entry + step
        elif s > 0:
            lp = (entry * q - entry * q * imr - extra / (1.0 - fee) - mmd) / (q - q * mmr)
        else:
            lp = (entry * q + entry * q * imr + extra / (1.0 + fee) + mmd) / (q + q * mmr)
    else:
        pv = q / entry
        if form == FORM_BYBIT_2026:
            if s > 0:
                den = pv + pv * imr + extra / (1.0 + fee) + mmd
                num = q * (mmr + 1.0)
            else:
                den = pv - pv * imr - extra / (1.0 - fee) - mmd
                num = q * (1.0 - mmr)
        else:
            im = pv * imr
            mm = pv * mmr - mmd
            den = pv + (im - mm) + extra if s > 0 else pv - (im - mm) - extra
            num = q
        if den <= 0.0:
            return np.nan
        lp = num / den
    return lp if lp > 0.0 else np.nan


@njit(cache=True)
def bybit_inverse_cross_classic(
    s: float, q: float, entry: float, available: float, mmr: float, mmd: float, fee: float
) -> tuple[float, float]:
    """:func:`margincall.math.bybit.bybit_inverse_cross_classic` (docs/venues.md §4.4): ``(LP, BP)``; NaN: none."""
    pv = q / entry
    den = pv + available if s > 0 else pv - available
    if den <= 0.0:
        return np.nan, np.nan
    bankruptcy = (1.0 + s * fee) * q / den
    cushion = available - (pv * mmr - mmd) - q * fee / bankruptcy
    den = pv + cushion if s > 0 else pv - cushion
    return (q / den if den > 0.0 else np.nan), bankruptcy


@njit(cache=True)
def bitunix_price(
    inverse: bool, s: float, q: float, entry: float, margin: float, maintenance: float, fee: float
) -> float:
    """:func:`margincall.math.bitunix.bitunix_liquidation_price` (docs/venues.md §6); NaN for ``None``."""
    buffer = margin - maintenance - fee
    if not inverse:
        p = entry - s * buffer / q
    else:
        inv = 1.0 / entry + s * buffer / q
        if inv <= 0.0:
            return np.nan
        p = 1.0 / inv
    return p if p > 0.0 else np.nan

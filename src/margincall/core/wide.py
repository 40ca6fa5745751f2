"""Exact 128-bit products and quotients for the compiled passes, where a product of two int64 amounts leaves int64
(a price at 1e-10 times a quantity, a move at 1e-18 times a price).

A 128-bit value is a pair ``(hi, lo)`` of uint64 words. Only what the core's formulas need: the product of two
non-negative int64, the quotient and remainder of such a product by a positive int64, and rounding of a quotient
half to even (``math.liquidation.price_in_event``), to floor or to ceiling. Pinned to Python's integers by
``tests/core/test_core_wide_arithmetic``.
"""

from __future__ import annotations

import numba as nb
import numpy as np

_M32 = np.uint64(0xFFFFFFFF)
_S32 = np.uint64(32)
_ONE = np.uint64(1)
_ZERO = np.uint64(0)


@nb.njit(cache=True, inline="always")
def pow10(k: int) -> int:
    """``10^k`` as an int64, ``0 ≤ k ≤ 18``."""
    p = 1
    for _ in range(k):
        p *= 10
    return p


@nb.njit(cache=True)
def mul(a: int, b: int) -> tuple[np.uint64, np.uint64]:
    """``a × b`` as ``(hi, lo)`` for ``0 ≤ a, b < 2^63``."""
    ua = np.uint64(a)
    ub = np.uint64(b)
    a1 = ua >> _S32
    a0 = ua & _M32
    b1 = ub >> _S32
    b0 = ub & _M32
    p00 = a0 * b0
    p01 = a0 * b1
    p10 = a1 * b0
    p11 = a1 * b1
    mid = (p00 >> _S32) + (p01 & _M32) + (p10 & _M32)
    lo = (p00 & _M32) | ((mid & _M32) << _S32)
    hi = p11 + (p01 >> _S32) + (p10 >> _S32) + (mid >> _S32)
    return hi, lo


@nb.njit(cache=True)
def divmod_wide(hi: np.uint64, lo: np.uint64, d: int) -> tuple[int, int]:
    """``(q, r)`` of the 128-bit ``(hi, lo)`` by ``0 < d < 2^63`` (long division, a bit at a time); ``(-1, -1)``
    when the quotient is 2^63 or more (the caller refuses the value)."""
    ud = np.uint64(d)
    if hi >= ud:
        return -1, -1
    r = hi
    q = _ZERO
    for i in range(63, -1, -1):
        r = (r << _ONE) | ((lo >> np.uint64(i)) & _ONE)
        q = q << _ONE
        if r >= ud:
            r = r - ud
            q = q | _ONE
    if q >> np.uint64(63):
        return -1, -1
    return np.int64(q), np.int64(r)  # type: ignore[return-value]


@nb.njit(cache=True)
def mul_div_half_even(a: int, b: int, d: int) -> int:
    """``a × b / d`` rounded half to even, for ``0 ≤ a, b < 2^63``, ``0 < d < 2^63``; −1 when the quotient
    leaves int64."""
    hi, lo = mul(a, b)
    q, r = divmod_wide(hi, lo, d)
    if q < 0:
        return -1
    twice = 2 * r  # r < d < 2^63: in uint64 range, compared as such
    if np.uint64(twice) > np.uint64(d) or (twice == d and q % 2 == 1):
        if q == 0x7FFFFFFFFFFFFFFF:
            return -1
        q += 1
    return q


@nb.njit(cache=True)
def mul_div_floor(a: int, b: int, d: int) -> tuple[int, int]:
    """``(floor(a × b / d), a × b mod d)`` for ``0 ≤ a, b < 2^63``, ``0 < d < 2^63``; ``(-1, -1)`` when the
    quotient leaves int64."""
    hi, lo = mul(a, b)
    return divmod_wide(hi, lo, d)


_SPLIT = 10**5


@nb.njit(cache=True)
def mul_div_pow10_floor(a: int, x: int, k: int) -> tuple[int, int]:
    """``(floor(a × x / 10^k), a × x mod 10^k)`` for ``a ≥ 0`` and any ``x``, ``0 ≤ k ≤ 10``, without a product
    above int64 (``a < 9·10^13``: the quotient itself must fit). The products are split: ``x = xh·10^k + xl``
    gives ``a × xh + a × xl / 10^k``, and ``xl`` is split again at 10^5."""
    d = pow10(k)
    neg = x < 0
    ux = -x if neg else x
    xh = ux // d
    xl = ux - xh * d
    # a × xl / d with xl < d ≤ 1e10: split xl at 1e5 so each product stays below a × 1e5
    if k > 5:
        d2 = d // _SPLIT
        x1 = xl // _SPLIT
        x0 = xl - x1 * _SPLIT
        low = a * x0
        t = a * x1 + low // _SPLIT
        q = t // d2
        r = (t - q * d2) * _SPLIT + (low - (low // _SPLIT) * _SPLIT)
    else:
        t = a * xl
        q = t // d
        r = t - q * d
    whole = a * xh + q
    if neg:
        if r:
            return -whole - 1, d - r
        return -whole, 0
    return whole, r

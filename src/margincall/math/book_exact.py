"""Integer twins of a linear position's IM and tiered MM, rounded up to the smallest unit, for whole books.

A book's inputs are decimal text, so each is a whole number at a decimal scale: size ``S·10^-ds``, mark
``M·10^-dm``, leverage ``L·10^-dl``, contract size ``C·10^-dc``, tier floors, rates and amounts at ``10^-8``.
The quantity ``Q = S·C`` is then exact at ``10^-dq`` (``dq = ds + dc``) and the notional ``Q·M`` at
``10^-(dq+dm)`` (the prices share one scale ``dm``), and the two values the book rounds up to ``10^-8``
(:func:`margincall.math.trade.charge`) are exact fractions decided in integers — no float and no Decimal:

* :func:`margincall.math.margin.initial_margin` of :func:`margincall.math.contracts.notional_of` (linear):
  ``IM = Q·M / L`` (docs/venues.md §2.1) — ``ceil(Q·M·10^(8+dl−dq−dm) / L)`` units;
* :func:`margincall.math.margin.maintenance_margin` (linear, with the rule's notional-proportional fee rate; at
  the entry price with no deduction it is also :func:`margincall.math.bitunix.bitunix_maintenance_margin` plus
  Bitunix's estimated liquidation fee ``N(entry)·taker``, the taker fee folded into the rate):
  ``MM = N·(MMR_k + fee) − cum_k``, the tier ``k`` chosen as ``TierTable.index_for`` does (the last whose floor
  is ≤ the amount, < with inclusive caps; the amount being the notional, or the contracts ``S`` for a
  contracts-keyed table) — ``ceil(Q·M·R / 10^(dq+dm)) − cum`` units, ``R`` the rate and ``cum`` at 1e-8.

Every product is checked against int64 in float64 first (with a margin of 2x): a row that would leave it is
returned not ok (``im_ok`` / ``mm_ok``) and its value is left to the caller's exact path.
``tests/math/test_integer_im_mm.py`` pins both to the Decimal formulas on random and exact-boundary inputs.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numba import njit

I64 = npt.NDArray[np.int64]
B = npt.NDArray[np.bool_]

#: Products are formed only below this (float64 bound, 2x below int64's range).
_LIMIT = float(1 << 62)
_ONE = 10**8


@njit(cache=True, inline="always")
def _pow10(e: int) -> int:
    r = 1
    for _ in range(e):
        r *= 10
    return r


@njit(cache=True, inline="always")
def _ceil_div(a: int, b: int) -> int:
    """``ceil(a / b)`` for ``b > 0``."""
    return -((-a) // b)


@njit(cache=True, inline="always")
def _at_least(a: int, da: int, b: int, db: int) -> bool:
    """``a·10^-da ≥ b·10^-db`` for ``a, b ≥ 0``, never leaving int64: the finer side is divided, not the
    coarser multiplied (``a ≥ b·P ⟺ floor(a/P) ≥ b``, ``a·P ≥ b ⟺ a ≥ ceil(b/P)``)."""
    if da > db:
        return (a // _pow10(da - db) if da - db <= 18 else 0) >= b
    if db - da > 18:
        return a >= (1 if b > 0 else 0)
    return a >= _ceil_div(b, _pow10(db - da))


@njit(cache=True)
def im_mm_linear(
    use_im: B, use_mm: B, inst: I64, size: I64, ds: int, mark: I64, mm_price: I64, dp: int, lev: I64, dl: int,
    contract: I64, dc: int, tier_ptr: I64, floors: I64, rates: I64, amounts: I64, tier_exact: B, by_contracts: B,
    inclusive: B, im_out: I64, mm_out: I64, im_ok: B, mm_ok: B, tier_out: I64,
) -> None:  # fmt: skip
    """Per row: IM (with ``use_im``, at ``mark``) and MM (with ``use_mm``, at ``mm_price``: the mark, or the
    entry for a rule that fixes MM at entry) in units of 1e-8, rounded up, and whether each was decided in int64.
    Prices at ``10^-dp``; instruments: ``contract`` at ``10^-dc``; tiers of instrument ``j`` at
    ``tier_ptr[j]:tier_ptr[j+1]`` with ``floors``, ``rates`` (MMR + fee rate), ``amounts`` at 1e-8 (a tier
    whose rate or amount has more digits, ``tier_exact`` False, leaves its rows' MM undecided; its floor, at 1e-8,
    still counts); ``tier_out``: the row's tier (an index into them) where MM is decided."""
    dn = ds + dc + dp
    for i in range(len(use_im)):
        im_ok[i] = False
        mm_ok[i] = False
        j = inst[i]
        s, lv = size[i], lev[i]
        if s <= 0 or lv <= 0:
            continue
        if use_im[i] and mark[i] > 0:
            fn = float(s) * float(contract[j]) * float(mark[i])
            n = s * contract[j] * mark[i] if fn < _LIMIT else 0
            # IM = n·10^(8+dl−dn) / L
            e = 8 + dl - dn
            if fn >= _LIMIT:
                pass
            elif e >= 0:
                if fn * 10.0**e < _LIMIT:
                    im_out[i] = _ceil_div(n * _pow10(e), lv)
                    im_ok[i] = True
            elif float(lv) * 10.0 ** (-e) < _LIMIT:
                im_out[i] = _ceil_div(n, lv * _pow10(-e))
                im_ok[i] = True
        if not use_mm[i] or mm_price[i] <= 0:
            continue
        fn = float(s) * float(contract[j]) * float(mm_price[i])
        if fn >= _LIMIT or dn > 18:
            continue
        n = s * contract[j] * mm_price[i]  # the notional at 10^-dn
        # the tier: the last whose floor is ≤ the amount (< with inclusive caps)
        t0, t1 = tier_ptr[j], tier_ptr[j + 1]
        k = t0
        for t in range(t0 + 1, t1):
            amount, da = (s, ds) if by_contracts[j] else (n, dn)
            above = _at_least(amount, da, floors[t], 8)
            if inclusive[j] and above and _at_least(floors[t], 8, amount, da):
                above = False  # equal to the floor: an inclusive cap keeps it in the tier below
            if above:
                k = t
            else:
                break
        # MM at 1e-8 = n·R·10^-dn − cum, cum whole units: ceil(n·R / 10^dn) − cum
        if not tier_exact[k] or fn * float(abs(rates[k]) + 1) >= _LIMIT:
            continue
        mm_out[i] = _ceil_div(n * rates[k], _pow10(dn)) - amounts[k]
        mm_ok[i] = True
        tier_out[i] = k


@njit(cache=True)
def isolated_bankruptcy_ticks(
    use: B, inverse: B, side: I64, entry: I64, dp: int, lev: I64, dl: int, tick: I64, dt: I64,
    mode: npt.NDArray[np.int8], k_out: I64, ok_out: B,
) -> None:  # fmt: skip
    """Per row with ``use`` (an isolated position whose margin is its IM at entry, no extra): the bankruptcy
    price in whole ticks, as ``GenericRule.isolated_bankruptcy_price`` gives it and
    :func:`margincall.math.rounding.round_trigger_price` rounds it — the price where ``margin + PnL(P) = 0``
    (docs/venues.md §3.5), in ticks ``tick·10^-dt`` rounded by ``mode`` (0 up, 1 down, 2 half up):

    * linear, ``margin = Q·EP / L``: ``P = EP·(1 − s/L) = E·(L − s·10^dl) / (L·10^dp)``;
    * inverse, ``margin = Q / (EP·L)`` and ``PnL = s·Q·(1/EP − 1/P)``: ``P = s·EP·L / (1 + s·L) =
      s·E·L / ((10^dl + s·L)·10^dp)``. The reference solves this through ``1/P`` in 28-digit Decimals, within
      ~1e-26 of the exact root, while an exact root off a rounding boundary is at least ``1/num`` (≥ 1e-18,
      relative) from it: both round alike. A root exactly on a boundary is left to the reference (not ``ok``).

    Not ``ok`` where ``P ≤ 0`` (no price) or a product would leave int64. ``tests/calculator/test_book_exact.py``
    pins both to calc's price."""
    for i in range(len(use)):
        ok_out[i] = False
        if not use[i] or entry[i] <= 0 or lev[i] <= 0 or tick[i] <= 0 or dl > 18:
            continue
        if inverse[i]:
            factor = side[i] * (_pow10(dl) + side[i] * lev[i])  # s·(10^dl + s·L): the root's denominator
            scale = lev[i]
        else:
            factor = lev[i] - side[i] * _pow10(dl)
            scale = 0
        if factor <= 0:
            continue
        top, bottom = (lev[i], factor) if inverse[i] else (factor, lev[i])
        if (
            float(entry[i]) * float(top) * 10.0 ** dt[i] >= _LIMIT / 2
            or float(bottom) * float(tick[i]) * 10.0**dp >= _LIMIT / 2
        ):
            continue
        num = entry[i] * top * _pow10(dt[i])
        den = bottom * tick[i] * _pow10(dp)
        if scale and (num % den == 0 if mode[i] != 2 else (2 * num) % (2 * den) == den):
            continue  # an inverse root on a boundary: the reference's own Decimal decides
        if mode[i] == 0:
            k_out[i] = _ceil_div(num, den)
        elif mode[i] == 1:
            k_out[i] = num // den
        else:
            k_out[i] = (2 * num + den) // (2 * den)
        ok_out[i] = True


__all__ = ["im_mm_linear", "isolated_bankruptcy_ticks"]

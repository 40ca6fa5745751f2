"""Compiled (numba, float64) twins of the venues' closed liquidation-price forms, for whole books.

* :func:`bybit_isolated` / :func:`bybit_inverse_cross_classic` — :mod:`margincall.math.bybit` (docs/venues.md
  §4.2–4.4);
* :func:`bitunix_price` — :func:`margincall.math.bitunix.bitunix_liquidation_price` (§6).

Each Decimal function is the specification; ``tests/venues/test_batch.py`` pins the twins to it.
"""

from __future__ import annotations

import numpy as np

from margincall.math.batch_kernels import FORM_BYBIT_2024, FORM_BYBIT_2026, FORM_BYBIT_LEGACY
from margincall.math.batch_numerics import kernel


@kernel
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


@kernel
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


@kernel
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

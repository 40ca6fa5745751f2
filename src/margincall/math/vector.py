"""Vectorised (float64) maintenance margin and liquidation prices for a whole book, for screening.

Same rule as :mod:`margincall.math.solver` for one leg per symbol (docs/venues.md §2.1, §3.3): in
``u = P`` (linear) or ``u = 1/P`` (inverse), ``f(u) = constant + PnL(u) − MM(u)`` is linear within
each tier; every tier's candidate root is computed at once and the one whose notional ``Q·u`` lies in
that tier is kept. Floats screen; every action is confirmed with the exact Decimal path.
Bracket-mode tables keyed on notional only. The public batch API is the compiled
:func:`margincall.venues.batch.evaluate_book` (every venue, form and tier shape); this module keeps
:class:`TierArrays`, the padded tier tables both it and the engine's screen read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from margincall.math.batch_kernels import KernelTiers
from margincall.model.enums import TierBasis, TierMode
from margincall.model.tiers import TierTable

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
B = npt.NDArray[np.bool_]

#: Prices below this fraction of the entry price are float noise around "no liquidation price".
NOISE_FLOOR = 1e-9


def _empty_b() -> B:
    return np.zeros(0, dtype=np.bool_)


def _empty_f() -> F64:
    return np.zeros(0)


@dataclass(frozen=True)
class TierArrays:
    """Tier tables padded into (n_tables × max_tiers) arrays; padding tiers have floor = +inf.

    Per table (filled by :meth:`from_tables`): ``inclusive`` (caps inclusive: an amount equal to a floor stays
    in the tier below, :meth:`~margincall.model.tiers.TierTable.index_for`), ``by_contracts`` (keyed on the
    number of contracts, not notional), ``whole`` (whole-position tiers, docs/venues.md §2.2: no deduction, MM
    jumps at a floor), ``last_cap`` (+inf when open-ended); per tier ``max_leverage``.
    """

    floors: F64
    caps: F64
    mmr: F64
    amounts: F64
    inclusive: B = field(default_factory=_empty_b)
    by_contracts: B = field(default_factory=_empty_b)
    whole: B = field(default_factory=_empty_b)
    last_cap: F64 = field(default_factory=_empty_f)
    max_leverage: F64 = field(default_factory=_empty_f)

    @classmethod
    def from_tables(cls, tables: Sequence[TierTable], *, any_shape: bool = False) -> TierArrays:
        """Pad ``tables``; without ``any_shape`` only bracket tables keyed on notional are taken (the screen's)."""
        width = max(len(t.tiers) for t in tables)
        shape = (len(tables), width)
        floors, caps = np.full(shape, np.inf), np.full(shape, np.inf)
        mmr, amounts, max_lev = np.zeros(shape), np.zeros(shape), np.ones(shape)
        n = len(tables)
        inclusive, by_contracts, whole = (np.zeros(n, dtype=np.bool_) for _ in range(3))
        last_cap = np.full(n, np.inf)
        for i, t in enumerate(tables):
            if not any_shape and (t.mode is not TierMode.BRACKET or t.basis is not TierBasis.NOTIONAL):
                raise ValueError("the vectorised path takes bracket tables keyed on notional")
            inclusive[i] = t.cap_inclusive
            by_contracts[i] = t.basis is TierBasis.CONTRACTS
            whole[i] = t.mode is TierMode.WHOLE_POSITION
            cap = t.tiers[-1].cap
            last_cap[i] = np.inf if cap is None else float(cap)
            for k, tier in enumerate(t.tiers):
                floors[i, k] = float(tier.floor)
                caps[i, k] = np.inf if tier.cap is None or k == len(t.tiers) - 1 else float(tier.cap)
                mmr[i, k] = float(tier.mmr)
                amounts[i, k] = float(tier.maintenance_amount)
                max_lev[i, k] = float(tier.max_leverage)
        return cls(floors, caps, mmr, amounts, inclusive, by_contracts, whole, last_cap, max_lev)

    def kernel(self) -> KernelTiers:
        """The arrays the compiled batch kernels take (:mod:`margincall.math.batch_kernels`)."""
        return KernelTiers(self.floors, self.mmr, self.amounts, self.inclusive, self.by_contracts, self.whole,
                           self.last_cap, self.max_leverage)


def maintenance_margin_vec(tiers: TierArrays, table: I64, notional: F64) -> F64:
    """``MM = N·MMR_k − cum_k`` with ``k`` the tier holding ``N`` (last tier extrapolated)."""
    k = (tiers.floors[table] <= notional[:, None]).sum(axis=1) - 1
    rows = np.arange(len(table))
    result: F64 = notional * tiers.mmr[table][rows, k] - tiers.amounts[table][rows, k]
    return result


def liquidation_price_vec(
    tiers: TierArrays, table: I64, inverse: B, sign: F64, qty: F64, entry: F64, constant: F64, maintenance: bool = True
) -> F64:
    """Price at which ``constant + PnL − MM = 0`` per position; NaN where there is none.

    ``constant``: the isolated margin, or for a cross account wallet + other positions' PnL − their MM.
    ``maintenance=False`` gives the bankruptcy price (equity = 0).
    """
    a = np.where(inverse, sign * qty / entry, -sign * qty * entry) + constant
    b = np.where(inverse, -sign * qty, sign * qty)
    mmr = tiers.mmr[table] if maintenance else np.zeros_like(tiers.mmr[table])
    amounts = tiers.amounts[table] if maintenance else np.zeros_like(tiers.amounts[table])
    ak = a[:, None] + amounts
    bk = b[:, None] - qty[:, None] * mmr
    with np.errstate(divide="ignore", invalid="ignore"):
        u = -ak / bk
        n = qty[:, None] * u
        lo, hi = tiers.floors[table], tiers.caps[table]
        ok = (u > 0) & (n >= lo) & (n <= hi) & np.isfinite(u)
    first = np.argmax(ok, axis=1)
    rows = np.arange(len(table))
    found = ok[rows, first]
    root = u[rows, first]
    with np.errstate(divide="ignore"):
        price: F64 = np.where(found, np.where(inverse, 1.0 / root, root), np.nan)
    # A root within float noise of u = 0 (a 1x long as P → 0, a 1x inverse short as P → ∞)
    # is "no liquidation price", as the exact path says.
    price[(price < NOISE_FLOOR * entry) | (price > entry / NOISE_FLOOR)] = np.nan
    return price

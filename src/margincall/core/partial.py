"""One partial-liquidation step of a position through the core, compiled: the venue's step size, whether the
waterfall takes it, and the integers of the ``partial_liquidation`` event the ledger books.

The rules are the reference's:

* the step (``venues.partial.TierStepDown``, docs/venues.md §3.8, §4.6, §5): a position in tier ``k`` (0-based)
  at its mark, below ``min_tier`` or in the first tier, closes in full; otherwise it is reduced to the largest
  lot multiple whose tier amount is strictly below the cap of tier ``max(0, k − tiers)`` — for a
  notional-keyed table ``m × lot × cs × mark < cap``, for a contract-keyed one ``m × lot < cap`` — and closes in
  full when that keeps nothing or everything (``FullOnly``: always in full);
* the waterfall takes a step only when the watch's equity is above zero and above what the step costs, the
  liquidation fee at the fill plus the slippage, ``Q × F × rate − sign × Q × (F − mark)``, unrounded
  (``Waterfall._partial``, ``math.liquidation.partial_step_cost_fee_plus_slippage``);
* the event (``risk.events._partial`` → ``Trading.trade``): the step closes at the executor's fill ``F`` for the
  step's notional (:mod:`.prices`), the fee ``Q × F × rate`` rounded up to the insurance fund, the realized PnL
  ``sign × Q × (F − entry)`` rounded toward minus infinity, an isolated margin released pro rata (rounded down);
  a step that would leave the wallet below zero is refused by the ledger — a cross wallet always (``_partial``), the
  wallet an isolated step pays its loss and fee from unless that wallet's own liquidation is in progress (the
  ledger's rule for any book) — and the waterfall closes in full instead.

Integers as in :mod:`.takeover` (prices at 10^-pd, fills at 1e-10, ``k = 10 − pd``). Not here yet: the loop of
steps with the status re-read between them, the choice of the position to step (the largest MM), and Hyperliquid's
steps in time (``FractionStep``: its ``core_form`` is ``None``, refused).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

import numba as nb
import numpy as np

from margincall.core.fills import MAX_PRO_RATA_SIZE
from margincall.core.kernels import tier_of
from margincall.core.prices import executor_fills
from margincall.core.ranges import CoreRangeError
from margincall.core.state import I64, B, CoreState
from margincall.core.takeover import FILL_DIGITS, nominal_fee_parts
from margincall.core.wide import mul_div_pow10_floor, pow10
from margincall.venues.partial import PartialRule


@nb.njit(cache=True)
def step_size(size: int, mark: int, cs: int, lot: int, contracts: bool, inclusive: bool, t0: int, t1: int,
              floor: I64, tiers: int, min_tier: int) -> tuple[int, int, int]:
    """``(size to close (0: in full), tier before, tier after (−1: none))`` of a position of ``|size|`` at ``mark``;
    tiers 0-based within the market's rows ``t0:t1``."""
    amount = size if contracts else size * cs * mark
    k = tier_of(amount, floor, t0, t1, inclusive) - t0
    if tiers == 0 or k < min_tier or k == 0:
        return 0, k, -1
    target = max(0, k - tiers)
    cap = floor[t0 + target + 1]
    unit = lot if contracts else lot * cs * mark
    keep = max((cap + unit - 1) // unit - 1, 0) * lot
    if keep <= 0 or keep >= size:
        return 0, k, -1
    return size - keep, k, target


@nb.njit(cache=True)
def step_amounts(sign: int, size: int, step: int, cs: int, entry: int, mark: int, fill: int, k: int, rate: int,
                 equity: int, held: int) -> tuple[bool, int, int, int]:
    """Whether the waterfall takes the step of ``step`` (of ``|size|``) closing at ``fill``, and the event's fee,
    realized PnL and isolated margin released (``held``: the isolated margin, 0 for cross)."""
    p10 = pow10(k)
    q = step * cs
    fee_w, fee_f = nominal_fee_parts(q, fill, k, rate)
    slip, slip_rem = mul_div_pow10_floor(q, sign * (fill - mark * p10), k)
    # equity − cost > 0 with cost = fee_w + fee_f / 10^(8+k) − (slip + slip_rem / 10^k)
    x = equity - fee_w + slip
    r = fee_f - slip_rem * 100_000_000
    takes = equity > 0 and (x >= 1 or (x == 0 and r < 0))
    fee = fee_w + (1 if fee_f > 0 else 0)
    realized, _rem = mul_div_pow10_floor(q, sign * (fill - entry * p10), k)
    a = held // size
    b = held - a * size
    released = a * step + (b * step) // size
    return takes, fee, realized, released


@nb.njit(cache=True)
def _steps(size: I64, sign: I64, mark: I64, cs: I64, lot: I64, contracts: B, inclusive: B, t0: I64, t1: I64,
           floor: I64, tiers: I64, min_tier: I64, out: I64) -> None:
    for i in range(size.shape[0]):
        s, before, after = step_size(size[i], mark[i], cs[i], lot[i], contracts[i], inclusive[i], t0[i], t1[i],
                                     floor, tiers[i], min_tier[i])
        out[i, 0], out[i, 1], out[i, 2] = s, before, after


@nb.njit(cache=True)
def _amounts(sign: I64, size: I64, step: I64, cs: I64, entry: I64, mark: I64, fill: I64, k: I64, rate: I64,
             equity: I64, held: I64, takes: B, out: I64) -> None:
    for i in range(size.shape[0]):
        if step[i] == 0:
            continue
        t, fee, realized, released = step_amounts(sign[i], size[i], step[i], cs[i], entry[i], mark[i], fill[i], k[i],
                                                  rate[i], equity[i], held[i])
        takes[i] = t
        out[i, 0], out[i, 1], out[i, 2] = fee, realized, released


@dataclass(frozen=True, slots=True)
class Steps:
    """Row ``i`` is position ``positions[i]``: ``size`` of the step the rule gives (at the size scale; 0: the rule
    closes in full), ``tier_before`` / ``tier_after`` (0-based; −1: none), the fill (1e-10), the event's ``fee``,
    ``realized`` and ``released`` (money units) and the ``wallet_after`` it; ``takes``: the waterfall takes the step
    (its cost leaves equity and the ledger accepts it), else it closes the position in full."""

    positions: I64
    size: I64
    tier_before: I64
    tier_after: I64
    takes: B
    fill: I64
    fee: I64
    realized: I64
    released: I64
    wallet_after: I64


def partial_steps(core: CoreState, positions: I64, rules: Sequence[PartialRule], equity: I64,
                  slippage: Decimal, impact_per_million: Decimal) -> Steps:
    """The first partial step of each position in ``positions`` by its market's ``rules[i]`` (the venue's rule),
    with its watch's ``equity`` (money units) at the mark, filled by the market executor. Refused (naming the
    field) for a rule the core does not hold, a market without a mark, or a size above the pro-rata range."""
    pos, m, t = core.positions, core.markets, core.tiers
    rows = np.asarray(positions, np.int64)
    forms = [r.core_form() for r in rules]
    if len(forms) != len(rows):
        raise CoreRangeError(f"rules: {len(forms)} rules for {len(rows)} positions", field="rules")
    if any(f is None for f in forms):
        raise CoreRangeError("rules: a partial-liquidation rule the core does not hold yet (steps in time)",
                             field="rules")
    mi = pos.market[rows].astype(np.int64)
    if not bool(np.all(m.has_mark[mi])):
        raise CoreRangeError("positions: a position whose market has no mark yet", field="positions")
    size = np.abs(pos.size[rows]).astype(np.int64)
    if bool(np.any(size > MAX_PRO_RATA_SIZE)):
        raise CoreRangeError("positions: a size above the core's pro-rata range", field="positions")
    sign = np.where(pos.size[rows] > 0, 1, -1).astype(np.int64)
    mark = m.mark[mi].astype(np.int64)
    cs = m.contract_size[mi].astype(np.int64)
    tiers = np.array([f[0] for f in forms if f is not None], np.int64)
    min_tier = np.array([f[1] for f in forms if f is not None], np.int64)
    out = np.zeros((len(rows), 3), np.int64)
    _steps(size, sign, mark, cs, m.lot[mi].astype(np.int64), m.basis_contracts[mi], m.cap_inclusive[mi],
           m.tier_ptr[mi].astype(np.int64), m.tier_ptr[mi + 1].astype(np.int64), t.floor, tiers, min_tier, out)
    step = out[:, 0].copy()
    fill = np.zeros(len(rows), np.int64)
    stepping = np.flatnonzero(step > 0)
    if len(stepping):
        # the executor fills the step alone: a position of the step's size at the mark
        fill[stepping] = executor_fills(core, rows[stepping], slippage, impact_per_million, step[stepping])
    k = FILL_DIGITS - m.price_digits[mi].astype(np.int64)
    money = np.zeros((len(rows), 3), np.int64)
    takes = np.zeros(len(rows), np.bool_)
    _amounts(sign, size, step, cs, pos.entry[rows].astype(np.int64), mark, fill, k,
             m.liquidation_fee[mi].astype(np.int64), np.asarray(equity, np.int64),
             pos.isolated_margin[rows].astype(np.int64), takes, money)
    acct = pos.account[rows].astype(np.int64)
    asset = m.asset[mi].astype(np.int64)
    iso = pos.isolated[rows]
    fee, realized, released = money[:, 0].copy(), money[:, 1].copy(), money[:, 2].copy()
    wallet_after = core.wallet[acct, asset] + np.where(iso, released, 0) + realized - fee
    accepted = (wallet_after >= 0) | (iso & core.liquidating[acct, asset])
    return Steps(rows, step, out[:, 1].copy(), out[:, 2].copy(), takes & accepted, fill, fee, realized, released,
                 wallet_after)


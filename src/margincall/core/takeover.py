"""The waterfall's takeover close of isolated positions through the core: the integers of the ``liquidation``
event the reference books (``risk.events._liquidation`` with ``_settle``) and the takeover-or-ADL decision the
reference makes before it (``risk.waterfall.Waterfall._full``), compiled, for a batch of positions in the order
the engine closes them.

The rules are the reference's (docs/venues.md §3.8, §12.5; ``math.liquidation``, ``math.trade``):

* the position closes in full at the executor's fill ``F`` (a price to 10 decimals, :data:`FILL_DIGITS`, as every
  computed price in an event: ``math.liquidation.price_in_event``), no trading fee;
* realized PnL ``sign × Q × (F − entry)`` rounded toward minus infinity (``math.trade.user_delta``); the whole
  isolated margin is released, and the residual ``margin + realized`` is settled with the insurance fund;
* the liquidation fee asked is ``Q × F × rate`` rounded up to the unit (``liquidation_fee_rounded_up``); a
  residual at or above zero pays the fee first (up to the residual) and the rest is the surplus to the fund; a
  residual below zero is the deficit: the fund pays what it holds (never below zero), the venue (clearing) the
  rest;
* the fund can take the position over when ``fund + equity + pnl(mark → F) ≥ 0``
  (``takeover_fund_result_after_closing_at_fills``); with the equity ``margin + sign × Q × (mark − entry)`` that is
  ``fund + margin + sign × Q × (F − entry) ≥ 0``, and since ``fund + margin`` is whole units the unrounded PnL can
  be replaced by its floor: the decision is ``fund + margin + realized ≥ 0``, exactly. Otherwise the position
  goes to ADL (not in this module).

In integers (:mod:`.ranges`: a quantity ``a = |size| × contract_size`` at ``10^-(sd+cd)``, prices at ``10^-pd``
with ``pd = u − sd − cd``, ``k = 10 − pd``): the PnL in money units is ``a × (F − entry·10^k) / 10^k`` and the
notional at the fill ``a × F / 10^k``. Products are split so that none leaves int64: ``x = xh·10^k + xl`` gives
``a × x / 10^k = a × xh + a × xl / 10^k`` and ``xl`` is split again at 10^5 (``a`` below 9e13 keeps ``a × 10^5``
inside int64); the fee ``n × rate / 10^8`` splits ``n`` at 10^8 as :mod:`.fills` does. A position whose quantity or
notional is outside these ranges, or a market with prices finer than 1e-10, is refused naming the field.

Not here yet: the executor's fill price itself (an input: the venue's fill, or the reference executor's), the
event's bankruptcy price, partial steps, cross accounts (``bankruptcy_settlement``) and ADL.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import numba as nb
import numpy as np

from margincall.core.ranges import MAX_MONEY, RATE_ONE, CoreRangeError
from margincall.core.state import I64, SYSTEM_INSURANCE, B, CoreState
from margincall.core.wide import mul_div_pow10_floor, pow10

#: Digits of a computed price in an event (``math.liquidation.PRICE_QUANTUM``).
FILL_DIGITS = 10
#: Largest quantity (at its scale) the split products keep inside int64 (:func:`.wide.mul_div_pow10_floor`).
MAX_QUANTITY = 9 * 10**13


@nb.njit(cache=True)
def nominal_fee_parts(a: int, fill: int, k: int, rate: int) -> tuple[int, int]:
    """The nominal fee ``Q × F × rate`` (``math.liquidation.nominal_liquidation_fee``) of a quantity ``a`` at a
    price ``F`` (1e-10), unrounded, as (whole units, fraction at 10^-(8 + k)): the notional ``n = a × F / 10^k``
    as ``nw + nf / 10^k`` and ``nw = nh·1e8 + nl``, so ``n × rate / 1e8 = nh × rate + (nl × rate) / 1e8 + (nf ×
    rate) / 10^(8 + k)`` with no product above int64 (``rate`` ≤ 1e8, ``nf`` < 10^k ≤ 1e10)."""
    p10 = pow10(k)
    nw, nf = mul_div_pow10_floor(a, fill, k)
    nh = nw // RATE_ONE
    nl = nw - nh * RATE_ONE
    q1 = (nl * rate) // RATE_ONE
    r1 = nl * rate - q1 * RATE_ONE
    q2 = (nf * rate) // p10
    r2 = nf * rate - q2 * p10
    top = (r1 + q2) * p10 + r2
    den = RATE_ONE * p10
    return nh * rate + q1 + top // den, top % den


@nb.njit(cache=True)
def settle(residual: int, asked: int, fund: int) -> tuple[int, int, int, int]:
    """``risk.events._settle`` in integers: what is left of a closed watch (``residual``, money units) pays the fee
    ``asked`` first, up to what it holds, and the rest is the surplus to the fund; a deficit is paid by the fund up to
    what it holds (never below zero) and by the venue for the rest. ``(fee paid, surplus, fund pays, venue
    absorbs)``."""
    if residual >= 0:
        paid = min(residual, asked)
        return paid, residual - paid, 0, 0
    from_fund = min(-residual, max(fund, 0))
    return 0, 0, from_fund, -residual - from_fund


@nb.njit(cache=True)
def takeover_amounts(sign: int, a: int, entry: int, margin: int, fill: int, k: int, rate: int, fund: int
                     ) -> tuple[bool, int, int, int, int, int, int, int]:
    """One isolated position closed in full at ``fill`` (10^-10) with ``fund`` in the insurance fund:
    ``(takeover, realized, fund result remainder at 10^-(8+k), fee asked, fee paid, surplus, fund pays, venue
    absorbs)``; when ``takeover`` is false only ``realized`` and the remainder are set (the position goes to ADL)."""
    realized, rem = mul_div_pow10_floor(a, sign * (fill - entry * pow10(k)), k)
    if fund + margin + realized < 0:
        return False, realized, rem, 0, 0, 0, 0, 0
    whole, frac = nominal_fee_parts(a, fill, k, rate)
    asked = whole + (1 if frac > 0 else 0)
    paid, surplus, from_fund, venue = settle(margin + realized, asked, fund)
    return True, realized, rem, asked, paid, surplus, from_fund, venue


@nb.njit(cache=True)
def _takeover_batch(sign: I64, a: I64, entry: I64, margin: I64, fill: I64, k: I64, rate: I64, asset: I64,
                    fund: I64, out: I64, takeover: B) -> None:
    for i in range(sign.shape[0]):
        t, realized, rem, asked, paid, surplus, from_fund, venue = takeover_amounts(
            sign[i], a[i], entry[i], margin[i], fill[i], k[i], rate[i], fund[asset[i]])
        takeover[i] = t
        out[i, 0], out[i, 1], out[i, 2], out[i, 3] = realized, rem, asked, paid
        out[i, 4], out[i, 5], out[i, 6] = surplus, from_fund, venue
        if t:
            fund[asset[i]] += paid + surplus - from_fund


@dataclass(frozen=True, slots=True)
class Takeovers:
    """Row ``i`` is position ``positions[i]``, closed at ``fills[i]`` in that order. Money units: ``realized``
    (signed), ``fee_asked``, ``fee_paid``, ``surplus``, ``insurance_paid``, ``venue_absorbed``; ``takeover``
    false: the fund could not take it over (ADL), and only ``realized`` is set. :meth:`fund_result` is the
    reference's ``expected_fund_result`` (margin + the unrounded PnL at the fill); ``fund_after`` the insurance
    fund per asset after the batch."""

    unit_digits: int
    positions: I64
    margin: I64
    k: I64
    takeover: B
    realized: I64
    remainder: I64        # of the PnL at the fill, at 10^-(u + k)
    fee_asked: I64
    fee_paid: I64
    surplus: I64
    insurance_paid: I64
    venue_absorbed: I64
    fund_after: I64

    def fund_result(self, i: int) -> Decimal:
        k = int(self.k[i])
        num = (int(self.margin[i]) + int(self.realized[i])) * 10**k + int(self.remainder[i])
        return Decimal(num).scaleb(-(self.unit_digits + k))


def takeovers(core: CoreState, positions: I64, fills: I64) -> Takeovers:
    """The takeover close of isolated ``positions`` (row indices, in the engine's order) at ``fills`` (the
    executor's prices at 1e-10, :func:`margincall.core.prices.executor_fills`), each settled against the insurance
    fund as the ones before left it. Refused (naming the field) for a cross position, a market with prices finer
    than 1e-10, or a quantity or notional outside the range."""
    pos, m = core.positions, core.markets
    rows = np.asarray(positions, np.int64)
    fill = np.asarray(fills, np.int64)
    if fill.shape != rows.shape:
        raise CoreRangeError(f"fills: {fill.shape[0] if fill.ndim else 0} prices for {len(rows)} positions",
                             field="fills")
    mi = pos.market[rows].astype(np.int64)
    if not bool(np.all(pos.isolated[rows])):
        raise CoreRangeError("positions: a takeover here closes isolated positions only", field="positions")
    pd = m.price_digits[mi].astype(np.int64)
    if bool(np.any(pd > FILL_DIGITS)):
        raise CoreRangeError("positions: a market whose prices are finer than 1e-10", field="positions")
    k = FILL_DIGITS - pd
    a = np.abs(pos.size[rows]) * m.contract_size[mi]
    if bool(np.any(a >= MAX_QUANTITY)) or bool(np.any(fill <= 0)):
        raise CoreRangeError("positions: a quantity outside the takeover's range, or a fill price not above zero",
                             field="positions")
    notional = a.astype(np.float64) * np.maximum(fill, pos.entry[rows] * 10.0**k) / 10.0**k
    if bool(np.any(notional > MAX_MONEY / 4)):
        raise CoreRangeError("positions: a notional outside the core's money range", field="positions")
    sign = np.where(pos.size[rows] > 0, 1, -1).astype(np.int64)
    out = np.zeros((len(rows), 7), np.int64)
    took = np.zeros(len(rows), np.bool_)
    fund = core.system[SYSTEM_INSURANCE].astype(np.int64).copy()
    margin = pos.isolated_margin[rows].astype(np.int64)
    _takeover_batch(sign, a, pos.entry[rows].astype(np.int64), margin, fill, k,
                    m.liquidation_fee[mi].astype(np.int64), m.asset[mi].astype(np.int64), fund, out, took)
    return Takeovers(core.unit_digits, rows, margin, k, took, realized=out[:, 0].copy(), remainder=out[:, 1].copy(),
                     fee_asked=out[:, 2].copy(), fee_paid=out[:, 3].copy(), surplus=out[:, 4].copy(),
                     insurance_paid=out[:, 5].copy(), venue_absorbed=out[:, 6].copy(), fund_after=fund)

"""The waterfall's takeover close of cross watches through the core: every position of a cross account in one
settle asset closed at the executor's fills, then the account's wallet settled with the insurance fund — the
integers of the reference's ``liquidation`` events and its ``bankruptcy_settlement`` (``risk.events``), the
takeover-or-ADL decision before them (``risk.waterfall.Waterfall._full``) and each leg's bankruptcy price, compiled,
for a batch of watches in the engine's order.

The rules are the reference's (docs/venues.md §3.5, §3.8, §12.5; ``math.liquidation``, ``math.trade``):

* each leg closes at its fill ``F`` (1e-10), no trading fee, its realized PnL ``sign × Q × (F − entry)`` rounded
  toward minus infinity into the wallet;
* the fund result is ``equity + Σ pnl(mark → F)`` = ``wallet + Σ sign × Q × (F − entry)``, formed exactly
  (``takeover_fund_result_after_closing_at_fills``); the fund takes the watch over when ``fund + result ≥ 0``. With
  the legs' PnL as ``floor + rem / 10^k`` (k per market), the fractions are summed at the finest ``10^K`` and
  their carry added: ``fund + wallet + Σ floor + carry ≥ 0`` is the decision, exactly (what is left is in [0, 1));
* the fee asked is ``Σ Q × F × rate`` summed exactly and rounded up once (``liquidation_fee_of_closes``);
* the settlement (``bankruptcy_settlement``, ``_settle``): the wallet after the closes, ``wallet + Σ realized``,
  pays the fee first (up to what it holds) and the rest is the surplus to the fund; below zero, the fund pays the
  deficit (never below zero) and the venue the rest;
* leg ``i``'s bankruptcy price shares the equity ``E`` pro rata to notional (``bankruptcy_prices_sharing_equity_
  pro_rata_to_notional``): for linear legs ``M_i × (ΣN − sign_i × E) / ΣN``, rounded once half to even at 1e-10;
  not above zero → ``M_i / 1000``.

Not here yet: ADL of a watch the fund cannot take over, partial steps, inverse contracts (refused by the core).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import numba as nb
import numpy as np

from margincall.core.prices import bankruptcy_price
from margincall.core.ranges import MAX_MONEY, RATE_ONE, CoreRangeError
from margincall.core.state import I64, SYSTEM_INSURANCE, B, CoreState
from margincall.core.takeover import FILL_DIGITS, MAX_QUANTITY, nominal_fee_parts, settle
from margincall.core.wide import mul_div_pow10_floor, pow10

#: Columns of :attr:`CrossTakeovers` per watch.
_COLS = 9


@nb.njit(cache=True)
def _cross_batch(ptr: I64, rows: I64, sign: I64, a: I64, entry: I64, fill: I64, k: I64, rate: I64, wallet: I64,
                 asset: I64, fund: I64, out: I64, realized: I64, took: B) -> None:
    for w in range(ptr.shape[0] - 1):
        lo, hi = ptr[w], ptr[w + 1]
        big_k = 0
        for j in range(lo, hi):
            big_k = max(big_k, k[j])
        scale = pow10(big_k)
        whole = wallet[w]
        frac = 0
        fee_whole = 0
        fee_frac = 0  # at 10^-(8 + K)
        fee_scale = RATE_ONE * scale
        for j in range(lo, hi):
            p10 = pow10(k[j])
            f, rem = mul_div_pow10_floor(a[j], sign[j] * (fill[j] - entry[j] * p10), k[j])
            realized[j] = f
            whole += f
            frac += rem * (scale // p10)
            if frac >= scale:
                whole += frac // scale
                frac = frac % scale
            fw, ff = nominal_fee_parts(a[j], fill[j], k[j], rate[j])
            fee_whole += fw
            fee_frac += ff * (scale // p10)
            if fee_frac >= fee_scale:
                fee_whole += fee_frac // fee_scale
                fee_frac = fee_frac % fee_scale
        residual = wallet[w]
        for j in range(lo, hi):
            residual += realized[j]
        ai = asset[w]
        out[w, 0], out[w, 1], out[w, 2] = whole, frac, big_k
        if fund[ai] + whole < 0:
            took[w] = False
            continue
        took[w] = True
        asked = fee_whole + (1 if fee_frac > 0 else 0)
        paid, surplus, from_fund, venue = settle(residual, asked, fund[ai])
        out[w, 3], out[w, 4] = asked, residual
        out[w, 5], out[w, 6], out[w, 7], out[w, 8] = paid, surplus, from_fund, venue
        fund[ai] += paid + surplus - from_fund


@nb.njit(cache=True)
def _bankruptcy(ptr: I64, sign: I64, a: I64, mark: I64, k: I64, equity: I64, out: I64) -> None:
    for w in range(ptr.shape[0] - 1):
        total = 0
        for j in range(ptr[w], ptr[w + 1]):
            total += a[j] * mark[j]
        for j in range(ptr[w], ptr[w + 1]):
            out[j] = bankruptcy_price(sign[j], mark[j], k[j], total, equity[w])


@dataclass(frozen=True, slots=True)
class CrossTakeovers:
    """Per watch (``watches[i]``, in that order): ``takeover`` (false: ADL, and only the fund result and the legs'
    PnL are set), the fee asked, the wallet after the closes (``residual``), the fee paid, the surplus, what the fund
    pays and what the venue absorbs (money units); per leg (``legs``, the watches' positions in order):
    ``realized`` and ``bankruptcy`` (1e-10). ``fund_after``: the insurance fund per asset after the batch."""

    unit_digits: int
    watches: I64
    legs: I64
    leg_ptr: I64
    takeover: B
    fund_whole: I64
    fund_frac: I64
    fund_digits: I64
    fee_asked: I64
    residual: I64
    fee_paid: I64
    surplus: I64
    insurance_paid: I64
    venue_absorbed: I64
    realized: I64
    bankruptcy: I64
    fund_after: I64

    def fund_result(self, i: int) -> Decimal:
        """The reference's ``expected_fund_result`` of watch ``i``, exactly."""
        k = int(self.fund_digits[i])
        num = int(self.fund_whole[i]) * 10**k + int(self.fund_frac[i])
        return Decimal(num).scaleb(-(self.unit_digits + k))


def cross_takeovers(core: CoreState, watches: I64, fills: I64, equity: I64) -> CrossTakeovers:
    """The takeover close of cross ``watches`` (in the engine's order) with ``fills`` (1e-10) for their legs in
    watch order (:func:`margincall.core.prices.executor_fills` over ``legs``) and each watch's ``equity`` at the
    mark (money units, for the bankruptcy prices), each settled against the fund as the ones before left it.
    Refused (naming the field) for an isolated watch, a market without a mark or with prices finer than 1e-10,
    or a quantity or notional outside the range."""
    wt, pos, m = core.watches, core.positions, core.markets
    ws = np.asarray(watches, np.int64)
    if bool(np.any(wt.isolated[ws])):
        raise CoreRangeError("watches: a cross takeover closes cross watches only", field="watches")
    counts = wt.ptr[ws + 1] - wt.ptr[ws]
    leg_ptr = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
    legs = (np.concatenate([wt.positions[wt.ptr[w]:wt.ptr[w + 1]] for w in ws]) if len(ws)
            else np.zeros(0, np.int64)).astype(np.int64)
    fill = np.asarray(fills, np.int64)
    if fill.shape != legs.shape:
        raise CoreRangeError(f"fills: {fill.shape[0] if fill.ndim else 0} prices for {len(legs)} legs", field="fills")
    mi = pos.market[legs].astype(np.int64)
    pd = m.price_digits[mi].astype(np.int64)
    if bool(np.any(pd > FILL_DIGITS)) or not bool(np.all(m.has_mark[mi])):
        raise CoreRangeError("watches: a market without a mark, or with prices finer than 1e-10", field="watches")
    k = FILL_DIGITS - pd
    a = np.abs(pos.size[legs]) * m.contract_size[mi]
    mark = m.mark[mi].astype(np.int64)
    entry = pos.entry[legs].astype(np.int64)
    if bool(np.any(a >= MAX_QUANTITY)) or bool(np.any(fill <= 0)):
        raise CoreRangeError("watches: a quantity outside the takeover's range, or a fill price not above zero",
                             field="watches")
    gross = np.add.reduceat(a * np.maximum(np.maximum(fill / 10.0**k, entry), mark).astype(np.float64),
                            leg_ptr[:-1]) if len(legs) else np.zeros(0)
    if bool(np.any(gross > MAX_MONEY / 8)):
        raise CoreRangeError("watches: a notional outside the core's money range", field="watches")
    sign = np.where(pos.size[legs] > 0, 1, -1).astype(np.int64)
    wallet = core.wallet[wt.account[ws], wt.asset[ws]].astype(np.int64)
    asset = wt.asset[ws].astype(np.int64)
    fund = core.system[SYSTEM_INSURANCE].astype(np.int64).copy()
    out = np.zeros((len(ws), _COLS), np.int64)
    realized = np.zeros(len(legs), np.int64)
    took = np.zeros(len(ws), np.bool_)
    _cross_batch(leg_ptr, legs, sign, a, entry, fill, k, m.liquidation_fee[mi].astype(np.int64), wallet, asset,
                 fund, out, realized, took)
    bankrupt = np.empty(len(legs), np.int64)
    _bankruptcy(leg_ptr, sign, a, mark, k, np.asarray(equity, np.int64), bankrupt)
    if bool(np.any(bankrupt < 0)):
        raise CoreRangeError("watches: a bankruptcy price outside the core's range", field="watches")
    c = [out[:, j].copy() for j in range(_COLS)]
    return CrossTakeovers(core.unit_digits, ws, legs, leg_ptr, took, fund_whole=c[0], fund_frac=c[1],
                          fund_digits=c[2], fee_asked=c[3], residual=c[4],
                          fee_paid=c[5], surplus=c[6], insurance_paid=c[7], venue_absorbed=c[8], realized=realized,
                          bankruptcy=bankrupt, fund_after=fund)

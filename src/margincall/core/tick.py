"""A mark tick through the core: marks in (one symbol or many, all taken or none) → the watches they can move →
each watch's exact status and next margin-call band (:mod:`.kernels`). Python here only converts, checks and
calls the compiled pass.

The band thresholds are the engine's ``BandConfig`` (``risk.margin_call``, defaults after Binance: warning 80 %,
reduce-only 90 %, hysteresis 5 %), given here as Decimals because the core sits below the risk layer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

import numpy as np

from margincall.core import kernels
from margincall.core.ranges import BAND_DIGITS, RATE_DIGITS, CoreRangeError, scaled, unscaled
from margincall.core.state import I8, I64, B, CoreState

BANDS = ("healthy", "warning", "reduce_only", "liquidation")


@dataclass(frozen=True, slots=True)
class BandThresholds:
    """The margin-call thresholds at 10^-4: ``[warning, reduce_only, warning − hysteresis, reduce_only −
    hysteresis]`` (liquidation is at 1: equity ≤ MM)."""

    ints: I64

    @classmethod
    def of(cls, warning: Decimal = Decimal("0.80"), reduce_only: Decimal = Decimal("0.90"),
           hysteresis: Decimal = Decimal("0.05")) -> BandThresholds:
        w = scaled(warning, BAND_DIGITS, "bands.warning", 10**BAND_DIGITS)
        r = scaled(reduce_only, BAND_DIGITS, "bands.reduce_only", 10**BAND_DIGITS)
        h = scaled(hysteresis, BAND_DIGITS, "bands.hysteresis", 10**BAND_DIGITS)
        if not (0 < w <= r <= 10**BAND_DIGITS and 0 <= h < w):
            raise CoreRangeError("bands must satisfy 0 < warning ≤ reduce_only ≤ 1 and 0 ≤ hysteresis < warning",
                                 field="bands")
        return cls(np.array([w, r, w - h, r - h], np.int64))


@dataclass(frozen=True, slots=True)
class Statuses:
    """Row ``i`` is watch ``watches[i]``: equity in money units, MM as ``mm_whole`` units + ``mm_frac`` at
    10^-(u+8) (exact), whether it is liquidatable (equity ≤ MM with a position) and its next band (index into
    :data:`BANDS`)."""

    unit_digits: int
    watches: I64
    equity: I64
    mm_whole: I64
    mm_frac: I64
    liquidatable: B
    band: I8

    def mm_ceil(self) -> I64:
        """MM rounded up to the money unit (in the venue's favour), as reported."""
        return self.mm_whole + (self.mm_frac > 0)

    def equity_decimal(self, i: int) -> Decimal:
        return unscaled(int(self.equity[i]), self.unit_digits)

    def mm_decimal(self, i: int) -> Decimal:
        """The exact MM of row ``i``."""
        return (unscaled(int(self.mm_whole[i]), self.unit_digits)
                + unscaled(int(self.mm_frac[i]), self.unit_digits + RATE_DIGITS))


def set_marks(core: CoreState, marks: Mapping[str, Decimal]) -> I64:
    """Take the marks of one tick (all or none: every price is checked before any is written); returns the
    markets ticked."""
    m = core.markets
    idx = np.empty(len(marks), np.int64)
    vals = np.empty(len(marks), np.int64)
    for i, (symbol, price) in enumerate(marks.items()):
        try:
            k = m.symbols.index(symbol)
        except ValueError:
            raise CoreRangeError(f"marks.{symbol}: unknown symbol", field=f"marks.{symbol}") from None
        if price <= 0:
            raise CoreRangeError(f"marks.{symbol}: a mark must be above zero, got {price}", field=f"marks.{symbol}")
        idx[i] = k
        vals[i] = scaled(price, int(m.price_digits[k]), f"marks.{symbol}")
    m.mark[idx] = vals
    m.has_mark[idx] = True
    return idx


def candidates(core: CoreState, markets: I64) -> I64:
    """The watches holding a position in any of ``markets`` (ascending watch index)."""
    return kernels.candidate_watches(markets, core.by_market.ptr, core.by_market.positions, core.positions.watch,
                                     len(core.watches.isolated))


def statuses(core: CoreState, watches: I64, current: I8 | None = None,
             thresholds: BandThresholds | None = None) -> Statuses:
    """The exact status of ``watches``; ``current`` their bands before (healthy if not given). A watch outside
    the core's range (gross notional above 2^61 units) is refused, naming its account."""
    n = len(watches)
    cur = np.zeros(n, np.int8) if current is None else current.astype(np.int8)
    th = (thresholds or BandThresholds.of()).ints
    w, p, m, t = core.watches, core.positions, core.markets, core.tiers
    out_e = np.empty(n, np.int64)
    out_w = np.empty(n, np.int64)
    out_f = np.empty(n, np.int64)
    out_l = np.empty(n, np.bool_)
    out_b = np.empty(n, np.int8)
    over = np.empty(n, np.bool_)
    kernels.watch_status(watches.astype(np.int64), w.ptr, w.positions, w.isolated, w.account.astype(np.int64),
                         w.asset.astype(np.int64), core.wallet, p.size, p.entry, p.isolated_margin,
                         p.market.astype(np.int64), m.contract_size, m.basis_contracts, m.cap_inclusive, m.tier_ptr,
                         m.has_mark, m.mark, t.floor, t.rate, t.amount_whole, t.amount_frac, cur, th,
                         out_e, out_w, out_f, out_l, out_b, over)
    if over.any():
        i = int(np.flatnonzero(over)[0])
        acct = core.accounts[w.account[watches[i]]]
        raise CoreRangeError(f"account {acct}: gross notional outside the core's range (2^61 money units)",
                             field="account")
    return Statuses(core.unit_digits, watches, out_e, out_w, out_f, out_l, out_b)


def tick(core: CoreState, marks: Mapping[str, Decimal], current: I8 | None = None,
         thresholds: BandThresholds | None = None) -> Statuses:
    """One mark tick: set ``marks``, find the watches they move, and return their statuses. ``current`` is the
    band of every watch (indexed by watch), healthy if not given."""
    before = core.markets.mark.copy(), core.markets.has_mark.copy()
    cands = candidates(core, set_marks(core, marks))
    try:
        return statuses(core, cands, None if current is None else current[cands], thresholds)
    except CoreRangeError:
        core.markets.mark[:], core.markets.has_mark[:] = before  # refused: the tick leaves no trace
        raise

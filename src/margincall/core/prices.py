"""The prices a liquidation event carries, as integers at 1e-10 (``math.liquidation.price_in_event``), compiled:
the market executor's fill (``math.liquidation.market_fill_price``) and an isolated position's bankruptcy price
(``math.liquidation.bankruptcy_prices_sharing_equity_pro_rata_to_notional`` with one leg). The reference forms
both in a 60-digit context and rounds once, half to even, so each is the exact rational value rounded once — what
these compute with the 128-bit quotients of :mod:`.wide`. Linear contracts (the core refuses inverse ones).

With a price ``M`` at ``10^-pd``, ``k = 10 − pd``, a quantity ``a`` at ``10^-(sd+cd)`` and amounts in money units
``10^-u`` (``pd = u − sd − cd``):

* fill: ``move = slippage + impact × N / 10^6`` with the notional ``N = a × M`` units, capped at 1/2; with the
  move as ``num / D`` (``D = 10^x``, ``x`` the digits of the move), the fill is ``M·10^k × (D ∓ num) / D``
  (− closing a long);
* bankruptcy price: the price at which the watch's equity ``E`` (units), shared pro rata to the legs' notional
  ``ΣN`` at their marks, is used up: ``M·10^k × (ΣN − sign × E) / ΣN`` (one leg, ``ΣN = a × M``: ``mark − E /
  (sign × Q)``); not above zero → ``mark / 1000`` (the reference's edge).
"""

from __future__ import annotations

from decimal import Decimal

import numba as nb
import numpy as np

from margincall.core.ranges import MAX_MONEY, CoreRangeError, decimal_digits, scaled
from margincall.core.state import I64, CoreState
from margincall.core.takeover import FILL_DIGITS, MAX_QUANTITY
from margincall.core.wide import mul, mul_div_half_even, pow10
from margincall.math.liquidation import MAX_FILL_MOVE, price_in_event

#: Most digits of a move (slippage, impact × N / 10^6) the fill keeps in int64 (``D = 10^x ≤ 10^18``).
MOVE_DIGITS = 18
_MONEY_SHIFT = 14  # impact × N / 10^6 with N in units of 10^-8: 10^-(I + 8 + 6)


@nb.njit(cache=True)
def fill_price(sign: int, mark: int, k: int, notional: int, slip: int, impact: int, x: int, slip_shift: int,
               impact_shift: int) -> int:
    """The executor's fill at 1e-10 (−1: out of range). ``slip × 10^slip_shift + impact × notional ×
    10^impact_shift`` is the move at ``10^-x``."""
    d = pow10(x)
    p10 = pow10(k)
    half = d // 2
    num = slip * pow10(slip_shift)
    # impact × notional × 10^impact_shift, capped at D/2 before it can leave int64
    hi, lo = mul(impact, notional)
    if hi > 0 or lo >= np.uint64(half):
        num = half
    else:
        term: int = np.int64(lo)  # type: ignore[assignment]
        for _ in range(impact_shift):
            if term > half:
                break
            term *= 10
        num = min(num + min(term, half), half)
    base = mark * p10
    return mul_div_half_even(base, d - num if sign > 0 else d + num, d)


@nb.njit(cache=True)
def bankruptcy_price(sign: int, mark: int, k: int, total: int, equity: int) -> int:
    """A leg's bankruptcy price at 1e-10 (−1: out of range) with the watch's equity ``E`` shared pro rata to the
    legs' notional ``total`` at their marks (money units): ``M·10^k × (ΣN − sign × E) / ΣN``, half to even; not
    above zero → ``M / 1000``. One leg (``ΣN = a × M``) is an isolated position's ``mark − E / (sign × Q)``."""
    p10 = pow10(k)
    left = total - sign * equity
    if left <= 0:
        return mul_div_half_even(mark, p10, 1000)
    return mul_div_half_even(mark * p10, left, total)


@nb.njit(cache=True)
def _fills(sign: I64, mark: I64, k: I64, notional: I64, slip: int, impact: int, x: int, slip_shift: int,
           impact_shift: int, out: I64) -> None:
    for i in range(sign.shape[0]):
        out[i] = fill_price(sign[i], mark[i], k[i], notional[i], slip, impact, x, slip_shift, impact_shift)


@nb.njit(cache=True)
def _bankruptcy(sign: I64, mark: I64, k: I64, notional: I64, equity: I64, out: I64) -> None:
    for i in range(sign.shape[0]):
        out[i] = bankruptcy_price(sign[i], mark[i], k[i], notional[i], equity[i])


def _rows(core: CoreState, rows: I64) -> tuple[I64, I64, I64, I64]:
    pos, m = core.positions, core.markets
    mi = pos.market[rows].astype(np.int64)
    if not bool(np.all(m.has_mark[mi])):
        raise CoreRangeError("positions: a position whose market has no mark yet", field="positions")
    pd = m.price_digits[mi].astype(np.int64)
    if bool(np.any(pd > FILL_DIGITS)):
        raise CoreRangeError("positions: a market whose prices are finer than 1e-10", field="positions")
    k = FILL_DIGITS - pd
    a = np.abs(pos.size[rows]) * m.contract_size[mi]
    mark = m.mark[mi].astype(np.int64)
    if (bool(np.any(mark.astype(np.float64) * 10.0**k > 2.0**62)) or bool(np.any(a >= MAX_QUANTITY))
            or bool(np.any(a.astype(np.float64) * mark > MAX_MONEY / 4))):
        raise CoreRangeError("positions: a mark or a quantity outside the range of the event prices",
                             field="positions")
    sign = np.where(pos.size[rows] > 0, 1, -1).astype(np.int64)
    return sign, mark, k, a


def executor_fills(core: CoreState, rows: I64, slippage: Decimal, impact_per_million: Decimal,
                   sizes: I64 | None = None) -> I64:
    """The market executor's fill (at 1e-10) of each position in ``rows``, closing it in full at its market's
    mark — or closing ``sizes[i]`` of it (at the size scale: a partial step) — as the reference's
    ``MarketExecutor(slippage, impact_per_million)`` gives it. Refused (naming the field) when the move has more
    than 18 digits or a value leaves the range."""
    s_digits, i_digits = decimal_digits(slippage), decimal_digits(impact_per_million)
    x = max(s_digits, i_digits + _MONEY_SHIFT)
    if x > MOVE_DIGITS or slippage < 0 or impact_per_million < 0:
        raise CoreRangeError("executor: a slippage or impact the core's fill cannot hold (at most 18 digits of "
                             "move, impact at most 4 decimals, neither below zero)", field="executor")
    # min(slip + t, 1/2) = min(min(slip, 1/2) + t, 1/2) for t ≥ 0: a slippage past the cap is the cap
    slip = scaled(min(slippage, MAX_FILL_MOVE), s_digits, "executor.slippage")
    impact = scaled(impact_per_million, i_digits, "executor.impact_per_million")
    sign, mark, k, a = _rows(core, np.asarray(rows, np.int64))
    if sizes is not None:
        a = np.asarray(sizes, np.int64) * core.markets.contract_size[core.positions.market[rows]]
    out = np.empty(len(sign), np.int64)
    _fills(sign, mark, k, a * mark, slip, impact, x, x - s_digits, x - i_digits - _MONEY_SHIFT, out)
    if bool(np.any(out < 0)):
        raise CoreRangeError("positions: a fill price outside the core's range", field="positions")
    return out


def bankruptcy_prices(core: CoreState, rows: I64, equity: I64) -> I64:
    """The bankruptcy price (at 1e-10) of each isolated position in ``rows`` with its watch's ``equity`` (money
    units)."""
    sign, mark, k, a = _rows(core, np.asarray(rows, np.int64))
    out = np.empty(len(sign), np.int64)
    _bankruptcy(sign, mark, k, a * mark, np.asarray(equity, np.int64), out)
    if bool(np.any(out < 0)):
        raise CoreRangeError("positions: a bankruptcy price outside the core's range", field="positions")
    return out


def as_prices(values: I64) -> list[Decimal]:
    """Prices at 1e-10 as the events write them (``math.liquidation.price_in_event``)."""
    return [price_in_event(Decimal(int(v)).scaleb(-FILL_DIGITS)) for v in values]

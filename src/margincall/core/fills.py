"""A fill's money through the core: the integers of the postings ``Trading.trade`` makes (``ledger.trading``) —
fee, realized PnL, isolated margin released and locked — and the position it leaves.

The rules are the reference's (``math.trade``: fee ``notional × rate`` rounded up, realized PnL rounded toward
minus infinity, isolated margin released pro rata rounded down, isolated IM ``notional / leverage`` rounded up; a
fill first reduces, then opens with the position's or the account's leverage and mode), in integers:

* ``n = q × price`` is whole money units (:mod:`.ranges`), so the realized PnL ``sign × q_closed × (price −
  entry)`` needs no rounding;
* fee ``= ceil(n × rate / 1e8)`` with ``n = nh·1e8 + nl``: ``nh × rate + ceil(nl × rate / 1e8)``;
* released ``= floor(held × closed / |size|)`` with ``held = a·|size| + b``: ``a × closed + floor(b × closed /
  |size|)``, whose products stay below ``|size|²`` (a size above 3e9 at its scale is refused);
* IM ``= ceil(n × 1e8 / leverage)`` with ``n = a·leverage + b``: ``a × 1e8 + ceil(b × 1e8 / leverage)``, the last
  product in uint64 (``b < leverage ≤ 1.8e11``).

Within the ranges the reference's quotients (``held × closed / size``, ``notional / leverage``) are far from a unit
boundary compared with their 28th digit, so its rounding of them equals these floors and ceilings.

The checks a fill must pass and its write into the arrays are :mod:`.inputs` (compiled in :mod:`.input_kernels`,
which calls :func:`fill_amounts`); :func:`fill` here gives one fill's integers without writing them. A fill that
increases a position at another price is refused (its averaged entry is not representable, see :mod:`.loader`).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import numba as nb
import numpy as np

from margincall.core.ranges import MAX_MONEY, RATE_ONE, CoreRangeError, scaled
from margincall.core.state import SIDES, CoreState

#: Largest |size| (at its scale) of a position a fill reduces pro rata: keeps ``b × closed`` in int64.
MAX_PRO_RATA_SIZE = 3 * 10**9
_DEFAULT_LEVERAGE = 20 * RATE_ONE


@dataclass(frozen=True, slots=True)
class FillResult:
    """Money units: ``fee``, ``realized`` (signed), ``released``, ``locked``; the position after: ``size`` (at
    its scale, 0 when closed), ``entry`` (at the price scale), ``isolated``, ``leverage`` (at 1e-8)."""

    fee: int
    realized: int
    released: int
    locked: int
    size: int
    entry: int
    isolated: bool
    leverage: int


@nb.njit(cache=True)
def fill_amounts(cur: int, entry: int, held: int, signed: int, price: int, cs: int, fee_rate: int,
                 lev_after: int) -> tuple[int, int, int, int, int, int]:
    """(fee, realized, released, locked, size after, entry after) of one fill; ``lev_after`` is the leverage at
    1e-8 of what opens (0: not isolated, nothing locked); ``entry`` after is −1 when an increase would average."""
    size = abs(signed)
    buy = signed > 0
    closing = 0
    if cur != 0 and (cur > 0) != buy:
        closing = min(size, abs(cur))
    opening = size - closing
    n = size * cs * price
    nh = n // RATE_ONE
    nl = n - nh * RATE_ONE
    fee = nh * fee_rate + (nl * fee_rate + RATE_ONE - 1) // RATE_ONE
    realized = 0
    released = 0
    after = cur
    new_entry = entry
    if closing > 0:
        q = closing * cs
        realized = q * (price - entry) if cur > 0 else q * (entry - price)
        if closing == abs(cur):
            released = held
        else:
            a = held // abs(cur)
            b = held - a * abs(cur)
            released = a * closing + (b * closing) // abs(cur)
        after = cur - closing if cur > 0 else cur + closing
    locked = 0
    if opening > 0:
        if after != 0:
            if price != entry:
                return fee, realized, released, 0, after, -1
        else:
            new_entry = price
        after = after + opening if buy else after - opening
        if lev_after > 0:
            no = opening * cs * price
            a = no // lev_after
            b = no - a * lev_after
            rest = (np.uint64(b) * np.uint64(RATE_ONE) + np.uint64(lev_after - 1)) // np.uint64(lev_after)
            locked = a * RATE_ONE + np.int64(rest)
    return fee, realized, released, locked, after, new_entry


def fill(core: CoreState, account: str, symbol: str, side: str, size: Decimal, price: Decimal,
         liquidity: str = "taker", position_side: str = "both") -> FillResult:
    """The integers of a fill of ``account`` in ``symbol`` (``side`` buy or sell, ``size`` contracts at
    ``price``) against the core's state; refused (naming the field) when a value is outside the core's scales."""
    m = core.markets
    mi = core.market_index(symbol)
    a = core.accounts.index(account)
    s = scaled(size, int(m.size_digits[mi]), "size")
    p = scaled(price, int(m.price_digits[mi]), "price")
    signed = s if side == "buy" else -s
    if float(s) * float(m.contract_size[mi]) * float(p) > MAX_MONEY / 2:
        raise CoreRangeError(f"size: a fill of {size} at {price} is outside the core's range", field="size")
    pos = core.positions
    rows = np.flatnonzero((pos.account == a) & (pos.market == mi) & (pos.side == SIDES.index(position_side)))
    if len(rows):
        r = int(rows[0])
        cur, entry, held = int(pos.size[r]), int(pos.entry[r]), int(pos.isolated_margin[r])
        iso, lev = bool(pos.isolated[r]), int(pos.leverage[r])
    else:
        cur, entry, held = 0, 0, 0
        iso, lev = False, 0
    if abs(cur) > MAX_PRO_RATA_SIZE:
        raise CoreRangeError(f"size: a position of {abs(cur)} units is above the core's fill range", field="size")
    closing_all = cur != 0 and (cur > 0) != (signed > 0) and abs(signed) >= abs(cur)
    if cur == 0 or closing_all:  # what opens takes the account's settings for the symbol
        st = core.settings
        k = np.flatnonzero((st.account == a) & (st.market == mi))
        lev = int(st.leverage[k[0]]) if len(k) and st.leverage[k[0]] else 0
        iso = bool(st.isolated[k[0]]) if len(k) else False
        if not lev:
            lev = min(_DEFAULT_LEVERAGE, int(core.tiers.max_leverage[m.tier_ptr[mi]]))
    rate = int(m.maker_fee[mi] if liquidity == "maker" else m.taker_fee[mi])
    fee, realized, released, locked, after, new_entry = fill_amounts(
        cur, entry, held, signed, p, int(m.contract_size[mi]), rate, lev if iso else 0)
    if new_entry < 0:
        raise CoreRangeError(f"price: increasing the position at {price} averages its entry, which the core does not "
                             "hold yet", field="price")
    return FillResult(int(fee), int(realized), int(released), int(locked), int(after), int(new_entry), iso,
                      lev if after else 0)


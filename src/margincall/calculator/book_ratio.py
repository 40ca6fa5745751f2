"""The margin ratio of a book's rows where its float lies near a 1e-8 boundary, from the cells' integers.

A ratio of thousands (equity / a small MM) is ~10^11 units of 1e-8: a float's 1e-12 relative error spans units,
so the float band cannot settle it. For a row whose MM the integer path decided
(:mod:`margincall.calculator.book_exact`) — and, for a cross row, every cross row of its account — the ratio is
formed here as ``evaluate`` forms it, with the same functions of ``margincall.math`` on exact Decimals built from
the integers: ``pnl_of`` for each PnL, ``initial_margin(notional_of(…))`` for an isolated margin (its IM at entry),
``MM = N·(MMR_k + fee) − cum_k`` from the row's tier, the equity ``wallet + ΣPnL`` (cross: summed exactly in
integers, :func:`_cross_sums`, then made one exact Decimal each) or ``margin + PnL`` (isolated), then
:meth:`~margincall.venues.profiles.RatioConvention.ratio` and the book's rounding
(:func:`~margincall.calculator.book.book_values`). No Scenario, no solver: a few Decimal operations a row.

An MM is built only while its exact value has at most 27 digits (the reference's 28-digit context computes it
exactly then); a row outside is left to the reference.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np
import numpy.typing as npt

from margincall.calculator.book import RATIO_ROUNDING, RATIO_UNIT
from margincall.calculator.book_arrays import CEIL, FLOOR, BookArrays, unit_parts
from margincall.calculator.book_exact import ExactMargins
from margincall.math.contracts import notional_of, pnl_of
from margincall.math.margin import initial_margin
from margincall.model.enums import ContractKind
from margincall.venues.profiles import RatioConvention, get_venue

_LINEAR = ContractKind.LINEAR
_DIGITS = 10**27


def exact_ratios(
    arrays: BookArrays, exact: ExactMargins, rows: npt.NDArray[np.bool_]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    """For each row in ``rows``: its ratio in whole units of 1e-8 (NaN: none) and whether it was formed here."""
    n = arrays.account.size
    k = np.full(n, np.nan)
    ok = np.zeros(n, np.bool_)
    which = np.flatnonzero(rows)
    if which.size == 0:
        return k, ok
    c = exact.cells
    conventions = [get_venue(e[0]).ratio_convention for e in arrays.entries]
    dq, dp = c.ds + c.dc, c.dp
    dn = dq + dp
    mm_ok, im_ok = exact.mm_ok, exact.im_ok

    def mm_of(r: int) -> Decimal | None:
        t = int(c.tier[r])
        notional = int(c.size[r]) * int(c.contract[r]) * int(c.mm_price[r])
        x = notional * int(c.rates[t])
        if abs(x) >= _DIGITS:
            return None
        return Decimal(x - int(c.amounts[t]) * 10**dn).scaleb(-(dn + 8))

    def pnl(r: int) -> Decimal:
        q = Decimal(int(c.size[r]) * int(c.contract[r])).scaleb(-dq)
        return pnl_of(_LINEAR, int(arrays.side[r]), q, Decimal(int(c.entry[r])).scaleb(-dp),
                      Decimal(int(c.mark[r])).scaleb(-dp))  # fmt: skip

    sums = _cross_sums(arrays, exact) if (rows & arrays.cross).any() else None
    big_d = max(dn, c.dw)

    def cross_parts(a: int) -> tuple[Decimal, Decimal] | None:
        """The account's cross equity and MM (exact, as ``evaluate`` sums them), or None if a row is not exact."""
        if sums is None or not sums.ok[a]:
            return None
        wallet = int(sums.wallet[a]) * 10 ** (big_d - c.dw) if sums.has_wallet[a] else 0
        equity = wallet + int(sums.pnl[a]) * 10 ** (big_d - dn)
        mm = int(sums.mm[a])
        if abs(equity) >= _DIGITS or abs(mm) >= _DIGITS:
            return None
        return Decimal(equity).scaleb(-big_d), Decimal(mm).scaleb(-(dn + 8))

    if sums is not None:
        # most cross ratios are decided by a 64-bit-mantissa quotient of the exact integers (:func:`_screen`)
        screened_k, screened = _screen(arrays, sums, rows & arrays.cross, dn, c.dw, conventions)
        k = np.where(screened, screened_k, k)
        ok |= screened
        which = which[~screened[which]]

    cache: dict[int, tuple[Decimal, Decimal] | None] = {}
    for r in which.tolist():
        convention = conventions[int(arrays.instrument[r])]
        if arrays.cross[r]:
            a = int(arrays.account[r])
            if a not in cache:
                cache[a] = cross_parts(a)
            parts = cache[a]
            if parts is None:
                continue
            ratio = convention.ratio(*parts)
        else:
            mm = mm_of(r) if mm_ok[r] and im_ok[r] and c.plain[r] else None
            if mm is None:
                continue
            q = Decimal(int(c.size[r]) * int(c.contract[r])).scaleb(-dq)
            margin = initial_margin(notional_of(_LINEAR, q, Decimal(int(c.entry[r])).scaleb(-dp)),
                                    Decimal(int(c.lev[r])).scaleb(-c.dl))  # fmt: skip
            ratio = convention.ratio(margin + pnl(r), mm)
        ok[r] = True
        if ratio is not None:
            k[r] = float(int(ratio.quantize(RATIO_UNIT, RATIO_ROUNDING[convention]).scaleb(8)))
    return k, ok


@dataclass(frozen=True)
class _CrossSums:
    """Per account: the wallet cell at ``10^-dw`` (where ``has_wallet``), ``Σ s·Q·(MP − EP)`` over its cross rows at
    ``10^-dn`` and their MM ``Σ (N·R_k − cum_k·10^dn)`` at ``10^-(dn+8)``, and whether every cross row is exact."""

    wallet: npt.NDArray[np.int64]
    has_wallet: npt.NDArray[np.bool_]
    pnl: npt.NDArray[np.int64]
    mm: npt.NDArray[np.int64]
    ok: npt.NDArray[np.bool_]


def _cross_sums(arrays: BookArrays, exact: ExactMargins) -> _CrossSums:
    """The cross sums of every account — ``pnl_of`` (linear) and the MM of :mod:`margincall.math.book_exact`
    summed in int64 (a row whose terms come near int64's range is not exact: its account goes elsewhere)."""
    c = exact.cells
    dn = c.ds + c.dc + c.dp
    cross = arrays.cross
    limit = 2.0**62 / 64  # 64 rows of an account at most before a sum could leave int64
    q = c.size * c.contract
    move = c.mark - c.entry
    side = np.nan_to_num(arrays.side).astype(np.int64)
    f_pnl = q.astype(np.float64) * move.astype(np.float64)
    f_n = q.astype(np.float64) * c.mm_price.astype(np.float64)
    tier = np.where(exact.mm_ok, c.tier, 0)
    rate, amount = (c.rates[tier], c.amounts[tier]) if c.rates.size else (np.zeros_like(q), np.zeros_like(q))
    f_x = f_n * rate.astype(np.float64) + np.abs(amount.astype(np.float64)) * 10.0**dn
    row_ok = exact.mm_ok & exact.im_ok & c.pnl_ok & (np.abs(f_pnl) < limit) & (np.abs(f_x) < limit)
    lengths = np.diff(np.append(arrays.starts, arrays.account.size))
    use = cross & row_ok
    starts = arrays.starts
    pnl = np.add.reduceat(np.where(use, side * q * move, 0), starts)
    mm = np.add.reduceat(np.where(use, q * c.mm_price * rate - amount * 10**dn, 0), starts)
    ok = np.logical_and.reduceat(row_ok | ~cross, starts) & (lengths <= 64)
    # the wallet: its cell on any row that gives one (the rows agree, or the account is the reference's)
    has_wallet = np.logical_or.reduceat(~np.isnan(arrays.wallet_balance), starts)
    ok &= np.logical_or.reduceat(c.wallet_ok, starts) | ~has_wallet
    wallet = np.maximum.reduceat(np.where(c.wallet_ok, c.wallet, np.iinfo(np.int64).min), starts)
    return _CrossSums(wallet, has_wallet, pnl, mm, ok)


#: Relative bound on the error of :func:`_screen`'s quotient: two roundings of a 64-bit mantissa (5.4e-20 each),
#: and one more for a negative power of ten; 1e-18 leaves a margin of 5x.
_SCREEN_BAND = 1e-18


def _screen(
    arrays: BookArrays, sums: _CrossSums, rows: npt.NDArray[np.bool_], dn: int, dw: int, conventions: list[Any]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    """The cross ratio of the accounts of ``rows`` in whole units of 1e-8, where a long double (64-bit mantissa)
    quotient of the exact equity and MM integers settles it: ``E·10^(dn+16−D) / MM`` (equity over MM) or
    ``MM·10^(D−dn) / E`` (MM over equity), farther than :data:`_SCREEN_BAND` (relative) from a whole unit. The
    reference's 28-digit quotient (relative error 5e-28) then rounds to the same unit; a quotient inside the band
    is left to the Decimal path. An equity or MM beyond int64 is left there too; a ratio of none (MM over a
    non-positive equity, equity over a non-positive MM) is exact in integers."""
    n = arrays.account.size
    out_k = np.full(n, np.nan)
    out_ok = np.zeros(n, np.bool_)
    big_d = max(dn, dw)
    f_equity = sums.wallet.astype(np.float64) * 10.0 ** (big_d - dw) * sums.has_wallet + sums.pnl.astype(
        np.float64) * 10.0 ** (big_d - dn)  # fmt: skip
    fits = sums.ok & (np.abs(f_equity) < 2.0**62) & (np.abs(sums.mm.astype(np.float64)) < 2.0**62)
    fits &= np.abs(sums.wallet.astype(np.float64)) * 10.0 ** (big_d - dw) < 2.0**62
    wallet = np.where(fits & sums.has_wallet, sums.wallet, 0) * 10 ** (big_d - dw)
    equity = wallet + np.where(fits, sums.pnl, 0) * 10 ** (big_d - dn)
    mm = np.where(fits, sums.mm, 0)
    over_mm = np.array([conv is RatioConvention.EQUITY_OVER_MM for conv in conventions] + [False])
    per_row = np.flatnonzero(rows & fits[arrays.account])
    a = arrays.account[per_row]
    eq_over = over_mm[arrays.instrument[per_row]]
    e, m = equity[a].astype(np.longdouble), mm[a].astype(np.longdouble)
    none = np.where(eq_over, mm[a] <= 0, equity[a] <= 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.where(eq_over, e * np.longdouble(10.0) ** (dn + 16 - big_d) / m,
                     m * np.longdouble(10.0) ** (big_d - dn) / e)  # fmt: skip
        units = np.where(eq_over, np.floor(q), np.ceil(q))  # toward more risk: down for E/MM, up for MM/E
        settled = none | (np.abs(q - np.round(q)) > _SCREEN_BAND * np.maximum(np.abs(q), 1))
        settled &= none | (np.abs(q) < 2.0**53)
    out_ok[per_row] = settled
    out_k[per_row] = np.where(none, np.nan, units.astype(np.float64))
    out_k[~out_ok] = np.nan
    return out_k, out_ok


def exact_cross_bankruptcy(
    arrays: BookArrays, exact: ExactMargins, rows: npt.NDArray[np.bool_]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    """For each cross row in ``rows``: its bankruptcy price in whole ticks (NaN: none) and whether it was formed
    here — ``GenericRule.cross_bankruptcy_price`` (``cross_solution`` with no requirement, docs/venues.md §3.5):
    the price ``P`` of the row's symbol where ``wallet + Σ PnL = 0``, the other symbols at their marks. With the
    symbol's one linear leg, ``P = EP − s·C / Q`` (``C`` the wallet plus the other legs' PnL), exact in integers:
    ``P·Q·10^(D+dp) = E·Q·10^D − s·C·10^(dq+dp)`` with ``C`` at ``10^-D``, rounded to the tick as
    ``round_trigger_price`` does — in int64 arrays, each product checked in float64 first. An account with a leg
    the integers cannot carry, more than 64 rows, or two legs of one symbol is left to the reference."""
    n = arrays.account.size
    k = np.full(n, np.nan)
    ok = np.zeros(n, np.bool_)
    cross = arrays.cross
    if not (rows & cross).any():
        return k, ok
    c = exact.cells
    dn = c.ds + c.dc + c.dp
    big_d = max(dn, c.dw)
    starts, account = arrays.starts, arrays.account
    limit = 2.0**62
    # every row's PnL at 10^-dn, and per account the cross sum (int64, each term far inside its range)
    q = c.size * c.contract
    f_pnl = q.astype(np.float64) * (c.mark - c.entry).astype(np.float64)
    row_ok = exact.im_ok & c.pnl_ok & (np.abs(f_pnl) < limit / 64)
    pnl = np.where(row_ok, np.nan_to_num(arrays.side).astype(np.int64) * q * (c.mark - c.entry), 0)
    lengths = np.diff(np.append(starts, n))
    pnl_sum = np.add.reduceat(np.where(cross, pnl, 0), starts)
    acct_ok = np.logical_and.reduceat(row_ok | ~cross, starts) & (lengths <= 64)
    has_wallet = np.logical_or.reduceat(~np.isnan(arrays.wallet_balance), starts)
    acct_ok &= np.logical_or.reduceat(c.wallet_ok, starts) | ~has_wallet
    wallet = np.where(
        has_wallet, np.maximum.reduceat(np.where(c.wallet_ok, c.wallet, np.iinfo(np.int64).min), starts), 0
    )
    # the symbol's legs in the account: exactly one
    pair = account * (len(arrays.entries) + 1) + arrays.instrument
    _, inverse_ix, counts = np.unique(np.where(cross, pair, -1), return_inverse=True, return_counts=True)
    single = counts[inverse_ix] == 1
    which = rows & cross & single & row_ok & acct_ok[account]
    # C = wallet + the other legs' PnL at 10^-D; P·Q·10^(D+dp) = E·Q·10^D − s·C·10^dn
    f_const = wallet[account].astype(np.float64) * 10.0 ** (big_d - c.dw) + (
        pnl_sum[account] - pnl).astype(np.float64) * 10.0 ** (big_d - dn)  # fmt: skip
    ticks = [unit_parts(e[1].tick_size) for e in arrays.entries] + [(1, 0)]
    tc = np.array([t for t, _ in ticks], np.int64)[arrays.instrument]
    dt = np.array([d for _, d in ticks], np.int64)[arrays.instrument]
    f_num = np.abs(c.entry.astype(np.float64) * q.astype(np.float64)) * 10.0**big_d + np.abs(f_const) * 10.0**dn
    f_den = q.astype(np.float64) * 10.0 ** (big_d + c.dp) * tc
    which &= (f_num * 10.0**dt < limit / 4) & (f_den < limit / 4) & (np.abs(f_const) < limit / 4) & (q > 0)
    if not which.any():
        return k, ok
    r = np.flatnonzero(which)
    const = (np.where(has_wallet, wallet, 0)[account[r]] * 10 ** (big_d - c.dw)
             + (pnl_sum[account[r]] - pnl[r]) * 10 ** (big_d - dn))  # fmt: skip
    side = np.nan_to_num(arrays.side[r]).astype(np.int64)
    num = c.entry[r] * q[r] * 10**big_d - side * const * 10**dn
    den = q[r] * 10 ** (big_d + c.dp) * tc[r]
    num_t = num * 10 ** dt[r]
    mode = arrays.price_mode[r]
    up, down, half = -((-num_t) // den), num_t // den, (2 * num_t + den) // (2 * den)
    ticks_k = np.where(mode == CEIL, up, np.where(mode == FLOOR, down, half))
    ok[r] = True
    k[r] = np.where(num > 0, ticks_k.astype(np.float64), np.nan)  # no positive price: none
    return k, ok


__all__ = ["exact_cross_bankruptcy", "exact_ratios"]

"""Exact IM and MM of a book's rows from their decimal text, in integers: what a float cannot settle.

A float IM or MM of decimal inputs is mostly a whole number of the smallest unit (``0.034 × 61856.5 / 5`` is
``420.6242``), which no float band can tell from a value a hair above it; the reference would re-price nearly
every account for it. Here the cells are read as scaled integers (:func:`scaled_ints`: the text's own digits,
no float) and :func:`margincall.math.book_exact.im_mm_linear` decides exactly IM for every linear row, and MM
for the rows whose rule's requirement is a tiered ``N·(MMR_k + fee) − cum_k`` (:func:`_mm_form`: the generic
requirement with its fee rate and no constant part — Binance, OKX, Hyperliquid, dYdX, generic, Bybit without a
fee to close — and Bitunix's, at the entry price). Any other row, or a cell with more digits than int64 can
carry, is left to the float band and the reference.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import numpy.typing as npt
import pyarrow as pa  # type: ignore[import-untyped]

from margincall.calculator.book import Chunk
from margincall.calculator.book_arrays import BookArrays, unit_parts
from margincall.calculator.book_parse import parse_decimals
from margincall.math.book_exact import im_mm_linear, isolated_bankruptcy_ticks
from margincall.math.bybit import BybitForm
from margincall.model.enums import ContractKind, TierBasis, TierMode
from margincall.venues.profiles import get_venue
from margincall.venues.rules import BitunixRule, BybitRule, Fees, GenericRule

I64 = npt.NDArray[np.int64]
#: Most digits after the point a cell may have for the integer path (more: the float band and the reference).
MAX_DIGITS = 8


def scaled_ints(column: pa.Array | None, n: int) -> tuple[I64, int, npt.NDArray[np.bool_]]:
    """A text column as integers at one scale ``10^-d`` (``d`` the most digits after the point among its
    numbers, trailing zeros aside, at most :data:`MAX_DIGITS`) and where a cell is such a number."""
    if column is None:
        return np.zeros(n, np.int64), 0, np.zeros(n, np.bool_)
    mantissa, digits, ok, _ = parse_decimals(column)
    return _scaled(mantissa, digits, ok)


def _scaled(mantissa: I64, digits: I64, ok: npt.NDArray[np.bool_]) -> tuple[I64, int, npt.NDArray[np.bool_]]:
    ok = ok & (digits <= MAX_DIGITS)
    d = int(digits[ok].max()) if ok.any() else 0
    shift = np.where(ok, d - digits, 0)
    # the value at 10^-d stays inside int64 — checked in float first
    ok &= mantissa.astype(np.float64) * 10.0**shift < 2.0**62
    return np.where(ok, mantissa * 10 ** np.where(ok, shift, 0), 0), d, ok


@dataclass(frozen=True)
class ExactMargins:
    """Per row: IM and MM in units of 1e-8 (rounded up) where ``im_ok`` / ``mm_ok``."""

    initial_margin: I64
    maintenance_margin: I64
    im_ok: npt.NDArray[np.bool_]
    mm_ok: npt.NDArray[np.bool_]
    #: an isolated row's bankruptcy price in whole ticks, where ``bank_ok``
    bankruptcy: I64
    bank_ok: npt.NDArray[np.bool_]
    #: the cells as integers, for the margin ratio (:mod:`margincall.calculator.book_ratio`)
    cells: Cells


@dataclass(frozen=True)
class Cells:
    """A chunk's cells as integers: size at ``10^-ds``, prices at ``10^-dp``, leverage at ``10^-dl``, the contract
    size at ``10^-dc``, the wallet at ``10^-dw``; per row its MM's tier (where ``mm_ok``) and whether an isolated
    row's margin is its IM at entry (``plain``); the tiers' ``rates`` and ``amounts`` at 1e-8."""

    size: I64
    ds: int
    mark: I64
    mm_price: I64
    entry: I64
    dp: int
    lev: I64
    dl: int
    contract: I64
    dc: int
    wallet: I64
    dw: int
    wallet_ok: npt.NDArray[np.bool_]
    tier: I64
    rates: I64
    amounts: I64
    plain: npt.NDArray[np.bool_]
    #: size, entry and mark are integers (the row's PnL can be formed)
    pnl_ok: npt.NDArray[np.bool_]
    lev_ok: npt.NDArray[np.bool_]


def _units(value: Decimal) -> int | None:
    """``value`` at 1e-8 as an int, or None if it has more digits or does not fit."""
    scaled = value.scaleb(8)
    if scaled != scaled.to_integral_value() or abs(scaled) >= 1 << 62:
        return None
    return int(scaled)


@dataclass(frozen=True)
class _Forms:
    """Per entry (and one more, for rows of no entry): what the integer path decides and how."""

    im: npt.NDArray[np.bool_]  # a linear instrument: IM = N(mark) / L
    mm: npt.NDArray[np.bool_]  # its rule's MM is the tiered formula below
    at_entry: npt.NDArray[np.bool_]  # MM at the entry price (Bitunix), else at the mark
    contract: I64
    dc: int
    tiers: tuple[I64, I64, I64, I64]  # ptr, floors, rates, amounts
    by_contracts: npt.NDArray[np.bool_]
    inclusive: npt.NDArray[np.bool_]
    tier_exact: npt.NDArray[np.bool_]


def mm_form(rule: GenericRule, taker: Decimal) -> tuple[bool, bool, Decimal] | None:
    """``(at_entry, deducted, fee rate)`` when the rule's MM is ``N·(MMR_k + fee) − [cum_k]``, else None:
    the generic requirement with no constant part (Bybit's is none unless the 2026 form has a taker fee), or
    Bitunix's ``N(entry)·MMR_k + N(entry)·taker`` (:class:`~margincall.venues.rules.BitunixRule`)."""
    if isinstance(rule, BitunixRule):
        return True, False, taker
    if type(rule).requirement is not GenericRule.requirement:
        return None
    constant = type(rule).constant_requirement is GenericRule.constant_requirement or (
        isinstance(rule, BybitRule) and (rule.form is not BybitForm.Y2026 or taker == 0)
    )
    return (False, True, rule.fee_rate(Fees(taker))) if constant else None


def _forms(arrays: BookArrays) -> _Forms:
    im, mm, at_entry, contract, ptr = [], [], [], [], [0]
    floors: list[int] = []
    rates: list[int] = []
    amounts: list[int] = []
    tier_exact: list[bool] = []
    by_contracts, inclusive = [], []
    dc = max([max(0, -int(e[1].contract_size.normalize().as_tuple().exponent)) for e in arrays.entries] + [0])
    for venue, instrument, table, formula, taker_fee in arrays.entries:
        linear = instrument.kind is ContractKind.LINEAR and dc <= MAX_DIGITS
        form = mm_form(get_venue(venue).form(formula).rule, taker_fee) if linear else None
        rows: list[tuple[int, int, int, bool]] = []
        if form is not None:
            _, deducted, fee = form
            for tier in table.tiers:
                amount = tier.maintenance_amount if deducted and table.mode is TierMode.BRACKET else Decimal(0)
                f, r, a = _units(tier.floor), _units(tier.mmr + fee), _units(amount)
                if f is None:
                    form, rows = None, []  # a floor the tier choice cannot compare exactly
                    break
                # a rate or amount of more digits: that tier's rows go to the float band and the reference
                rows.append((f, r or 0, a or 0, r is not None and a is not None))
        im.append(linear)
        mm.append(form is not None)
        at_entry.append(form is not None and form[0])
        contract.append(int(instrument.contract_size.scaleb(dc)) if linear else 0)
        for f, r, a, x in rows:
            floors.append(f)
            rates.append(r)
            amounts.append(a)
            tier_exact.append(x)
        ptr.append(len(floors))
        # Bitunix picks the tier by the open value whatever the table's basis (tier_for(open_value))
        by_contracts.append(table.basis is TierBasis.CONTRACTS and not (form is not None and form[0]))
        inclusive.append(table.cap_inclusive)
    ints = tuple(np.array(x, np.int64) for x in (ptr, floors, rates, amounts))
    return _Forms(np.array([*im, False]), np.array([*mm, False]), np.array([*at_entry, False]),
                  np.array([*contract, 0], np.int64), dc, ints,  # type: ignore[arg-type]
                  np.array(by_contracts, np.bool_), np.array(inclusive, np.bool_),
                  np.array(tier_exact, np.bool_))  # fmt: skip


def _rescale(ints: I64, d: int, ok: npt.NDArray[np.bool_], to: int) -> tuple[I64, npt.NDArray[np.bool_]]:
    """Integers at ``10^-d`` at the finer scale ``10^-to`` (``to ≥ d``), not ok where they would leave int64."""
    if to == d:
        return ints, ok
    ok = ok & (np.abs(ints.astype(np.float64)) * 10.0 ** (to - d) < 2.0**62)
    return np.where(ok, ints, 0) * 10 ** (to - d), ok


def exact_margins(chunk: Chunk, arrays: BookArrays) -> ExactMargins:
    """IM and MM of every row the integer path can decide (see the module docstring)."""
    n = arrays.account.size
    names = chunk.batch.schema.names

    def column(name: str) -> pa.Array | None:
        return chunk.batch.column(name) if name in names else None

    size, ds, size_ok = scaled_ints(column("size"), n)
    entry_col, mark_col = column("entry_price"), column("mark_price")
    if entry_col is None:
        raise ValueError("a book has an entry_price column (book.REQUIRED_COLUMNS)")
    e_m, e_d, e_ok, _ = parse_decimals(entry_col)
    if mark_col is not None:
        m_m, m_d, m_ok, m_empty = parse_decimals(mark_col)
        # calc: no mark → the entry price
        m_m, m_d, m_ok = np.where(m_empty, e_m, m_m), np.where(m_empty, e_d, m_d), np.where(m_empty, e_ok, m_ok)
    else:
        m_m, m_d, m_ok = e_m, e_d, e_ok
    entry, de, entry_ok = _scaled(e_m, e_d, e_ok)
    mark, dm, mark_ok = _scaled(m_m, m_d, m_ok)
    dp = max(de, dm)
    entry, entry_ok = _rescale(entry, de, entry_ok, dp)
    mark, mark_ok = _rescale(mark, dm, mark_ok, dp)
    lev, dl, lev_ok = scaled_ints(column("leverage"), n)
    forms = _forms(arrays)
    at_entry = forms.at_entry[arrays.instrument]
    mm_price = np.where(at_entry, entry, mark)
    base = size_ok & lev_ok
    use_im = base & mark_ok & forms.im[arrays.instrument]
    use_mm = base & np.where(at_entry, entry_ok, mark_ok) & forms.mm[arrays.instrument]
    im, mm = np.zeros(n, np.int64), np.zeros(n, np.int64)
    im_ok, mm_ok = np.zeros(n, np.bool_), np.zeros(n, np.bool_)
    tier = np.zeros(n, np.int64)
    if use_im.any() or use_mm.any():
        ptr, floors, rates, amounts = forms.tiers
        im_mm_linear(use_im, use_mm, np.maximum(arrays.instrument, 0), size, ds, mark, mm_price, dp, lev, dl,
                     forms.contract, forms.dc, ptr, floors, rates, amounts, forms.tier_exact, forms.by_contracts,
                     forms.inclusive,
                     im, mm, im_ok, mm_ok, tier)  # fmt: skip
    # an isolated row's margin is its IM at entry unless a margin or an extra one is given
    plain = ~arrays.cross & np.isnan(arrays.isolated_margin) & (np.nan_to_num(arrays.extra_margin) == 0)
    inverse = np.array([e[1].kind is ContractKind.INVERSE for e in arrays.entries] + [False])[arrays.instrument]
    known = forms.im[arrays.instrument] | inverse
    use_bank = plain & entry_ok & lev_ok & known & np.isin(arrays.side, (-1.0, 1.0))
    bank, bank_ok = np.zeros(n, np.int64), np.zeros(n, np.bool_)
    if use_bank.any():
        ticks = [unit_parts(e[1].tick_size) for e in arrays.entries] + [(0, 0)]
        tick = np.array([c for c, _ in ticks], np.int64)[arrays.instrument]
        dt = np.array([d for _, d in ticks], np.int64)[arrays.instrument]
        side = np.nan_to_num(arrays.side).astype(np.int64)
        isolated_bankruptcy_ticks(use_bank, inverse, side, entry, dp, lev, dl, tick, dt, arrays.price_mode, bank,
                                  bank_ok)  # fmt: skip
    wallet, dw, wallet_ok = scaled_ints(column("wallet_balance"), n)
    cells = Cells(size, ds, mark, mm_price, entry, dp, lev, dl, forms.contract[arrays.instrument], forms.dc, wallet,
                  dw, wallet_ok, tier, forms.tiers[2], forms.tiers[3], plain & entry_ok & mark_ok & size_ok,
                  size_ok & entry_ok & mark_ok & np.isin(arrays.side, (-1.0, 1.0)), lev_ok)  # fmt: skip
    return ExactMargins(im, mm, im_ok, mm_ok, bank, bank_ok, cells)


__all__ = ["MAX_DIGITS", "Cells", "ExactMargins", "exact_margins", "mm_form", "scaled_ints"]

"""Exact IM and MM of a book's rows from their decimal text, in integers: what a float cannot settle.

A float IM or MM of decimal inputs is mostly a whole number of the smallest unit (``0.034 × 61856.5 / 5`` is
``420.6242``), which no float band can tell from a value a hair above it; the reference would re-price nearly
every account for it. Here the cells are read as scaled integers (:func:`scaled_ints`: the text's own digits,
no float) and :func:`margincall.math.book_exact.im_mm_linear` decides IM and MM exactly for the rows of a linear
instrument whose rule's requirement is the generic tiered one (``GenericRule.requirement`` with its fee rate and
no constant part: Binance, OKX, Hyperliquid, dYdX, generic). Any other row, or a cell with more digits than
int64 can carry, is left to the float band and the reference.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import numpy.typing as npt
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]

from margincall.calculator.book import Chunk
from margincall.calculator.book_arrays import BookArrays
from margincall.math.batch_kernels import FORM_GENERIC
from margincall.math.book_exact import im_mm_linear
from margincall.model.enums import ContractKind, TierBasis, TierMode
from margincall.venues.profiles import get_venue
from margincall.venues.rules import Fees, GenericRule

I64 = npt.NDArray[np.int64]
#: Most digits after the point a cell may have for the integer path (more: the float band and the reference).
MAX_DIGITS = 8
_NUMBER = r"^[0-9]{1,15}(\.[0-9]*)?$"


def scaled_ints(column: pa.Array | None, n: int) -> tuple[I64, int, npt.NDArray[np.bool_]]:
    """A text column as integers at one scale ``10^-d`` (``d`` the most digits after the point among its
    numbers, trailing zeros aside, at most :data:`MAX_DIGITS`) and where a cell is such a number."""
    if column is None:
        return np.zeros(n, np.int64), 0, np.zeros(n, np.bool_)
    text = column if pa.types.is_string(column.type) else pc.cast(column, pa.string())
    text = pc.fill_null(pc.utf8_trim_whitespace(text), "")
    good = pc.match_substring_regex(text, _NUMBER)
    text = pc.if_else(good, text, "0")
    # trailing zeros after the point say nothing
    text = pc.replace_substring_regex(text, r"(\.[0-9]*?)0+$", r"\1")
    dot = pc.find_substring(text, ".").to_numpy()
    length = pc.utf8_length(text).to_numpy()
    digits = np.where(dot >= 0, length - dot - 1, 0)
    ok = good.to_numpy(zero_copy_only=False) & (digits <= MAX_DIGITS)
    d = int(digits[ok].max()) if ok.any() else 0
    whole = pc.replace_substring(text, ".", "")
    whole = pc.if_else(pc.equal(whole, ""), "0", whole)
    ints = pc.cast(whole, pa.int64()).to_numpy()
    # the value at 10^-d: 15 integer digits and 8 after the point stay below 10^23 — checked in float first
    shift = np.where(ok, d - digits, 0)
    big = ints.astype(np.float64) * 10.0**shift >= 2.0**62
    ok &= ~big
    return np.where(ok, ints * 10 ** np.where(ok, shift, 0), 0), d, ok


@dataclass(frozen=True)
class ExactMargins:
    """Per row: IM and MM in units of 1e-8 (rounded up) where ``ok``."""

    initial_margin: I64
    maintenance_margin: I64
    ok: npt.NDArray[np.bool_]


def _units(value: Decimal) -> int | None:
    """``value`` at 1e-8 as an int, or None if it has more digits or does not fit."""
    scaled = value.scaleb(8)
    if scaled != scaled.to_integral_value() or abs(scaled) >= 1 << 62:
        return None
    return int(scaled)


def _instrument_arrays(arrays: BookArrays) -> tuple[npt.NDArray[np.bool_], I64, int, list[I64], list[np.ndarray]]:
    """Per entry: whether the integer path applies, its contract size (at ``10^-dc``) and tier arrays."""
    use, contract, ptr = [], [], [0]
    floors: list[int] = []
    rates: list[int] = []
    amounts: list[int] = []
    by_contracts, inclusive = [], []
    dc = max([max(0, -int(e[1].contract_size.normalize().as_tuple().exponent)) for e in arrays.entries] + [0])
    for venue, instrument, table, formula, taker_fee in arrays.entries:
        rule = get_venue(venue).form(formula).rule
        rows = []
        fine = (instrument.kind is ContractKind.LINEAR and rule.batch_form() == FORM_GENERIC and dc <= MAX_DIGITS
                and type(rule).requirement is GenericRule.requirement
                and type(rule).constant_requirement is GenericRule.constant_requirement)  # fmt: skip
        fee = rule.fee_rate(Fees(taker_fee)) if fine else Decimal(0)
        for tier in table.tiers if fine else ():
            amount = tier.maintenance_amount if table.mode is TierMode.BRACKET else Decimal(0)
            row = (_units(tier.floor), _units(tier.mmr + fee), _units(amount))
            if any(v is None for v in row):
                fine = False
                break
            rows.append(row)
        use.append(fine)
        contract.append(int(instrument.contract_size.scaleb(dc)) if fine else 0)
        for f, r, a in rows:
            floors.append(f)  # type: ignore[arg-type]
            rates.append(r)  # type: ignore[arg-type]
            amounts.append(a)  # type: ignore[arg-type]
        ptr.append(len(floors))
        by_contracts.append(table.basis is TierBasis.CONTRACTS)
        inclusive.append(table.cap_inclusive)
    ints = [np.array(x, np.int64) for x in (ptr, floors, rates, amounts)]
    flags = [np.array(x, np.bool_) for x in (by_contracts, inclusive)]
    return np.array([*use, False], np.bool_), np.array([*contract, 0], np.int64), dc, ints, flags


def exact_margins(chunk: Chunk, arrays: BookArrays) -> ExactMargins:
    """IM and MM of every row the integer path can decide (see the module docstring)."""
    n = arrays.account.size
    batch = chunk.batch
    names = batch.schema.names

    def column(name: str) -> pa.Array | None:
        return batch.column(name) if name in names else None

    size, ds, size_ok = scaled_ints(column("size"), n)
    mark_col, entry_col = column("mark_price"), column("entry_price")
    if mark_col is not None and entry_col is not None:
        # calc: no mark → the entry price
        mark_text = pc.utf8_trim_whitespace(mark_col if pa.types.is_string(mark_col.type)
                                            else pc.cast(mark_col, pa.string()))  # fmt: skip
        empty = pc.fill_null(pc.equal(mark_text, ""), True)
        entry_text = entry_col if pa.types.is_string(entry_col.type) else pc.cast(entry_col, pa.string())
        mark_col = pc.if_else(empty, entry_text, mark_text)
    mark, dm, mark_ok = scaled_ints(mark_col if mark_col is not None else entry_col, n)
    lev, dl, lev_ok = scaled_ints(column("leverage"), n)
    inst_use, contract, dc, (ptr, floors, rates, amounts), (by_contracts, inclusive) = _instrument_arrays(arrays)
    use = size_ok & mark_ok & lev_ok & inst_use[arrays.instrument]
    im = np.zeros(n, np.int64)
    mm = np.zeros(n, np.int64)
    ok = np.zeros(n, np.bool_)
    if use.any():
        im_mm_linear(use, np.maximum(arrays.instrument, 0), size, ds, mark, dm, lev, dl, contract, dc, ptr,
                     floors, rates, amounts, by_contracts, inclusive, im, mm, ok)  # fmt: skip
    return ExactMargins(im, mm, ok)


__all__ = ["MAX_DIGITS", "ExactMargins", "exact_margins", "scaled_ints"]

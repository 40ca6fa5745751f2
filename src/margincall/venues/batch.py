"""The public batch API: a whole book's liquidation and bankruptcy prices, IM, MM and margin ratios, compiled.

:func:`evaluate_book` maps venue profiles and instruments to flat arrays and runs the numba loop of
:mod:`margincall.math.batch_book`, whose kernels are float64 twins of the Decimal formulas the calculator uses
(docs/venues.md §2–§8, §12.2), pinned to them by ``tests/venues/test_batch.py``. Each instrument's formula is
the integer code its venue rule carries (:meth:`~margincall.venues.rules.GenericRule.batch_form`), never its name.
Values are unrounded float64; a face rounds them (to the tick, to the asset's smallest unit) and confirms rows
near a rounding boundary with the exact path.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

import numba
import numpy as np
import numpy.typing as npt

from margincall.math.batch_book import ERRORS, evaluate_rows, evaluate_rows_parallel
from margincall.math.batch_kernels import RATIO_EQUITY_OVER_MM, RATIO_MM_OVER_EQUITY, KernelTiers
from margincall.math.vector import TierArrays
from margincall.model.enums import ContractKind, MarginMode
from margincall.model.errors import MarginCallError
from margincall.model.instrument import Instrument
from margincall.model.numbers import ZERO
from margincall.model.tiers import TierTable
from margincall.venues.profiles import RatioConvention, get_venue
from margincall.venues.rules import Fees

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
I8 = npt.NDArray[np.int8]
B = npt.NDArray[np.bool_]

#: From this many rows a book is cut into blocks of whole accounts evaluated in numba's threads (below it the
#: threads' start costs more than they save).
PARALLEL_ROWS = 1 << 16
#: Blocks per thread.
BLOCKS = 8

_RATIO = {RatioConvention.MM_OVER_EQUITY: RATIO_MM_OVER_EQUITY, RatioConvention.EQUITY_OVER_MM: RATIO_EQUITY_OVER_MM}


@dataclass(frozen=True, slots=True)
class BatchInstrument:
    """One instrument of a book: its venue profile (and formula form, default the venue's current one), the
    instrument, its tier table (default the venue's built-in table for the symbol) and the taker fee a fee form
    uses (Bybit UTA §4.2–4.3, OKX §5, Bitunix §6; zero: no fee term)."""

    venue: str
    instrument: Instrument
    tiers: TierTable | None = None
    formula: str | None = None
    taker_fee: Decimal = ZERO


@dataclass(frozen=True)
class BatchInstruments:
    """The instruments a book's rows point into (by index), as the kernels' arrays."""

    entries: tuple[BatchInstrument, ...]
    tiers: TierArrays = field(repr=False)
    arrays: tuple[npt.NDArray[np.generic], ...] = field(repr=False)

    @classmethod
    def of(cls, entries: Sequence[BatchInstrument]) -> BatchInstruments:
        """Resolve each entry's profile, form and table; a taker fee no form of the venue uses is refused."""
        if not entries:
            raise MarginCallError("a book needs at least one instrument", field="instruments")
        tables: list[TierTable] = []
        table_ix: dict[int, int] = {}
        venues: dict[tuple[str, str, Decimal], int] = {}
        settles: dict[str, int] = {}
        cols: list[list[float | int | bool]] = [[] for _ in range(9)]
        for i, e in enumerate(entries):
            where = f"instruments[{i}]"
            try:
                profile = get_venue(e.venue)
                form = profile.form(e.formula)
                table = e.tiers if e.tiers is not None else profile.tier_table(e.instrument.symbol)
            except MarginCallError as exc:
                raise type(exc)(f"{where}: {exc}", code=exc.code, field=f"{where}.{exc.field or 'venue'}") from None
            rule = form.rule
            kind = e.instrument.kind
            if e.taker_fee != 0 and not any(rule.has_fee_term(kind, m) for m in MarginMode):
                raise MarginCallError(
                    f"{where}: taker_fee is not used by {profile.name} formula {form.name} for a {kind.value} position",
                    field=f"{where}.taker_fee",
                )
            tix = table_ix.setdefault(id(table), len(tables))
            if tix == len(tables):
                tables.append(table)
            values = (
                kind is ContractKind.INVERSE,
                float(e.instrument.contract_size),
                tix,
                rule.batch_form(),
                float(rule.fee_rate(Fees(e.taker_fee))),
                float(e.taker_fee),
                _RATIO[profile.ratio_convention],
                venues.setdefault((profile.name, form.name, e.taker_fee), len(venues)),
                settles.setdefault(e.instrument.settle_asset, len(settles)),
            )
            for col, v in zip(cols, values, strict=True):
                col.append(v)
        dtypes = (np.bool_, np.float64, np.int64, np.int64, np.float64, np.float64, np.int64, np.int64, np.int64)
        arrays: tuple[npt.NDArray[np.generic], ...] = tuple(
            np.array(c, dtype=d) for c, d in zip(cols, dtypes, strict=True)
        )
        return cls(tuple(entries), TierArrays.from_tables(tables, any_shape=True), arrays)

    def kernel_tiers(self) -> KernelTiers:
        return self.tiers.kernel()


@dataclass(frozen=True)
class BookResult:
    """Per row, float64 and unrounded; NaN where the Decimal path gives none (no liquidation price, a margin
    ratio with no requirement) or the row is refused. ``error``: 0, or a code whose field and reason
    :meth:`error_text` gives."""

    liquidation_price: F64
    bankruptcy_price: F64
    initial_margin: F64
    maintenance_margin: F64
    margin_ratio: F64
    error: I8

    @staticmethod
    def error_text(code: int) -> tuple[str, str]:
        """``(field, reason)`` of an error code."""
        return ERRORS[code]


def _f64(name: str, values: npt.ArrayLike, n: int) -> F64:
    out = np.ascontiguousarray(values, dtype=np.float64)
    if out.shape != (n,):
        raise MarginCallError(f"{name}: {out.shape[0] if out.ndim else 0} values for {n} rows", field=name)
    return out


def evaluate_book(
    instruments: BatchInstruments,
    account: npt.ArrayLike,
    instrument: npt.ArrayLike,
    side: npt.ArrayLike,
    size: npt.ArrayLike,
    entry_price: npt.ArrayLike,
    mark_price: npt.ArrayLike,
    cross: npt.ArrayLike,
    leverage: npt.ArrayLike,
    isolated_margin: npt.ArrayLike,
    extra_margin: npt.ArrayLike,
    wallet_balance: npt.ArrayLike,
    *,
    strict: bool = False,
) -> BookResult:
    """Every row's ``liquidation_price, bankruptcy_price, initial_margin, maintenance_margin, margin_ratio``.

    One row per position, numpy arrays of equal length: ``account`` (int64, the rows of one account contiguous:
    a cross account is one scenario), ``instrument`` (int64 index into ``instruments``), ``side`` (+1 long, −1
    short), ``size`` (contracts), ``entry_price``, ``mark_price``, ``cross`` (bool: cross, else isolated),
    ``leverage``, ``isolated_margin`` (the whole margin; NaN: IM at entry plus ``extra_margin``),
    ``extra_margin`` (NaN or 0: none), ``wallet_balance`` (the cross wallet, repeated on an account's rows; NaN:
    empty, 0 if no row gives it). The numbers are those of the calculator for that account's scenario
    (:func:`margincall.calculator.evaluate`), unrounded. A refused row (the field and reason in
    :meth:`BookResult.error_text`) gets NaN, or with ``strict`` raises :class:`MarginCallError` at the first.
    """
    acc = np.ascontiguousarray(account, dtype=np.int64)
    n = acc.shape[0]
    inst = np.ascontiguousarray(instrument, dtype=np.int64)
    if inst.shape != (n,):
        raise MarginCallError(f"instrument: {inst.shape[0] if inst.ndim else 0} values for {n} rows",
                              field="instrument")
    crs = np.ascontiguousarray(cross, dtype=np.bool_)
    if crs.shape != (n,):
        raise MarginCallError(f"cross: {crs.shape[0] if crs.ndim else 0} values for {n} rows", field="cross")
    cols = [_f64(name, v, n) for name, v in (("side", side), ("size", size), ("entry_price", entry_price),
                                               ("mark_price", mark_price), ("leverage", leverage),
                                               ("isolated_margin", isolated_margin), ("extra_margin", extra_margin),
                                               ("wallet_balance", wallet_balance))]
    liq, bank, im, mm, ratio = (np.empty(n) for _ in range(5))
    err = np.zeros(n, dtype=np.int8)
    sgn, sz, ep, mp, lev, iso, extra, wb = cols
    threads = numba.get_num_threads()
    if n >= PARALLEL_ROWS and threads > 1:
        # Blocks handed out one at a time: a thread slowed by another process on its core takes fewer.
        chunk = numba.set_parallel_chunksize(1)
        try:
            evaluate_rows_parallel(acc, inst, sgn, sz, ep, mp, crs, lev, iso, extra, wb, instruments.arrays,
                                   instruments.kernel_tiers(), liq, bank, im, mm, ratio, err, BLOCKS * threads)
        finally:
            numba.set_parallel_chunksize(chunk)
    else:
        evaluate_rows(acc, inst, sgn, sz, ep, mp, crs, lev, iso, extra, wb, instruments.arrays,
                      instruments.kernel_tiers(), liq, bank, im, mm, ratio, err)
    if strict:
        bad = np.flatnonzero(err)
        if bad.size:
            row = int(bad[0])
            name, reason = ERRORS[err[row]]
            raise MarginCallError(f"row {row}: {name}: {reason}", field=f"rows[{row}].{name}")
    return BookResult(liq, bank, im, mm, ratio, err)


__all__ = ["BatchInstrument", "BatchInstruments", "BookResult", "evaluate_book"]

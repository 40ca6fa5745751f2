"""The compiled evaluator of whole books: the numba twins of the venue forms, rounded and confirmed exactly.

:class:`CompiledEvaluator` is a :class:`~margincall.calculator.book.ChunkEvaluator` whose output is the
reference's (:class:`~margincall.calculator.book.DecimalEvaluator`) row for row:

1. :func:`~margincall.calculator.book_arrays.chunk_arrays` turns the chunk into per-row arrays and marks the
   accounts only the reference can price (a cell that is not a number, an unknown instrument, a hedge leg …);
2. :func:`margincall.venues.batch.evaluate_book` prices the rows in float64 (twins of the Decimal formulas,
   pinned by ``tests/venues/test_batch.py``); a row it refuses sends its account to the reference, which gives
   the error;
3. :func:`~margincall.calculator.book_arrays.round_units` rounds each value as the book does (module docstring of
   :mod:`margincall.calculator.book`): prices at the tick as the venue rounds, IM and MM up to 1e-8, the ratio
   to 1e-8 toward more risk, the distance toward zero to 1e-4 % — and flags values near a rounding boundary;
4. IM, MM and an isolated bankruptcy price that :func:`~margincall.calculator.book_exact.exact_margins` can
   decide in integers (from the cells' decimal text) are taken from there, never flagged, and so is a margin
   ratio near its boundary that :func:`~margincall.calculator.book_ratio.exact_ratios` can form exactly;
5. every account with a flagged value is re-priced by the reference (:meth:`DecimalEvaluator.account`).

The distance is formed from the unrounded liquidation price as ``distance_to_liquidation_pct`` forms it in
``evaluate`` (``(mark − liq) × sign / mark × 100``); its float twin is pinned by the same cell-by-cell test, and a
value near its boundary — the band scaled by the prices, not by their difference — is confirmed exactly.
"""

from __future__ import annotations

import threading
from decimal import Decimal

import numpy as np
import numpy.typing as npt
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]

from margincall.calculator.book import (
    RESULT_COLUMNS,
    BookInstruments,
    Chunk,
    DecimalEvaluator,
    PricedRows,
    priced_rows,
)
from margincall.calculator.book_arrays import (
    BOUNDARY,
    CEIL,
    TOWARD_ZERO,
    BookArrays,
    chunk_arrays,
    round_units,
    scaled_texts,
    unit_parts,
    unit_texts,
)
from margincall.calculator.book_exact import exact_margins
from margincall.calculator.book_isolated import exact_isolated, exact_isolated_liquidation
from margincall.calculator.book_ratio import exact_cross_bankruptcy, exact_ratios
from margincall.ledger.state import DEFAULT_UNIT
from margincall.math.sizing import distance_to_liquidation_pct
from margincall.model.errors import MarginCallError
from margincall.venues.batch import BatchInstrument, BatchInstruments, BookResult, evaluate_book

F64 = npt.NDArray[np.float64]
_MONEY = float(DEFAULT_UNIT)
_RATIO_UNIT = Decimal("1e-8")
_DISTANCE_UNIT = Decimal("1e-4")
#: Chunks are priced on two threads (:mod:`margincall.calculator.book_pipeline`); numba's default threading
#: layer (workqueue) runs one parallel kernel at a time, so the kernels' call is taken in turn.
_KERNELS = threading.Lock()


def _batch_instruments(arrays: BookArrays) -> tuple[BatchInstruments | None, npt.NDArray[np.bool_]]:
    """The entries as the kernels' instruments, and per entry whether the batch path refuses it (a taker fee no
    form of the venue uses: the reference gives that error)."""
    entries = [BatchInstrument(*e) for e in arrays.entries]
    refused = np.zeros(len(entries), np.bool_)
    if not entries:
        return None, refused
    try:
        return BatchInstruments.of(entries), refused
    except MarginCallError:
        pass
    for i, e in enumerate(entries):
        try:
            BatchInstruments.of([e])
        except MarginCallError:
            refused[i] = True
    kept = [e for e, r in zip(entries, refused, strict=True) if not r]
    return (BatchInstruments.of(kept) if kept else None), refused


def _evaluate(arrays: BookArrays) -> tuple[BookResult | None, npt.NDArray[np.bool_]]:
    """The kernels' values and, per row, whether the row must go to the reference."""
    n = arrays.account.size
    batch, refused = _batch_instruments(arrays)
    instrument = arrays.instrument
    to_reference = instrument < 0
    if refused.any():
        # Renumber the kept entries; a row of a refused one goes to the reference.
        new_index = np.cumsum(~refused) - 1
        bad_row = np.zeros(n, np.bool_)
        ok = instrument >= 0
        bad_row[ok] = refused[instrument[ok]]
        to_reference = to_reference | bad_row
        instrument = np.where(to_reference, 0, new_index[np.maximum(instrument, 0)])
    if batch is None:
        return None, np.ones(n, np.bool_)
    instrument = np.where(to_reference, 0, instrument)
    # An account the reference prices is kept out of the kernels (its rows stand for nothing there).
    account = np.where(np.repeat(arrays.exact, np.diff(np.append(arrays.starts, n))) | to_reference, -1,
                       arrays.account)  # fmt: skip
    mark = np.where(np.isnan(arrays.mark_price), arrays.entry_price, arrays.mark_price)  # calc: no mark → entry
    with _KERNELS:
        res = evaluate_book(batch, account, instrument, arrays.side, arrays.size, arrays.entry_price, mark,
                            arrays.cross, arrays.leverage, arrays.isolated_margin, arrays.extra_margin,
                            arrays.wallet_balance)  # fmt: skip
    return res, to_reference | (res.error != 0)


class CompiledEvaluator:
    """Prices a chunk with the compiled twins, confirming exactly every account the floats cannot settle (see
    the module docstring). Its rows are the reference's; ``redone`` and ``rows`` count the accounts re-priced
    by the reference and the accounts seen, for the benchmark's report."""

    def __init__(self, instruments: BookInstruments) -> None:
        self.instruments = instruments
        self.reference = DecimalEvaluator(instruments)
        self.accounts = 0
        self.redone = 0
        self.exact_rows = 0
        self.exact_ratios = 0
        self._counts = threading.Lock()  # two threads may price chunks at once

    def __call__(self, chunk: Chunk, *, strict: bool) -> PricedRows:
        arrays = chunk_arrays(chunk, self.instruments)
        n = arrays.account.size
        res, row_redo = _evaluate(arrays)
        redo = arrays.exact.copy()
        if n:
            redo |= np.logical_or.reduceat(row_redo, arrays.starts)
        columns: dict[str, pa.Array] = {name: pa.nulls(n, pa.string()) for name in RESULT_COLUMNS}
        if res is not None and n:
            redo |= self._round(chunk, arrays, res, columns)
        with self._counts:
            self.accounts += int(arrays.starts.size)
            self.redone += int(redo.sum())
        which = np.flatnonzero(redo)
        outcomes = [self.reference.account(chunk.account(int(k))) for k in which]
        exact = priced_rows(outcomes, strict=strict)
        if which.size:
            lengths = np.diff(np.append(arrays.starts, n))
            row_mask = pa.array(np.repeat(redo, lengths))
            for name in RESULT_COLUMNS:
                columns[name] = pc.replace_with_mask(columns[name], row_mask, exact.columns[name])
        return PricedRows(columns, exact.errors)

    def _round(self, chunk: Chunk, arrays: BookArrays, res: BookResult, columns: dict[str, pa.Array]) -> np.ndarray:
        """Fill ``columns`` with the rounded values; per account, whether a value lies near its boundary."""
        liq_k, near_liq = round_units(res.liquidation_price, arrays.tick, arrays.price_mode)
        bank_k, near_bank = round_units(res.bankruptcy_price, arrays.tick, arrays.price_mode)
        im_k, near_im = round_units(res.initial_margin, _MONEY, CEIL)
        mm_k, near_mm = round_units(res.maintenance_margin, _MONEY, CEIL)
        # IM and MM decided in integers where the rows allow it: no band, no reference
        exact = exact_margins(chunk, arrays)
        with self._counts:
            self.exact_rows += int((exact.im_ok & exact.mm_ok).sum())
        im_k = np.where(exact.im_ok, exact.initial_margin, im_k)
        mm_k = np.where(exact.mm_ok, exact.maintenance_margin, mm_k)
        near_im &= ~exact.im_ok
        near_mm &= ~exact.mm_ok
        bank_k = np.where(exact.bank_ok, exact.bankruptcy, bank_k)
        near_bank &= ~exact.bank_ok
        ratio_k, near_ratio = round_units(res.margin_ratio, float(_RATIO_UNIT), arrays.ratio_mode)
        mark = np.where(np.isnan(arrays.mark_price), arrays.entry_price, arrays.mark_price)
        liq = res.liquidation_price
        with np.errstate(invalid="ignore"):
            distance = distance_to_liquidation_pct(mark, liq, arrays.side)
            dist_k, near_dist = round_units(distance, float(_DISTANCE_UNIT), TOWARD_ZERO)
            # The difference of two prices loses their relative precision: the band scales with the terms.
            q = distance / float(_DISTANCE_UNIT)
            terms = 100 * (np.abs(mark) + np.abs(liq)) / np.abs(mark) / float(_DISTANCE_UNIT)
            near_dist |= np.abs(q - np.round(q)) <= BOUNDARY * terms
        # A bankruptcy price or a ratio near its boundary, in an account nothing else sends to the reference:
        # formed exactly here (cross prices in integers, isolated rows with the reference's own functions).
        others = np.logical_or.reduceat(near_im | near_mm, arrays.starts)
        free = ~others[arrays.account]
        # an isolated liquidation price (and its distance) by the venue rule's own function
        iso_liq, iso_dist, iso_liq_ok = exact_isolated_liquidation(arrays, exact, (near_liq | near_dist) & free)
        liq_k = np.where(iso_liq_ok, iso_liq, liq_k)
        dist_k = np.where(iso_liq_ok, iso_dist, dist_k)
        near_liq &= ~iso_liq_ok
        near_dist &= ~iso_liq_ok
        others |= np.logical_or.reduceat(near_liq | near_dist, arrays.starts)
        free = ~others[arrays.account]
        bank_x, bank_ok = exact_cross_bankruptcy(arrays, exact, near_bank & free)
        bank_k = np.where(bank_ok, bank_x, bank_k)
        near_bank &= ~bank_ok
        iso_bank, iso_bank_ok, iso_ratio, iso_ratio_ok = exact_isolated(arrays, exact, near_bank & free,
                                                                        near_ratio & free)  # fmt: skip
        bank_k = np.where(iso_bank_ok, iso_bank, bank_k)
        near_bank &= ~iso_bank_ok
        ratio_k = np.where(iso_ratio_ok, iso_ratio, ratio_k)
        near_ratio &= ~iso_ratio_ok
        others |= np.logical_or.reduceat(near_bank, arrays.starts)
        ratio_x, ratio_ok = exact_ratios(arrays, exact, near_ratio & ~others[arrays.account])
        ratio_k = np.where(ratio_ok, ratio_x, ratio_k)
        near_ratio &= ~ratio_ok
        with self._counts:
            self.exact_ratios += int(ratio_ok.sum() + iso_ratio_ok.sum())
        near = near_liq | near_bank | near_im | near_mm | near_ratio | near_dist
        for name, k in (("initial_margin", im_k), ("maintenance_margin", mm_k)):
            columns[name] = unit_texts(k, DEFAULT_UNIT)
        columns["margin_ratio"] = unit_texts(ratio_k, _RATIO_UNIT)
        columns["distance_to_liquidation"] = unit_texts(dist_k, _DISTANCE_UNIT)
        # Prices at one scale for the chunk: the finest tick's digits.
        parts = [unit_parts(e[1].tick_size) for e in arrays.entries] or [(1, 0)]
        scale = max(e for _, e in parts)
        factor = np.array([c * 10 ** (scale - e) for c, e in parts] + [0], np.int64)[arrays.instrument]
        for name, k in (("liquidation_price", liq_k), ("bankruptcy_price", bank_k)):
            valid = ~np.isnan(k)
            columns[name] = scaled_texts(np.where(valid, k, 0).astype(np.int64) * factor, scale, valid)
        return np.logical_or.reduceat(near, arrays.starts)


__all__ = ["CompiledEvaluator"]

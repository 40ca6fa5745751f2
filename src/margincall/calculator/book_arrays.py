"""A book's chunk as per-row arrays for a compiled evaluator, and the rounding that keeps its output exact.

:func:`chunk_arrays` turns a :class:`~margincall.calculator.book.Chunk` into the arrays of
``margincall.venues.batch.evaluate_book``: the account index (int64, an account's rows contiguous), the
instrument index into :attr:`BookArrays.entries` — ``(venue, Instrument, TierTable, formula, taker_fee)``, each
resolved once by the calculator's own instrument reader (:func:`~margincall.calculator.evaluate.instrument_tiers`)
— the side sign (±1.0), the cross flag, and ``size, entry_price, mark_price, leverage, isolated_margin,
extra_margin, wallet_balance`` as float64 (NaN: empty). An account the arrays cannot carry exactly (a cell that is
not a number, an unknown side, mode or instrument, rows disagreeing on the wallet, a hedge leg) is marked in
:attr:`BookArrays.exact`: the reference prices it, and gives its error.

:func:`round_units` rounds float values to their unit (tick, smallest unit) in a given direction and flags every
value within a relative :data:`BOUNDARY` (4e-12) of a rounding boundary, where the float's own error (≤ 1e-12
relative, pinned by the compiled path's differential test ``tests/venues/test_batch.py``) could put it on the wrong
side: those values are decided exactly (:mod:`margincall.calculator.book_exact`) or their accounts re-priced by
the reference. A value a float cannot settle is mostly one that *is* a whole number of units — IM and MM of
decimal inputs, a bankruptcy price at a whole tick — which no band can tell from one a hair above it.

To plug in the compiled path (docs/architecture.md, "Whole books")::

    arrays = chunk_arrays(chunk, instruments)
    res = evaluate_book(BatchInstruments.of([BatchInstrument(*e) for e in arrays.entries]), arrays.account,
                        arrays.instrument, arrays.side, arrays.size, ...)
    k, near = round_units(res.liquidation_price, arrays.tick, arrays.price_mode)   # and the other columns
    redo = arrays.exact | np.bitwise_or.reduceat(near, arrays.starts)            # accounts to re-price
    # rows of the other accounts: k × unit as text; re-priced accounts: DecimalEvaluator.account(chunk.account(i))
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

import numpy as np
import numpy.typing as npt
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]

from margincall.calculator.book import RATIO_ROUNDING, BookInstruments, Chunk
from margincall.calculator.book_parse import decimal_texts, parse_decimals
from margincall.calculator.evaluate import instrument_of, instrument_tiers
from margincall.model.enums import PriceRounding
from margincall.model.errors import MarginCallError
from margincall.model.instrument import Instrument
from margincall.model.tiers import TierTable
from margincall.venues.profiles import get_venue

F64 = npt.NDArray[np.float64]

#: Rounding modes of :func:`round_units`.
CEIL, FLOOR, HALF_UP, TOWARD_ZERO = 0, 1, 2, 3
RATIO_MODE = {ROUND_CEILING: CEIL, ROUND_FLOOR: FLOOR}
_SEP = "\x1f"
_FLOAT = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$"
#: A float within this relative distance of a rounding boundary is confirmed exactly.
BOUNDARY = 4e-12

Entry = tuple[str, Instrument, TierTable, str | None, Decimal]


@dataclass(frozen=True)
class BookArrays:
    entries: tuple[Entry, ...]
    starts: npt.NDArray[np.int64]  # the chunk's account starts
    account: npt.NDArray[np.int64]
    instrument: npt.NDArray[np.int64]  # -1: none (the account is in ``exact``)
    side: F64
    size: F64
    entry_price: F64
    mark_price: F64
    cross: npt.NDArray[np.bool_]
    leverage: F64
    isolated_margin: F64
    extra_margin: F64
    wallet_balance: F64
    #: per row, the instrument's tick and how the venue rounds a long's / a short's trigger price there
    tick: F64
    price_mode: npt.NDArray[np.int8]
    #: per row, which way the margin ratio rounds (toward more risk in the venue's convention)
    ratio_mode: npt.NDArray[np.int8]
    #: per account: the reference must price it
    exact: npt.NDArray[np.bool_]


def _arrow_text(batch: pa.RecordBatch, name: str) -> pa.Array:
    """The column as trimmed text, empty for a missing cell or column."""
    if name not in batch.schema.names:
        return pa.array(np.full(batch.num_rows, "", dtype=object), pa.string())
    col = batch.column(name)
    if not pa.types.is_string(col.type):
        col = pc.cast(col, pa.string())
    return pc.fill_null(pc.utf8_trim_whitespace(col), "")


def _is(text: pa.Array, value: str) -> npt.NDArray[np.bool_]:
    return np.asarray(pc.equal(text, value).to_numpy(zero_copy_only=False), np.bool_)


def _number(batch: pa.RecordBatch, name: str) -> tuple[F64, npt.NDArray[np.bool_]]:
    """The column as float64 (NaN: empty) and where a cell is given but is not a finite number."""
    if name not in batch.schema.names:
        return np.full(batch.num_rows, np.nan), np.zeros(batch.num_rows, np.bool_)
    col = batch.column(name)
    if pa.types.is_floating(col.type) or pa.types.is_integer(col.type):
        values = pc.cast(col, pa.float64()).to_numpy(zero_copy_only=False)
        return values, ~np.isfinite(values) & ~np.asarray(col.is_null().to_numpy(zero_copy_only=False))
    # A plain decimal cell is its mantissa over a power of ten: one correctly rounded division when both are exact
    # floats. Any other cell (signed, exponent form, long) is parsed by pyarrow; one that is not a number is bad:
    # its account goes to the reference, which reads it itself and gives its error or its value.
    mantissa, digits, ok, empty = parse_decimals(col)
    ok &= (mantissa < 2**53) & (digits <= 22)
    values = np.where(ok, mantissa / 10.0 ** np.where(ok, digits, 0), np.nan)
    other = np.flatnonzero(~ok & ~empty)
    if other.size:
        text = pc.utf8_trim_whitespace(pc.take(col if pa.types.is_string(col.type) else pc.cast(col, pa.string()),
                                               pa.array(other)))  # fmt: skip
        good = pc.match_substring_regex(text, _FLOAT)
        parsed = pc.cast(pc.if_else(good, text, "nan"), pa.float64()).to_numpy(zero_copy_only=False)
        values[other] = np.where(good.to_numpy(zero_copy_only=False), parsed, np.nan)
    return values, ~empty & ~np.isfinite(values)


def chunk_arrays(chunk: Chunk, instruments: BookInstruments) -> BookArrays:
    """The chunk as the compiled path's arrays (see the module docstring)."""
    batch, n = chunk.batch, chunk.batch.num_rows
    starts = chunk.starts.astype(np.int64)
    lengths = np.diff(np.append(starts, n))
    account = np.repeat(np.arange(len(starts), dtype=np.int64), lengths)
    bad = np.zeros(n, np.bool_)
    nums = {}
    for name in ("size", "entry_price", "mark_price", "leverage", "isolated_margin", "extra_margin",
                 "wallet_balance", "taker_fee"):  # fmt: skip
        nums[name], wrong = _number(batch, name)
        bad |= wrong
    side_text, mode = _arrow_text(batch, "side"), _arrow_text(batch, "margin_mode")
    side = np.where(_is(side_text, "long"), 1.0, np.where(_is(side_text, "short"), -1.0, np.nan))
    isolated = _is(mode, "isolated")
    cross = _is(mode, "cross") | _is(mode, "")
    bad |= np.isnan(side) | ~(cross | isolated) | _is(_arrow_text(batch, "account"), "")
    position_side = _arrow_text(batch, "position_side")
    bad |= ~(_is(position_side, "") | _is(position_side, "both"))
    venue, symbol, formula = _arrow_text(batch, "venue"), _arrow_text(batch, "symbol"), _arrow_text(batch, "formula")
    venue = pc.if_else(pc.equal(venue, ""), "generic", venue)
    fee_text = _arrow_text(batch, "taker_fee")
    # one code per (venue, symbol, formula, taker fee), in order of first appearance
    keys = pc.binary_join_element_wise(venue, symbol, formula, fee_text, _SEP).dictionary_encode()
    codes = keys.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    uniques = [tuple(k.split(_SEP)) for k in keys.dictionary.to_pylist()]
    entries: list[Entry] = []
    index_of: dict[int, int] = {}
    for u, (v, s, f, fee) in enumerate(uniques):
        try:
            profile = get_venue(v)
            spec = instruments.for_symbols(v, {s}).get(s)
            entry = (v, instrument_of(profile, s, spec), instrument_tiers(profile, s, spec), f or None,
                     Decimal(fee) if fee else Decimal(0))  # fmt: skip
        except (MarginCallError, ArithmeticError):
            continue
        index_of[u] = len(entries)
        entries.append(entry)
    lookup = np.array([index_of.get(u, -1) for u in range(len(uniques))], dtype=np.int64)
    instrument = lookup[codes] if n else np.zeros(0, np.int64)
    bad |= instrument < 0
    # The account's repeated fields must agree (empty cells aside) for the arrays to carry them.
    wallet = nums["wallet_balance"]
    given = ~np.isnan(wallet)
    wmax = np.fmax.reduceat(np.where(given, wallet, -np.inf), starts) if n else np.zeros(0)
    wmin = np.fmin.reduceat(np.where(given, wallet, np.inf), starts) if n else np.zeros(0)
    disagree = np.isfinite(wmax) & (wmax != wmin)
    fields_differ = np.zeros(len(starts), np.bool_)  # formula, taker_fee: one per account
    if n:
        fields = (
            pc.binary_join_element_wise(formula, fee_text, _SEP)
            .dictionary_encode()
            .indices.to_numpy(zero_copy_only=False)
        )
        fields_differ = np.maximum.reduceat(fields, starts) != np.minimum.reduceat(fields, starts)
    exact = (np.logical_or.reduceat(bad, starts) if n else np.zeros(0, np.bool_)) | disagree | fields_differ
    wallet_acct = np.where(np.isfinite(wmax), wmax, np.nan)
    ticks = np.array([float(e[1].tick_size) for e in entries] + [np.nan])
    modes = np.array([get_venue(e[0]).price_rounding is PriceRounding.NEAREST for e in entries] + [False])
    ratio = np.array([RATIO_MODE[RATIO_ROUNDING[get_venue(e[0]).ratio_convention]] for e in entries] + [CEIL])
    return BookArrays(
        entries=tuple(entries), starts=starts, account=account, instrument=instrument, side=side,
        size=nums["size"], entry_price=nums["entry_price"], mark_price=nums["mark_price"], cross=cross,
        leverage=nums["leverage"], isolated_margin=nums["isolated_margin"], extra_margin=nums["extra_margin"],
        wallet_balance=wallet_acct[account] if n else wallet, tick=ticks[instrument],
        price_mode=np.where(modes[instrument], HALF_UP, np.where(side > 0, CEIL, FLOOR)).astype(np.int8),
        ratio_mode=ratio[instrument].astype(np.int8), exact=exact,
    )  # fmt: skip


def round_units(values: F64, unit: F64 | float, mode: npt.NDArray[np.int8] | int) -> tuple[F64, npt.NDArray[np.bool_]]:
    """``values`` as whole numbers of ``unit`` (float64 integers) rounded by ``mode`` (:data:`CEIL`,
    :data:`FLOOR`, :data:`HALF_UP`, :data:`TOWARD_ZERO`), and where a value lies within :data:`BOUNDARY`
    (relative) of a rounding boundary — an integer, or a half for ``HALF_UP`` — so that a float's error could
    round it the wrong way. NaN stays NaN (none) and is never near."""
    q = np.asarray(values, np.float64) / unit
    mode = np.broadcast_to(np.asarray(mode, np.int8), q.shape)
    half = mode == HALF_UP
    k = np.select([mode == CEIL, mode == FLOOR, half], [np.ceil(q), np.floor(q), np.floor(q + 0.5)], np.trunc(q))
    boundary = np.where(half, np.floor(q) + 0.5, np.round(q))
    with np.errstate(invalid="ignore"):
        near = np.abs(q - boundary) <= BOUNDARY * np.maximum(np.abs(q), 1.0)
    return k, near & ~np.isnan(q)


def scaled_texts(values: npt.NDArray[np.int64], scale: int, valid: npt.NDArray[np.bool_] | None = None) -> pa.Array:
    """Integers at ``10^-scale`` as exact decimal text without trailing zeros (``Decimal.normalize`` written
    with ``"f"``; zero is ``0``), written by a compiled kernel: no Python object per value. ``valid``: False →
    null."""
    return decimal_texts(np.asarray(values, np.int64), scale, valid)


def unit_parts(unit: Decimal) -> tuple[int, int]:
    """``unit`` as ``(c, e)`` with ``unit = c × 10^-e``, ``c`` a whole number."""
    e = max(0, -int(unit.normalize().as_tuple().exponent))
    return int(unit.scaleb(e)), e


def unit_texts(k: F64, unit: Decimal) -> pa.Array:
    """Whole numbers of ``unit`` (float64 integers; NaN → null) as exact decimal text."""
    c, e = unit_parts(unit)
    valid = ~np.isnan(k)
    return scaled_texts(np.where(valid, k, 0).astype(np.int64) * c, e, valid)


def exact_text(k: F64, unit: Decimal) -> list[str | None]:
    """Whole numbers of ``unit`` as exact decimal text (``None`` for NaN)."""
    return list(unit_texts(np.asarray(k, np.float64), unit).to_pylist())


def accounts_to_redo(arrays: BookArrays, near: Mapping[str, npt.NDArray[np.bool_]]) -> npt.NDArray[np.bool_]:
    """Per account: the reference must price it (the arrays could not carry it, or a value is near a boundary)."""
    redo = arrays.exact.copy()
    if arrays.account.size:
        for flags in near.values():
            redo |= np.logical_or.reduceat(flags, arrays.starts)
    return redo


__all__ = ["BOUNDARY", "CEIL", "FLOOR", "HALF_UP", "TOWARD_ZERO", "BookArrays", "accounts_to_redo", "chunk_arrays",
           "exact_text", "round_units", "scaled_texts", "unit_parts", "unit_texts"]  # fmt: skip

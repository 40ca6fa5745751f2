"""Decimal text in and out of a book's columns, compiled: no Python object and no regular expression per cell.

:func:`parse_decimals` reads a text column's cells as plain decimals — digits with at most one point, blanks
around, nothing else — into ``(mantissa, digits)``, the value being ``mantissa × 10^-digits`` with trailing zeros
after the point dropped; a cell that is empty, signed, in exponent form or of more than 18 significant digits is
not ``ok`` (the caller reads it another way, or sends its account to the reference). :func:`decimal_texts` writes
integers at a scale as the text ``format(Decimal.normalize(), "f")`` gives (no trailing zeros, ``0`` for zero).
Both work on the Arrow string layout (offsets and bytes) directly.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]
from numba import njit

I64 = npt.NDArray[np.int64]
B = npt.NDArray[np.bool_]
_MAX_MANTISSA_DIGITS = 18


@njit(cache=True, nogil=True)
def _parse(offsets: npt.NDArray[np.int64], data: npt.NDArray[np.uint8], valid: B, mantissa: I64, digits: I64,
           ok: B, empty: B) -> None:  # fmt: skip
    for i in range(len(mantissa)):
        mantissa[i] = 0
        digits[i] = 0
        ok[i] = False
        empty[i] = True
        if not valid[i]:
            continue
        a, b = offsets[i], offsets[i + 1]
        while a < b and (data[a] == 32 or data[a] == 9):
            a += 1
        while b > a and (data[b - 1] == 32 or data[b - 1] == 9):
            b -= 1
        if a == b:
            continue
        empty[i] = False
        m = 0
        n_digits = 0  # significant digits taken into m (leading zeros aside)
        frac = -1  # digits after the point, -1: no point yet
        zeros = 0  # trailing zeros after the point, not yet taken
        good = True
        for p in range(a, b):
            ch = data[p]
            if ch == 46:  # '.'
                if frac >= 0:
                    good = False
                    break
                frac = 0
                continue
            if ch < 48 or ch > 57:
                good = False
                break
            v = ch - 48
            if frac >= 0:
                if v == 0:
                    zeros += 1
                    continue
                for _ in range(zeros):
                    m *= 10
                    if m != 0:
                        n_digits += 1
                frac += zeros + 1
                zeros = 0
            m = m * 10 + v
            if m != 0:
                n_digits += 1
            if n_digits > _MAX_MANTISSA_DIGITS:
                good = False
                break
        if not good or (b - a == 1 and frac == 0):  # a lone '.'
            continue
        mantissa[i] = m
        digits[i] = max(frac, 0)
        ok[i] = True


def string_layout(column: pa.Array) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.uint8], B]:
    """A text column's offsets (int64, ``n + 1``), bytes and validity, without a copy of the bytes."""
    if not pa.types.is_string(column.type):
        column = pc.cast(column, pa.string())
    n = len(column)
    buffers = column.buffers()
    offsets = np.frombuffer(buffers[1], np.int32)[column.offset : column.offset + n + 1].astype(np.int64)
    data = np.frombuffer(buffers[2], np.uint8) if buffers[2] is not None else np.zeros(0, np.uint8)
    valid = np.ones(n, np.bool_) if column.null_count == 0 else column.is_valid().to_numpy(zero_copy_only=False)
    return offsets, data, valid


def parse_decimals(column: pa.Array) -> tuple[I64, I64, B, B]:
    """Per cell: ``(mantissa, digits, ok, empty)`` (see the module docstring; a null is empty)."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    n = len(column)
    offsets, data, valid = string_layout(column)
    mantissa, digits = np.empty(n, np.int64), np.empty(n, np.int64)
    ok, empty = np.empty(n, np.bool_), np.empty(n, np.bool_)
    _parse(offsets, data, valid, mantissa, digits, ok, empty)
    return mantissa, digits, ok, empty


@njit(cache=True, nogil=True)
def _write(values: I64, scale: int, valid: B, offsets: npt.NDArray[np.int32], data: npt.NDArray[np.uint8]) -> int:
    """Write each valid value's text into ``data`` (at most 22 bytes each); the bytes used."""
    pos = 0
    buf = np.empty(24, np.uint8)
    for i in range(len(values)):
        offsets[i] = pos
        if not valid[i]:
            continue
        v = values[i]
        if v < 0:
            data[pos] = 45  # '-'
            pos += 1
            v = -v
        # digits of v, least significant first
        k = 0
        while True:
            buf[k] = 48 + v % 10
            v //= 10
            k += 1
            if v == 0:
                break
        while k <= scale:  # at least one digit before the point
            buf[k] = 48
            k += 1
        # the fraction without trailing zeros
        t = 0
        while t < scale and buf[t] == 48:
            t += 1
        for j in range(k - 1, scale - 1, -1):
            data[pos] = buf[j]
            pos += 1
        if t < scale:
            data[pos] = 46  # '.'
            pos += 1
            for j in range(scale - 1, t - 1, -1):
                data[pos] = buf[j]
                pos += 1
    offsets[len(values)] = pos
    return pos


def decimal_texts(values: I64, scale: int, valid: B | None = None) -> pa.Array:
    """Integers at ``10^-scale`` (|value| < 2^63, ``scale`` ≤ 18) as exact decimal text; ``valid`` False → null."""
    v = np.ascontiguousarray(values, np.int64)
    n = v.size
    ok = np.ones(n, np.bool_) if valid is None else np.ascontiguousarray(valid, np.bool_)
    offsets = np.empty(n + 1, np.int32)
    data = np.empty(n * 22 + 1, np.uint8)
    used = _write(v, scale, ok, offsets, data)
    bitmap = None if ok.all() else pa.py_buffer(np.packbits(ok, bitorder="little"))
    return pa.Array.from_buffers(pa.string(), n, [bitmap, pa.py_buffer(offsets), pa.py_buffer(data[:used].copy())],
                                 null_count=int(n - ok.sum()))  # fmt: skip


__all__ = ["decimal_texts", "parse_decimals", "string_layout"]

"""The accounts of a book: runs of contiguous rows with the same ``account`` and ``venue``, and a check that no
account comes back after another one began (a book must be grouped by account; it may be streamed then).

Accounts already finished are remembered by a 64-bit hash of their key (FNV-1a of ``account`` and ``venue``
with splitmix64's finaliser, over Arrow's string bytes) in an open-addressing set compiled with numba, 8 bytes a
slot: 10 million accounts take 256 MiB at most.
Two different accounts with the same hash (about 3·10⁻⁶ for a book of 10 million accounts) would be reported as a
repeat — a refused book, never a wrong number.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]
from numba import njit

from margincall.calculator.book_parse import string_layout
from margincall.model.errors import MarginCallError


class UngroupedBook(MarginCallError):
    code = "book_not_grouped"


def _key_text(batch: pa.RecordBatch, name: str) -> pa.Array:
    col = batch.column(name)
    if not pa.types.is_string(col.type) and not pa.types.is_large_string(col.type):
        col = pc.cast(col, pa.string())
    return pc.fill_null(pc.utf8_trim_whitespace(col), "")


def account_runs(batch: pa.RecordBatch) -> tuple[np.ndarray, np.ndarray]:
    """Where each run of one account starts (row offsets, int64) and the run's key hash (uint64)."""
    key = pc.binary_join_element_wise(_key_text(batch, "account"), _key_text(batch, "venue"), "\x1f")
    n = len(key)
    if n == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.uint64)
    changed = pc.not_equal(key.slice(1), key.slice(0, n - 1)).to_numpy(zero_copy_only=False)
    starts = np.concatenate([[0], np.flatnonzero(changed) + 1]).astype(np.int64)
    return starts, _hash_strings(key.take(pa.array(starts)))


@njit(cache=True, nogil=True)
def _fnv1a(offsets: np.ndarray, data: np.ndarray, out: np.ndarray) -> None:
    """FNV-1a, 64-bit, of each string's bytes, then a final avalanche (splitmix64's) so that close keys spread."""
    for i in range(out.size):
        h = np.uint64(0xCBF29CE484222325)
        for p in range(offsets[i], offsets[i + 1]):
            h = (h ^ np.uint64(data[p])) * np.uint64(0x100000001B3)
        h ^= h >> np.uint64(30)
        h *= np.uint64(0xBF58476D1CE4E5B9)
        h ^= h >> np.uint64(27)
        h *= np.uint64(0x94D049BB133111EB)
        h ^= h >> np.uint64(31)
        out[i] = h


def _hash_strings(keys: pa.Array) -> np.ndarray:
    """A 64-bit hash of each key, from Arrow's string layout (no Python object per key)."""
    n = len(keys)
    out = np.empty(n, np.uint64)
    if n:
        offsets, data, _ = string_layout(keys)
        _fnv1a(offsets, data, out)
    return out


@njit(cache=True, nogil=True)
def _probe(table: np.ndarray, keys: np.ndarray, insert: bool) -> tuple[int, int]:
    """Index of the first key of ``keys`` already in ``table`` (or repeated within ``keys``), -1 if none; inserts
    the keys (up to that one) when ``insert``. Slot value 0 is empty, so key 0 is stored as 1."""
    mask = np.uint64(table.size - 1)
    one = np.uint64(1)
    added = 0
    for i in range(keys.size):
        k = keys[i] if keys[i] != 0 else one
        slot = k & mask
        while table[slot] != 0:
            if table[slot] == k:
                return i, added
            slot = (slot + one) & mask
        if insert:
            table[slot] = k
            added += 1
    return -1, added


class SeenAccounts:
    """The hashes of the accounts a stream has finished."""

    def __init__(self) -> None:
        self._table = np.zeros(1 << 16, np.uint64)
        self._count = 0

    def _grow(self, extra: int) -> None:
        if (self._count + extra) * 2 <= self._table.size:
            return
        size = self._table.size
        while (self._count + extra) * 2 > size:
            size *= 2
        old = self._table[self._table != 0]
        self._table = np.zeros(size, np.uint64)
        _probe(self._table, old, True)

    def first_repeat(self, keys: np.ndarray) -> int:
        """Index of the first of ``keys`` seen before or repeated among ``keys``, -1 if none. Nothing is kept."""
        if keys.size == 0:
            return -1
        own = np.zeros(1 << max(4, int(2 * keys.size - 1).bit_length()), np.uint64)
        i, _ = _probe(own, keys, True)  # a repeat within the chunk
        j, _ = _probe(self._table, keys, False)
        hits = [x for x in (i, j) if x >= 0]
        return min(hits) if hits else -1

    def add(self, keys: np.ndarray) -> None:
        self._grow(keys.size)
        _, added = _probe(self._table, keys, True)
        self._count += added


__all__ = ["SeenAccounts", "UngroupedBook", "account_runs"]

"""How the compiled batch kernels are compiled, and the error-free float arithmetic they use where a difference
cancels.

* :func:`kernel` / :func:`kernel_inline` / :func:`allocating`: numba's options for the kernels of
  :mod:`margincall.math.batch_kernels` and their callers.
* Double-double arithmetic (a value is ``hi + lo``, about 106 bits): Knuth's TwoSum and Dekker's TwoProduct with
  Veltkamp's split (Dekker 1971, "A floating-point technique for extending the available precision"). An equity
  ``wallet + Σ PnL`` (or ``margin + PnL``) that is a small fraction of its terms loses in plain float64 as many
  digits as that fraction has; summed in double-double, it is correct to ~1e-16 of the largest term, so its
  rounding to float64 keeps full precision (docs/venues.md §0: the margin ratio's denominator or numerator).

Plain IEEE arithmetic in round-to-nearest is required: no ``fastmath`` (it would let LLVM reassociate or fuse the
compensations away).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

import numpy as np
from numba import njit

_F = TypeVar("_F", bound=Callable[..., Any])

#: numba's options for a kernel that allocates nothing: reference counting off (``_nrt``), as with it every array
#: a call hands over costs an atomic increment and decrement — ~40 ns a call, most of a row's time. A function
#: such a kernel calls inherits ``_nrt=False`` unless it sets it.
_KERNEL: dict[str, Any] = {"cache": True, "_nrt": False}


def kernel(fn: _F) -> _F:
    """Compile ``fn`` as an allocation-free kernel (:data:`_KERNEL`)."""
    return cast(_F, njit(**_KERNEL)(fn))


def kernel_inline(fn: _F) -> _F:
    """:func:`kernel`, inlined into its callers in numba's IR (a loop's innermost arithmetic)."""
    return cast(_F, njit(inline="always", **_KERNEL)(fn))


def allocating(fn: _F) -> _F:
    """Compile ``fn`` with reference counting (it allocates), also when a :func:`kernel` calls it."""
    options: dict[str, Any] = {"cache": True, "_nrt": True}
    return cast(_F, njit(**options)(fn))


#: An equity smaller than its terms' magnitudes by more than this factor is recomputed from the inputs' decimals
#: (:func:`decimal_of`) in double-double: below it, plain float64 keeps a margin ratio within ~1e-14.
CANCELS = 16.0

#: Veltkamp's splitter for float64: 2^27 + 1.
_SPLIT = 134217729.0


@kernel_inline
def two_sum(a: float, b: float) -> tuple[float, float]:
    """``(s, e)`` with ``s = fl(a + b)`` and ``a + b = s + e`` exactly (Knuth)."""
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


@kernel_inline
def _fast_two_sum(a: float, b: float) -> tuple[float, float]:
    """:func:`two_sum` for ``|a| ≥ |b|`` (Dekker)."""
    s = a + b
    return s, b - (s - a)


@kernel_inline
def two_prod(a: float, b: float) -> tuple[float, float]:
    """``(p, e)`` with ``p = fl(a·b)`` and ``a·b = p + e`` exactly (Dekker, Veltkamp's split; no FMA needed)."""
    p = a * b
    c = _SPLIT * a
    ah = c - (c - a)
    al = a - ah
    c = _SPLIT * b
    bh = c - (c - b)
    bl = b - bh
    return p, ((ah * bh - p) + ah * bl + al * bh) + al * bl


@kernel_inline
def dd_add(ah: float, al: float, bh: float, bl: float) -> tuple[float, float]:
    """``(ah + al) + (bh + bl)`` in double-double."""
    s, e = two_sum(ah, bh)
    return _fast_two_sum(s, e + (al + bl))


@kernel_inline
def dd_mul(ah: float, al: float, bh: float, bl: float) -> tuple[float, float]:
    """``(ah + al)·(bh + bl)`` in double-double."""
    p, e = two_prod(ah, bh)
    return _fast_two_sum(p, e + (ah * bl + al * bh))


@kernel_inline
def dd_div(ah: float, al: float, bh: float, bl: float) -> tuple[float, float]:
    """``(ah + al)/(bh + bl)`` in double-double (one correction step of the quotient)."""
    q = ah / bh
    p, e = dd_mul(q, 0.0, bh, bl)
    r, f = dd_add(ah, al, -p, -e)
    return _fast_two_sum(q, (r + f) / bh)


@kernel_inline
def decimal_of(x: float) -> tuple[float, float]:
    """The decimal an amount typed in decimal was, in double-double: the one with the fewest (≤ 12) fractional
    digits whose nearest float64 is ``x`` (the number ``repr(x)`` prints); ``(x, 0)`` if none. A decimal of at
    most 15 significant digits is the only one that close to its float, so it comes back exactly.

    A float64 input is its decimal rounded (~1e-16 relative); a sum that cancels to a ``κ``-th of its terms
    multiplies that by ``κ``, which only the decimal itself avoids."""
    p = 1.0
    for _ in range(13):
        m = np.rint(x * p)
        if abs(m) < 9007199254740992.0 and m / p == x:  # m exact (< 2^53); m/p correctly rounded (IEEE)
            return dd_div(m, 0.0, p, 0.0)
        p *= 10.0
    return x, 0.0

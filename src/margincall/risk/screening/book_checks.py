"""Input checks and table facts for the screening book: a finite float or a clear error naming the field, array
growth, and the largest float discontinuity of a tier table at its floors."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from margincall.math.vector import TierArrays
from margincall.model.errors import InvalidNumber

F64 = npt.NDArray[np.float64]


def number(value: float, field: str, *, positive: bool = False, non_negative: bool = False) -> float:
    """A finite float (and > 0 or ≥ 0 when asked), else :class:`InvalidNumber` naming ``field``."""
    if isinstance(value, bool):
        raise InvalidNumber(f"{field}: expected a number, got a boolean", field=field)
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise InvalidNumber(f"{field}: {value!r} is not a number", field=field) from None
    if not math.isfinite(x):
        raise InvalidNumber(f"{field}: {value!r} is not a finite number", field=field)
    if positive and x <= 0.0:
        raise InvalidNumber(f"{field}: {value!r} must be positive", field=field)
    if non_negative and x < 0.0:
        raise InvalidNumber(f"{field}: {value!r} must not be negative", field=field)
    return x


def check_array(values: F64, field: str, *, positive: bool = False, non_negative: bool = False) -> None:
    bad = ~np.isfinite(values)
    if positive:
        bad |= values <= 0.0
    if non_negative:
        bad |= values < 0.0
    if bad.any():
        j = int(np.argmax(bad))
        raise InvalidNumber(f"{field}[{j}]: {values[j]!r} is not a valid value", field=field)


def grow(arr: npt.NDArray[np.generic], cap: int, fill: object) -> npt.NDArray[np.generic]:
    out = np.full(cap, fill, dtype=arr.dtype)
    out[: len(arr)] = arr
    return out


def table_jump(tiers: TierArrays, row: int) -> float:
    """Largest float gap between ``N·mmr_{k−1} − cum_{k−1}`` and ``N·mmr_k − cum_k`` at the floors ``N = F_k``.

    Exactly 0 for a continuous table (docs/venues.md §2.1) in exact arithmetic; in float a few ulps, or up to the
    1e-6 tolerance :class:`~margincall.model.tiers.TierTable` accepts on published amounts.
    """
    floors, mmr, amounts = tiers.floors[row], tiers.mmr[row], tiers.amounts[row]
    jump = 0.0
    for k in range(1, len(floors)):
        if not math.isfinite(floors[k]):
            break
        f = floors[k]
        jump = max(jump, abs((f * mmr[k] - amounts[k]) - (f * mmr[k - 1] - amounts[k - 1])))
    return jump

"""Checked price ticks: the one place raw feed input becomes ``Decimal`` prices and integer timestamps."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from margincall.model.errors import InvalidNumber
from margincall.model.numbers import MAX_MAGNITUDE, NumberLike, positive
from margincall.prices.errors import InvalidPrice, InvalidTimestamp


def checked_price(value: NumberLike, field: str = "price", max_price: Decimal = MAX_MAGNITUDE) -> Decimal:
    """A finite price > 0 and <= ``max_price``, else :class:`InvalidPrice` (code ``invalid_price``) naming ``field``."""
    try:
        price = positive(value, field)
    except InvalidNumber as exc:
        raise InvalidPrice(str(exc), field=field) from None
    if price > max_price:
        raise InvalidPrice(f"{field}: {price} is larger than the largest accepted price {max_price}", field=field)
    return price


def checked_ts(value: object, field: str = "ts") -> int:
    """Milliseconds since the epoch: a non-negative ``int`` (not a bool, not a float)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidTimestamp(
            f"{field}: expected integer milliseconds, got {type(value).__name__} {value!r}", field=field
        )
    if value < 0:
        raise InvalidTimestamp(f"{field}: must not be negative, got {value}", field=field)
    return value


@dataclass(frozen=True, slots=True)
class SourceTick:
    """One accepted price from one named source (a spot venue, an oracle, a CEX perp) for one symbol."""

    source: str
    symbol: str
    price: Decimal
    ts: int

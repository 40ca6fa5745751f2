"""Checked conversion of user input into ``Decimal``.

Money and prices are ``Decimal``. Input may come as strings, ints or (finite) floats; floats are
converted through ``repr`` so ``0.1`` becomes ``Decimal('0.1')``, not its binary expansion.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from margincall.model.errors import InvalidNumber

#: Largest magnitude accepted for any amount, price or size (1e18 covers every venue's notional cap).
MAX_MAGNITUDE = Decimal("1e18")
#: Most digits after the decimal point accepted in input (finer than any venue's smallest unit).
MAX_FRACTION_DIGITS = 18

ZERO = Decimal(0)
ONE = Decimal(1)

NumberLike = Decimal | int | float | str


def to_decimal(value: NumberLike, field: str = "value") -> Decimal:
    """Convert ``value`` to a finite ``Decimal`` or raise :class:`InvalidNumber` naming ``field``."""
    if isinstance(value, bool):
        raise InvalidNumber(f"{field}: expected a number, got a boolean", field=field)
    try:
        if isinstance(value, Decimal):
            d = value
        elif isinstance(value, float):
            d = Decimal(repr(value))
        elif isinstance(value, int | str):
            d = Decimal(value.strip() if isinstance(value, str) else value)
        else:
            raise InvalidNumber(f"{field}: expected a number, got {type(value).__name__}", field=field)
    except InvalidOperation:
        raise InvalidNumber(f"{field}: {value!r} is not a number", field=field) from None
    if not d.is_finite():
        raise InvalidNumber(f"{field}: {value!r} is not a finite number", field=field)
    if abs(d) > MAX_MAGNITUDE:
        raise InvalidNumber(f"{field}: {value!r} is larger than {MAX_MAGNITUDE:E}", field=field)
    exponent = d.as_tuple().exponent
    # Only text and floats come from outside; a Decimal is a computed value and may carry full precision.
    if (
        not isinstance(value, Decimal)
        and isinstance(exponent, int)
        and -exponent > MAX_FRACTION_DIGITS
        and d != d.quantize(Decimal(1).scaleb(-MAX_FRACTION_DIGITS))
    ):
        raise InvalidNumber(
            f"{field}: {value!r} has more than {MAX_FRACTION_DIGITS} digits after the decimal point",
            field=field,
        )
    return d


def positive(value: NumberLike, field: str) -> Decimal:
    """A finite number > 0."""
    d = to_decimal(value, field)
    if d <= 0:
        raise InvalidNumber(f"{field}: must be greater than zero, got {d}", field=field)
    return d


def non_negative(value: NumberLike, field: str) -> Decimal:
    """A finite number >= 0."""
    d = to_decimal(value, field)
    if d < 0:
        raise InvalidNumber(f"{field}: must not be negative, got {d}", field=field)
    return d

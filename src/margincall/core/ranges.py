"""The core's number ranges and the one conversion from an exact ``Decimal`` to a scaled integer.

Every amount the core holds is an ``int64`` at a fixed decimal scale (docs/architecture.md "Core"):

* money — wallets, isolated margins, the system books, deposits — in the ledger's smallest unit ``10^-u``
  (``u`` = 8 by default), ``|x| ≤ MAX_MONEY`` (2^62 units: 4.6e10 of the asset at 1e-8);
* a size at the market's size scale ``10^-sd`` (``sd`` = the lot size's decimal digits: whole lots when the lot
  is a power of ten), the contract size at ``10^-cd``, so a quantity ``size × contract_size`` is an integer at
  ``10^-(sd+cd)``;
* a price — mark, entry — at the market's price scale ``10^-pd`` with ``pd = u − sd − cd``: then
  ``quantity × price`` is a whole number of money units, so every uPnL and notional is an exact integer in the
  smallest unit (the tick must fit: ``pd`` ≥ the tick size's digits, or the market is refused);
* a maintenance-margin rate at ``10^-RATE_DIGITS`` (1e-8), a maintenance amount as whole units plus a fraction
  at ``10^-(u+RATE_DIGITS)``, so a tiered MM is an exact (whole, fraction) pair;
* band thresholds at ``10^-BAND_DIGITS``.

An account's gross notional ``Σ |quantity| × max(mark, entry)`` plus its base (wallet or isolated margin) must
stay within ``MAX_MONEY``: then no sum the core forms leaves int64 (the compiled pass checks it in float64 with a
margin of 2x and refuses the tick, naming the account). Within these ranges every product the Decimal reference
forms has at most 27 significant digits, so the reference's 28-digit context is exact and the two agree to the
unit. A value outside them is refused with :class:`CoreRangeError` naming the field, never wrapped or rounded.
"""

from __future__ import annotations

from decimal import Decimal

from margincall.model.errors import MarginCallError

#: Largest magnitude of any money amount in the smallest unit (2^62: every sum of two stays inside int64).
MAX_MONEY = 1 << 62
#: Digits of a maintenance-margin rate (1e-8; Binance, Bybit, OKX publish at most 4).
RATE_DIGITS = 8
RATE_ONE = 10**RATE_DIGITS
#: Digits of a margin-call band threshold (0.80, 0.75, …).
BAND_DIGITS = 4
#: Largest magnitude of a size or a price as an integer at its scale.
MAX_SCALED = 10**18


class CoreRangeError(MarginCallError):
    """A value the core cannot hold exactly: too many digits for its scale, or outside its range."""

    code = "core_range"


def decimal_digits(value: Decimal) -> int:
    """The number of digits after the decimal point of ``value`` written without trailing zeros."""
    exp = value.normalize().as_tuple().exponent
    assert isinstance(exp, int), value
    return max(0, -exp)


def scaled(value: Decimal, digits: int, field: str, limit: int = MAX_SCALED) -> int:
    """``value × 10^digits`` as an int: refused (naming ``field``) when ``value`` has more digits than the scale
    or the integer's magnitude is above ``limit``."""
    if not value.is_finite():
        raise CoreRangeError(f"{field}: {value} is not a finite number", field=field)
    n = value.scaleb(digits)
    i = int(n)
    if i != n:
        raise CoreRangeError(f"{field}: {value} has more digits than the core's scale 1e-{digits}", field=field)
    if abs(i) > limit:
        raise CoreRangeError(f"{field}: {value} is outside the core's range (|x| ≤ {Decimal(limit).scaleb(-digits)})",
                             field=field)
    return i


def unscaled(value: int, digits: int) -> Decimal:
    """The exact ``Decimal`` of an integer at scale ``10^-digits``."""
    return Decimal(value).scaleb(-digits)


def money_digits(unit: Decimal) -> int:
    """``u`` of a smallest unit ``10^-u`` (refused unless a power of ten not above 1)."""
    u = decimal_digits(unit)
    if unit <= 0 or Decimal(1).scaleb(-u) != unit:
        raise CoreRangeError(f"unit: {unit} is not a power of ten (1, 0.1, …, 1e-18)", field="unit")
    return u

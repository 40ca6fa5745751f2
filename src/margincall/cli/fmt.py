"""Numbers and times rounded for reading in the terminal faces (display only: ``--json`` keeps exact values).

Money goes to the settle asset's usual places (2 for USD stablecoins, 8 for coins), percentages to 2 places,
tick-rounded prices keep all their digits, and times are ISO 8601 in UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation, localcontext

#: Decimal places shown for money in a settle asset.
CASH_PLACES = {"USD": 2, "USDT": 2, "USDC": 2, "BUSD": 2, "FDUSD": 2, "USDE": 2}
COIN_PLACES = 8
CONVENTION_LABEL = {"mm_over_equity": "MM / equity", "equity_over_mm": "equity / MM"}


def places(text: str) -> int:
    exponent = Decimal(text).as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def fixed(value: Decimal, n: int) -> str:
    """``value`` half-up to ``n`` decimals with thousands separators (wide context: never overflows)."""
    with localcontext() as ctx:
        ctx.prec = 120
        return format(value.quantize(Decimal(1).scaleb(-n), rounding=ROUND_HALF_UP), f",.{n}f")


def asset_places(asset: str) -> int:
    return CASH_PLACES.get(asset.upper(), COIN_PLACES)


def money(value: str | None, asset: str, *, unit: bool = True) -> str:
    """An amount of ``asset`` to its usual places, with the asset's name unless ``unit=False``."""
    if value is None:
        return "—"
    shown = fixed(Decimal(value), asset_places(asset))
    return f"{shown} {asset}" if unit else shown


def percent(value: str | None, *, scale: int = 1) -> str:
    return "—" if value is None else f"{fixed(Decimal(value) * scale, 2)} %"


def price(value: str | None) -> str:
    """A tick-rounded price: all its digits, with separators."""
    return "—" if value is None else fixed(Decimal(value), places(value))


def unrounded(value: str | None, rounded: str | None) -> str:
    """The exact price to four decimals past the tick's, enough to see how the venue rounded it."""
    if value is None:
        return "—"
    return fixed(Decimal(value), (0 if rounded is None else places(rounded)) + 4)


def readable(value: object, *, max_places: int = 8) -> str:
    """Any logged number for reading: at most ``max_places`` decimals (trailing zeros dropped), separators;
    anything else as text."""
    try:
        d = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return str(value)
    if not d.is_finite():
        return str(value)
    n = min(places(format(d.normalize(), "f")), max_places)
    return fixed(d, n)


def iso_utc(ts_ms: int) -> str:
    """Epoch milliseconds as ISO 8601 UTC to the second, or to the millisecond when it has one."""
    when = datetime.fromtimestamp(ts_ms / 1000, tz=UTC)
    text = when.isoformat(timespec="milliseconds" if ts_ms % 1000 else "seconds")
    return text.replace("+00:00", "Z")

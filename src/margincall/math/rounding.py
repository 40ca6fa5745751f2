"""Rounding prices to the instrument tick the way each venue does (see ``PriceRounding``)."""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal

from margincall.model.enums import PriceRounding


def round_to_tick(price: Decimal, tick: Decimal, rounding: str) -> Decimal:
    """``price`` as a whole number of ticks, rounded with a ``decimal`` rounding mode."""
    return (price / tick).to_integral_value(rounding=rounding) * tick


def round_trigger_price(price: Decimal, tick: Decimal, sign: int, mode: PriceRounding) -> Decimal:
    """Round a liquidation or bankruptcy price of a position with direction ``sign``.

    ``venue_favour``: up for a long, down for a short — the venue liquidates no later than the exact
    price (Bybit V16: 7,735.3725 → 7,735.50). ``nearest``: half-up (Binance V1, V3).
    """
    if mode is PriceRounding.NEAREST:
        return round_to_tick(price, tick, ROUND_HALF_UP)
    return round_to_tick(price, tick, ROUND_CEILING if sign > 0 else ROUND_FLOOR)

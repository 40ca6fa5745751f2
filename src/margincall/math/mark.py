"""Mark-price building blocks (venues.md §3.6, §4.7).

``Price 1 = Index × (1 + last funding rate × time until funding / interval)`` — the 2019 Binance
mark price and today's first median input (V14: 10,000 × (1 + 0.03 % × 4/8) = 10,001.5).
"""

from __future__ import annotations

from decimal import Decimal

from margincall.model.numbers import ONE


def funding_basis_price(
    index: Decimal, funding_rate: Decimal, time_until_funding: Decimal, interval: Decimal
) -> Decimal:
    return index * (ONE + funding_rate * time_until_funding / interval)


def median3(a: Decimal, b: Decimal, c: Decimal) -> Decimal:
    """``median(Price 1, Price 2, last)`` (Binance, Bybit mark price)."""
    return sorted((a, b, c))[1]

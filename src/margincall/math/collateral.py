"""Collateral valuation with haircuts.

* Bitunix multi-asset mode: ``Σ amount × index × discount`` (V30: 0.1 BTC @ 10,000 × 0.9 + 1,000 USDT = 1,900).
* Drift v2 spot asset weight for large deposits: ``min(weight, 1.1 / (1 + imf_factor × √size))``
  (V29: 2,000 SOL, 0.80, 0.003 → 0.80).
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from margincall.model.numbers import ONE, ZERO


def discounted_collateral(holdings: Iterable[tuple[Decimal, Decimal, Decimal]]) -> Decimal:
    """``Σ amount × price × discount`` over ``(amount, price, discount)``."""
    return sum((amount * price * discount for amount, price, discount in holdings), ZERO)


def drift_asset_weight(weight: Decimal, imf_factor: Decimal, size: Decimal) -> Decimal:
    return min(weight, Decimal("1.1") / (ONE + imf_factor * size.sqrt()))

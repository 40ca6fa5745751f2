"""Hyperliquid margin rules (hyperliquid.gitbook.io trading/margining, margin-tiers, liquidations; docs/venues.md §7).

* ``MMR = 1 / (2 × max leverage)`` of the tier: maintenance margin is half the initial margin at the
  asset's max leverage; ``MM = notional × MMR − maintenance_deduction``.
* Liquidation price: ``liq = price − side × margin_available / position_size / (1 − l × side)``,
  ``l = MMR``, ``margin_available = account_value − maintenance_margin_required`` (cross) or
  ``isolated_margin − maintenance_margin_required`` (isolated).
"""

from __future__ import annotations

from decimal import Decimal

from margincall.model.numbers import ONE


def hyperliquid_mmr(max_leverage: Decimal) -> Decimal:
    """``MMR = 1 / (2 × max leverage)``: 50x → 1 %, 40x → 1.25 %, 3x → 16.7 % (docs/venues.md §7, V27)."""
    return ONE / (2 * max_leverage)


def hyperliquid_liquidation_price(
    price: Decimal, sign: int, size: Decimal, margin_available: Decimal, mmr: Decimal
) -> Decimal | None:
    """Hyperliquid's published formula; ``None`` when it gives no positive price."""
    liq = price - sign * margin_available / size / (ONE - mmr * sign)
    return liq if liq > 0 else None

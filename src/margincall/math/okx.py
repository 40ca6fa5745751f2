"""OKX liquidation price (okx.com/help/v-tiered-maintenance-margin-ratio-rules; docs/venues.md §5).

Margin ratio ``(margin balance + UPL) / (face value × |contracts| × mark × (tier MMR + fee rate))``
(USDT-margined; coin-margined divides by mark instead), liquidation at ≤ 100 %. The tier is chosen by
number of contracts and applies to the whole position (no deduction), so it does not move with price.
The liquidation price is the mark at which the ratio is exactly 100 %:

* linear: ``M + s·Q·(P − EP) = Q·P·(MMR + fee)`` → ``P = (s·Q·EP − M) / (Q·(s − MMR − fee))``
* inverse: ``M + s·Q·(1/EP − 1/P) = Q/P·(MMR + fee)`` → ``P = Q·(s + MMR + fee) / (M + s·Q/EP)``

``M`` is the isolated margin, or for cross the currency balance net of every other requirement.
"""

from __future__ import annotations

from decimal import Decimal

from margincall.model.enums import ContractKind


def okx_liquidation_price(
    kind: ContractKind, sign: int, qty: Decimal, entry: Decimal, margin: Decimal, mmr: Decimal, fee_rate: Decimal
) -> Decimal | None:
    """OKX whole-position-tier liquidation price; ``None`` when no positive price exists."""
    if kind is ContractKind.LINEAR:
        den = qty * (sign - mmr - fee_rate)
        if den == 0:
            return None
        p = (sign * qty * entry - margin) / den
    else:
        den = margin + sign * qty / entry
        if den <= 0:
            return None
        p = qty * (sign + mmr + fee_rate) / den
    return p if p > 0 else None


def okx_legacy_margin_ratio(fixed_margin: Decimal, unrealized_pnl: Decimal, position_value: Decimal) -> Decimal:
    """2020 fixed-margin ratio ``(fixed margin + UPL) / position value``; liquidation below MMR + fee (V25)."""
    return (fixed_margin + unrealized_pnl) / position_value

"""dYdX v4 liquidation and bankruptcy prices (v4-documentation concepts/trading/liquidations.mdx; docs/venues.md §8).

* ``MMR = |S·P·MMF|`` per position (oracle price), liquidatable when equity (TNC) < total MMR.
* Isolated: ``p' = (e − s·p) / (|s|·MMF − s)``; cross: ``p' = (e − s·p − MMR_o) / (|s|·MMF − s)``,
  ``e`` = account equity at price ``p``, ``s`` = signed size, ``MMR_o`` = other positions' MMR.
* Bankruptcy price of a full close: ``P − TNC/S`` (derived from the code's ``−DNNV − TNC·|DMMR|/TMMR``).
"""

from __future__ import annotations

from decimal import Decimal

from margincall.model.numbers import ZERO


def dydx_liquidation_price(
    equity: Decimal, signed_size: Decimal, price: Decimal, mmf: Decimal, other_mmr: Decimal = ZERO
) -> Decimal | None:
    """``p' = (e − s·p − MMR_o) / (|s|·MMF − s)``; ``None`` when no positive price exists."""
    den = abs(signed_size) * mmf - signed_size
    if den == 0:
        return None
    p = (equity - signed_size * price - other_mmr) / den
    return p if p > 0 else None


def dydx_fillable_price(
    oracle: Decimal,
    sign: int,
    mmf: Decimal,
    equity: Decimal,
    total_mmr: Decimal,
    spread_to_mmr: Decimal = Decimal("1.5"),
    bankruptcy_adjustment: Decimal = Decimal(1),
) -> Decimal:
    """``Fillable = P × (1 − s·(SMMR × MMF) × (BA × (1 − Q)))``, ``Q = equity / TMMR`` (docs form, §8).

    V21: oracle 0.801, MMF 3 %, equity 0.50, TMMR 12.015 → 0.76645. ``1 − Q`` is clamped to [0, 1] as the
    code's ``ABR = clamp(BA × (1 − TNC/TMMR), 0, 1)`` does.
    """
    adjustment = min(max(bankruptcy_adjustment * (1 - equity / total_mmr), Decimal(0)), Decimal(1))
    return oracle * (1 - sign * spread_to_mmr * mmf * adjustment)

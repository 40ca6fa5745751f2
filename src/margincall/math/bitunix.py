"""Bitunix tiered maintenance margin and liquidation price (support.bitunix.com article 78,
product update 2024-03-04; docs/venues.md §6).

* ``Maintenance Margin = Open Price × Size × MMR`` — valued at the open price, so it does not move
  with the mark; MMR from the contract's tier table by position value.
* Cross margin rate = total cross margin / Σ MM; the total cross margin deducts estimated
  liquidation fees. The cross liquidation price allocates the total cross margin to positions in
  proportion to their MM and treats each as isolated with that margin.
* Liquidation when the position's margin plus PnL equals its MM plus the estimated liquidation fee
  (taker fee on the open value; zero when no fee is given):
  linear ``EP − s·(M − MM − fee)/Q``; inverse ``1 / (1/EP + s·(M − MM − fee)/Q)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from margincall.model.enums import ContractKind
from margincall.model.numbers import ONE, ZERO


def bitunix_maintenance_margin(open_value: Decimal, mmr: Decimal) -> Decimal:
    """``Open Price × Size × MMR`` (``open_value`` = open price × size, or Q/EP in coin for inverse)."""
    return open_value * mmr


def bitunix_liquidation_price(
    kind: ContractKind,
    sign: int,
    qty: Decimal,
    entry: Decimal,
    margin: Decimal,
    maintenance: Decimal,
    liquidation_fee: Decimal = ZERO,
) -> Decimal | None:
    """Price at which ``margin + PnL = MM + estimated liquidation fee``; ``None`` if not positive."""
    buffer = margin - maintenance - liquidation_fee
    if kind is ContractKind.LINEAR:
        p = entry - sign * buffer / qty
    else:
        inv = ONE / entry + sign * buffer / qty
        if inv <= 0:
            return None
        p = ONE / inv
    return p if p > 0 else None


def allocate_cross_margin(total_cross_margin: Decimal, maintenances: Sequence[Decimal]) -> list[Decimal]:
    """Split the total cross margin over positions in proportion to their MM (Bitunix 2024-03-04)."""
    total = sum(maintenances, ZERO)
    if total <= 0:
        return [ZERO for _ in maintenances]
    return [total_cross_margin * mm / total for mm in maintenances]

"""Position sizing and distance helpers for traders."""

from __future__ import annotations

from decimal import ROUND_FLOOR, Decimal
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from margincall.model.enums import ContractKind, TierBasis
from margincall.model.errors import LeverageTooHigh
from margincall.model.numbers import ONE, ZERO
from margincall.model.tiers import TierTable


def max_position_size(
    kind: ContractKind,
    tiers: TierTable,
    balance: Decimal,
    leverage: Decimal,
    price: Decimal,
    contract_size: Decimal = ONE,
    lot_size: Decimal | None = None,
    fee_rate: Decimal = ZERO,
) -> Decimal:
    """Largest size in contracts that ``balance`` opens at ``leverage`` and ``price`` within tier limits.

    Margin: ``notional / L + notional × fee_rate ≤ balance`` (IM = notional / leverage, docs/venues.md §2.1;
    the opening fee when given). Tier limit: the chosen leverage must not exceed the max leverage of the
    tier the position falls in, so the notional may not pass the cap of the last tier that still allows
    ``leverage``. Rounded down to ``lot_size``.
    """
    allowed = [t for t in tiers.tiers if t.max_leverage >= leverage]
    if not allowed:
        raise LeverageTooHigh(f"leverage {leverage} is above the table's maximum {tiers.max_leverage}")
    # Tiers allow less leverage as they grow; the last tier that allows it bounds the position.
    last = max(allowed, key=lambda t: t.floor)
    by_margin = balance / (ONE / leverage + fee_rate)  # notional in the settle asset
    qty_by_margin = by_margin * price if kind is ContractKind.INVERSE else by_margin / price
    contracts = qty_by_margin / contract_size
    if last.cap is not None:
        if tiers.basis is TierBasis.CONTRACTS:
            cap_contracts = last.cap
        else:
            cap_qty = last.cap * price if kind is ContractKind.INVERSE else last.cap / price
            cap_contracts = cap_qty / contract_size
        contracts = min(contracts, cap_contracts)
    contracts = max(contracts, ZERO)
    if lot_size is not None:
        contracts = (contracts / lot_size).to_integral_value(rounding=ROUND_FLOOR) * lot_size
    return contracts


#: The distance is one expression over exact Decimals or float64 arrays (the float twin a book's compiled
#: evaluator screens with, confirmed against the Decimal value near every rounding boundary).
Amount = TypeVar("Amount", Decimal, npt.NDArray[np.float64])


def distance_to_liquidation_pct(mark: Amount, liquidation_price: Amount, sign: int | Amount) -> Amount:
    """How far the mark may move against the position before liquidation, in % of the mark.

    Positive while safe; negative once the mark is past the liquidation price.
    """
    return (mark - liquidation_price) * sign / mark * 100

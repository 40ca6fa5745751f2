"""Binance's published liquidation-price formulas, literally, with bracket iteration.

USDⓈ-M: "How to Calculate Liquidation Price of USDⓈ-M Futures Contracts"
(binance.com/en/support/faq/b3c689c1f50a44cabb3a84e663b81d93), docs/venues.md §3.3::

            WB − TMM1 + UPNL1 + cumB + cumL + cumS − Side1BOTH·Position1BOTH·EP1BOTH
                − Position1LONG·EP1LONG + Position1SHORT·EP1SHORT
    LP1 = ────────────────────────────────────────────────────────────────────────────
            Position1BOTH·MMR_B + Position1LONG·MMR_L + Position1SHORT·MMR_S
                − Side1BOTH·Position1BOTH − Position1LONG + Position1SHORT

COIN-M (binance.com/en/support/faq/ceccfcfb4e3a45e3b48b0b1bb1a8ae46), docs/venues.md §3.4, sizes in USD::

         Position_B·MMR_B + Position_L·MMR_L + Position_S·MMR_S + Side_B·Position_B + Position_L − Position_S
    LP = ──────────────────────────────────────────────────────────────────────────────────────────────────────
         (WB − TMM1 + UPNL1 + cumB + cumL + cumS) + Side_B·Position_B/EP_B + Position_L/EP_L − Position_S/EP_S

"Bracket consistency": MMR and cum must be those of the bracket the leg's notional falls into at the
liquidation price; we recompute with the brackets at LP until they no longer change.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from itertools import product

from margincall.math.contracts import notional_of
from margincall.model.enums import ContractKind, PositionSide
from margincall.model.numbers import ZERO
from margincall.model.tiers import TierTable


@dataclass(frozen=True, slots=True)
class BinanceLeg:
    """One of the B/L/S positions of the symbol: ``position_side`` BOTH (with ``side`` ±1), LONG or SHORT."""

    position_side: PositionSide
    side: int
    qty: Decimal
    entry_price: Decimal
    tiers: TierTable


def _usdm(wb_prime: Decimal, legs: Sequence[BinanceLeg], rates: Sequence[tuple[Decimal, Decimal]]) -> Decimal | None:
    num = wb_prime
    den = ZERO
    for leg, (mmr, cum) in zip(legs, rates, strict=True):
        num += cum
        den += leg.qty * mmr
        if leg.position_side is PositionSide.BOTH:
            num -= leg.side * leg.qty * leg.entry_price
            den -= leg.side * leg.qty
        elif leg.position_side is PositionSide.LONG:
            num -= leg.qty * leg.entry_price
            den -= leg.qty
        else:
            num += leg.qty * leg.entry_price
            den += leg.qty
    return None if den == 0 else num / den


def _coinm(wb_prime: Decimal, legs: Sequence[BinanceLeg], rates: Sequence[tuple[Decimal, Decimal]]) -> Decimal | None:
    num = ZERO
    den = wb_prime
    for leg, (mmr, cum) in zip(legs, rates, strict=True):
        den += cum
        num += leg.qty * mmr
        if leg.position_side is PositionSide.BOTH:
            num += leg.side * leg.qty
            den += leg.side * leg.qty / leg.entry_price
        elif leg.position_side is PositionSide.LONG:
            num += leg.qty
            den += leg.qty / leg.entry_price
        else:
            num -= leg.qty
            den -= leg.qty / leg.entry_price
    return None if den == 0 else num / den


def binance_liquidation_price(
    kind: ContractKind,
    wallet_balance: Decimal,
    legs: Sequence[BinanceLeg],
    mark: Decimal,
    other_maintenance: Decimal = ZERO,
    other_unrealized_pnl: Decimal = ZERO,
) -> Decimal | None:
    """LP1 for the symbol's legs, ``WB − TMM1 + UPNL1`` from the arguments (TMM1 = UPNL1 = 0 isolated).

    Returns ``None`` when the formula has no positive solution (Binance shows "--": LP < 0, or a 1x
    long that cannot be liquidated). Brackets are re-selected at the candidate price until stable.
    """
    formula = _usdm if kind is ContractKind.LINEAR else _coinm
    wb_prime = wallet_balance - other_maintenance + other_unrealized_pnl

    def brackets_at(price: Decimal) -> tuple[int, ...]:
        return tuple(leg.tiers.index_for(notional_of(kind, leg.qty, price)) for leg in legs)

    def candidate(idx: tuple[int, ...]) -> Decimal | None:
        rates = [
            (leg.tiers.tiers[i].mmr, leg.tiers.tiers[i].maintenance_amount) for leg, i in zip(legs, idx, strict=True)
        ]
        return formula(wb_prime, legs, rates)

    # Binance's rule: start from the brackets at the mark, recompute with the brackets at LP until stable.
    idx = brackets_at(mark)
    seen: set[tuple[int, ...]] = set()
    while idx not in seen:
        seen.add(idx)
        price = candidate(idx)
        if price is None or price <= 0:
            break
        nxt = brackets_at(price)
        if nxt == idx:
            return price
        idx = nxt
    # Not settled (the root lies in a bracket the iteration does not reach, or it cycles): the answer is
    # the bracket combination whose candidate falls in those same brackets, nearest the mark.
    consistent = [
        p
        for combo in product(*(range(len(leg.tiers.tiers)) for leg in legs))
        if (p := candidate(combo)) is not None and p > 0 and brackets_at(p) == combo
    ]
    return min(consistent, key=lambda p: abs(p - mark)) if consistent else None

"""Bybit's published liquidation-price formulas (docs/venues.md §4.2–4.5).

Three forms, chosen by the venue profile:

* ``legacy`` (2020–21, help.bybit.com …/900000181046): ``LP_long = EP·(1 − IMR + MMR) − extra/Q``,
  ``LP_short = EP·(1 + IMR − MMR) + extra/Q``; inverse: the 2024 form below.
* ``2024`` (help-centre "Liquidation Price (USDT Contract)" and the 2024 UTA inverse page):
  linear ``LP_long = EP − (IM − MM)/Q − extra/Q``, ``LP_short = EP + (IM − MM)/Q + extra/Q`` with
  ``IM = Q·EP/L``, ``MM = Q·EP·MMR − MMD`` (MM valued at entry); inverse
  ``LP_long = Q/[PV + (IM − MM) + extra]``, ``LP_short = Q/[PV − (IM − MM) − extra]``, ``PV = Q/EP``.
* ``2026`` (UTA with fees): linear ``LP_long = [EP·Q − EP·Q/L − extra/(1 − fee) − MMD] / [Q − Q·MMR]``,
  ``LP_short = [EP·Q + EP·Q/L + extra/(1 + fee) + MMD] / [Q + Q·MMR]``; inverse
  ``LP_long = Q·(MMR + 1)/[Q/EP + Q/EP/L + extra/(1 + fee) + MMD]``,
  ``LP_short = Q·(1 − MMR)/[Q/EP − Q/EP/L − extra/(1 − fee) − MMD]``.

Tiers are chosen by position value at entry (Bybit's risk limit is on position value).

The classic (pre-UTA) inverse cross form, part of ``legacy`` (docs/venues.md §4.4), puts the taker fee to
close into the bankruptcy price and the liquidation equation: see :func:`bybit_inverse_cross_classic`.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

from margincall.model.enums import ContractKind
from margincall.model.numbers import ONE, ZERO


class BybitForm(StrEnum):
    LEGACY = "legacy"
    Y2024 = "2024"
    Y2026 = "2026"


def bybit_isolated_liquidation_price(
    form: BybitForm,
    kind: ContractKind,
    sign: int,
    qty: Decimal,
    entry: Decimal,
    leverage: Decimal,
    mmr: Decimal,
    mm_deduction: Decimal = ZERO,
    extra_margin: Decimal = ZERO,
    taker_fee: Decimal = ZERO,
) -> Decimal | None:
    """Bybit isolated LP per ``form``; ``None`` when the formula gives no positive price."""
    imr = ONE / leverage
    long = sign > 0
    if kind is ContractKind.LINEAR:
        if form is BybitForm.LEGACY:
            lp = (
                entry * (ONE - imr + mmr) - extra_margin / qty
                if long
                else entry * (ONE + imr - mmr) + extra_margin / qty
            )
        elif form is BybitForm.Y2024:
            im = qty * entry * imr
            mm = qty * entry * mmr - mm_deduction
            step = (im - mm) / qty + extra_margin / qty
            lp = entry - step if long else entry + step
        else:
            if long:
                lp = (entry * qty - entry * qty * imr - extra_margin / (ONE - taker_fee) - mm_deduction) / (
                    qty - qty * mmr
                )
            else:
                lp = (entry * qty + entry * qty * imr + extra_margin / (ONE + taker_fee) + mm_deduction) / (
                    qty + qty * mmr
                )
    else:
        pv = qty / entry
        if form is BybitForm.Y2026:
            if long:
                den = pv + pv * imr + extra_margin / (ONE + taker_fee) + mm_deduction
                num = qty * (mmr + ONE)
            else:
                den = pv - pv * imr - extra_margin / (ONE - taker_fee) - mm_deduction
                num = qty * (ONE - mmr)
        else:
            im = pv * imr
            mm = pv * mmr - mm_deduction
            den = pv + (im - mm) + extra_margin if long else pv - (im - mm) - extra_margin
            num = qty
        if den <= 0:
            return None
        lp = num / den
    return lp if lp > 0 else None


def bybit_inverse_cross_classic(
    sign: int,
    qty_usd: Decimal,
    entry: Decimal,
    available: Decimal,
    mmr: Decimal,
    mm_deduction: Decimal = ZERO,
    taker_fee: Decimal = ZERO,
) -> tuple[Decimal | None, Decimal | None]:
    """Classic inverse cross: ``(liquidation price, bankruptcy price)`` of one position (docs/venues.md §4.4).

    ``available`` is the coin wallet less order margin (``AccountBalance − OrderMargin``). Bybit's
    help-centre rule (help.bybit.com …/360039261334): the position is liquidated when its loss uses up
    the available balance less the maintenance margin at entry value and the taker fee to close at the
    bankruptcy price, and is bankrupt when the loss uses up the available balance less that fee::

        BP_long  = (1 + fee)·Q / (Q/EP + available)          BP_short = (1 − fee)·Q / (Q/EP − available)
        MM = (Q/EP)·MMR − MMD        closing fee = Q·fee/BP
        LP_long  = Q / (Q/EP + (available − MM − closing fee))
        LP_short = Q / (Q/EP − (available − MM − closing fee))

    (Long: ``Q·(1/LP − 1/EP) = available − MM − Q·fee/BP``; the short mirrors it.) A price whose
    denominator is not positive does not exist (``None``); without a bankruptcy price the liquidation
    price is not defined either.
    """
    pv = qty_usd / entry
    den = pv + available if sign > 0 else pv - available
    if den <= 0:
        return None, None
    bankruptcy = (ONE + sign * taker_fee) * qty_usd / den
    cushion = available - (pv * mmr - mm_deduction) - qty_usd * taker_fee / bankruptcy
    den = pv + cushion if sign > 0 else pv - cushion
    return (qty_usd / den if den > 0 else None), bankruptcy

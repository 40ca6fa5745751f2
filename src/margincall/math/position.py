"""Position- and account-level quantities built from the formulas in this package.

These are the venue-neutral ("generic") forms: MM valued at the mark with the tier re-selected at
each price, equity = wallet (or isolated margin) + unrealized PnL at the mark (docs/venues.md §3.2).
Venue-specific variants live in their own modules and are chosen by ``margincall.venues``.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from margincall.math.contracts import notional, quantity, unrealized_pnl
from margincall.math.margin import initial_margin, maintenance_margin
from margincall.math.solver import Leg, PriceSolution, solve_price
from margincall.model.holding import Holding
from margincall.model.numbers import ZERO


def holding_notional(h: Holding, price: Decimal | None = None) -> Decimal:
    return notional(h.instrument, h.position.size, h.mark if price is None else price)


def holding_pnl(h: Holding, price: Decimal | None = None) -> Decimal:
    p = h.position
    if price is not None:
        return unrealized_pnl(h.instrument, p.side, p.size, p.entry_price, price)
    key = ("pnl", ZERO)
    at_mark = h.at_mark.get(key)
    if at_mark is None:
        at_mark = h.at_mark[key] = unrealized_pnl(h.instrument, p.side, p.size, p.entry_price, h.mark)
    return at_mark


def holding_initial_margin(h: Holding, price: Decimal | None = None) -> Decimal:
    """IM at ``price`` (default the entry price: the margin locked when the position was opened)."""
    return initial_margin(holding_notional(h, h.position.entry_price if price is None else price), h.position.leverage)


def holding_maintenance(h: Holding, price: Decimal | None = None, fee_rate: Decimal = ZERO) -> Decimal:
    """Tiered MM at ``price`` (default the mark, computed once per holding and fee rate), tier re-selected at
    that price."""
    inst = h.instrument
    if price is not None:
        return maintenance_margin(h.tiers, inst.kind, quantity(inst, h.position.size), price, inst.contract_size,
                                  fee_rate)
    key = ("mm", fee_rate)
    at_mark = h.at_mark.get(key)
    if at_mark is None:
        at_mark = h.at_mark[key] = maintenance_margin(h.tiers, inst.kind, quantity(inst, h.position.size), h.mark,
                                                      inst.contract_size, fee_rate)
    return at_mark


def isolated_margin(h: Holding) -> Decimal:
    """The isolated position's whole margin: given, or IM at entry plus any extra margin added."""
    p = h.position
    if p.isolated_margin is not None:
        return p.isolated_margin
    return holding_initial_margin(h) + p.extra_margin


def leg(h: Holding, *, maintenance: bool = True, fee_rate: Decimal = ZERO) -> Leg:
    p, inst = h.position, h.instrument
    return Leg(
        kind=inst.kind,
        sign=p.sign,
        qty=quantity(inst, p.size),
        entry_price=p.entry_price,
        tiers=h.tiers if maintenance else None,
        contract_size=inst.contract_size,
        fee_rate=fee_rate,
    )


def isolated_solution(
    h: Holding,
    *,
    margin: Decimal | None = None,
    maintenance: bool = True,
    fee_rate: Decimal = ZERO,
    extra_requirement: Decimal = ZERO,
) -> PriceSolution:
    """Generic isolated liquidation (``maintenance=True``) or bankruptcy price of one position."""
    m = isolated_margin(h) if margin is None else margin
    return solve_price([leg(h, maintenance=maintenance, fee_rate=fee_rate)], m - extra_requirement, h.mark)


def cross_solution(
    wallet: Decimal,
    holdings: Sequence[Holding],
    symbol: str,
    *,
    maintenance: bool = True,
    fee_rate: Decimal = ZERO,
    extra_requirement: Decimal = ZERO,
) -> PriceSolution:
    """Generic cross solver: price of ``symbol`` at which account equity = total MM, other marks fixed.

    ``holdings`` are the account's cross positions in one settle asset. ``fee_rate`` adds a
    notional-proportional requirement to every position (OKX liquidation fee); ``extra_requirement``
    is a constant one (Bybit UTA estimated fee to close).
    """
    legs = [leg(h, maintenance=maintenance, fee_rate=fee_rate) for h in holdings if h.position.symbol == symbol]
    if not legs:
        raise ValueError(f"no cross position in {symbol}")
    constant = wallet - extra_requirement
    for h in holdings:
        if h.position.symbol != symbol:
            constant += holding_pnl(h)
            if maintenance:
                constant -= holding_maintenance(h, fee_rate=fee_rate)
    mark = next(h.mark for h in holdings if h.position.symbol == symbol)
    return solve_price(legs, constant, mark)
